"""Property-based tests of the whole HTTP surface, driven by the app's own OpenAPI document.

Schemathesis reads the OpenAPI document of the app under test when this module is collected, so every
route the app has — including ones added later — gets a test item per backend without touching this
file. For each operation it generates valid *and* malformed requests (its examples, coverage and
fuzzing phases, in positive and negative mode: wrong types, out-of-range numbers, missing or extra
parameters, unexpected methods, broken bodies), sends them to the app in-process on the test's own
database transaction (the small dump loaded, everything rolled back afterwards), and checks every
response against the document: no 5xx, a documented status code, the documented content type and
headers, and a body that matches the documented schema.

Requests go through httpx's ``ASGITransport`` on the event loop that owns the test's database
connection (asyncpg and aiosqlite connections are tied to the loop that opened them), not through
schemathesis's own ASGI client, which runs the app on an event loop in a thread of its own.

Writes are sent with a ``write``-scope API token created inside the test's transaction, so write routes
are exercised past the 401. Generation is seeded and derandomized: a failure found once is found
again on every run, and its report carries a ``curl`` line that reproduces it.
"""

import asyncio
import importlib
import re
import zlib
from collections.abc import AsyncIterator, Coroutine
from typing import Any, TypeVar

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pkgindex.config import Settings
from pkgindex.db import unit_of_work
from pkgindex.main import create_app
from tests.conftest import NO_RESPONSE_CACHE

T = TypeVar("T")

BASE_URL = "http://pkgindex.test"
# Fixed, so every run and every machine generates the same requests.
SEED = 20260601
# Per operation and phase; the coverage phase adds its own deterministic boundary cases on top.
MAX_EXAMPLES = 30

# Values random generation rarely hits but that break databases, full-text engines and parsers: NUL
# (PostgreSQL text refuses it), quotes and wildcards (SQL LIKE, FTS query syntax), numbers beyond int64,
# whitespace-only and non-ASCII text. The hooks below put them into path and query parameters.
HOSTILE_STRINGS = [
    "\x00",
    "a\x00b",
    " ",
    "'",
    '"',
    "%_",
    "\\",
    "*",
    "NEAR(a b) OR c",
    "99999999999999999999",
    "1e309",
    "\u00e9t\u00e9 \u05e9\u05dc\u05d5\u05dd \U0001f600",
]

CONFIG: dict[str, Any] = {
    "seed": SEED,
    "generation": {
        # Valid and malformed inputs alike.
        "mode": "all",
        "max-examples": MAX_EXAMPLES,
        "deterministic": True,
        # No `.hypothesis/` example database: a run depends on the seed and the code, nothing else.
        "database": "none",
    },
    "checks": {
        # What the document promises about each response. The other built-in checks either re-send
        # requests through schemathesis's own transport (which cannot reach this test's transaction)
        # or judge API design (e.g. that every schema-invalid input is rejected) rather than conformance.
        "enabled": False,
        "not_a_server_error": {"enabled": True},
        "status_code_conformance": {"enabled": True},
        "content_type_conformance": {"enabled": True},
        "response_schema_conformance": {"enabled": True},
        "response_headers_conformance": {"enabled": True},
    },
    "phases": {
        "examples": {"enabled": True},
        # Boundary values and malformed inputs for every parameter and body, and unexpected methods.
        "coverage": {"enabled": True},
        "fuzzing": {"enabled": True},
        # Link-following sequences run through schemathesis's own transport; see the module docstring.
        "stateful": {"enabled": False},
    },
}

# Ids and slugs of the loaded rows, by collection path segment; filled in by the ``api`` fixture.
# Random path parameters almost never name an existing row, so without them a detail route would
# only ever answer 404 and its 200 body would go unchecked.
KNOWN_REFS: dict[str, list[str]] = {}
COLLECTION_OF_QUERY = {"category": "categories", "grid": "grids", "package": "packages"}


def load_schema() -> schemathesis.BaseSchema:
    """The app's own OpenAPI document (what ``/openapi.json`` serves; building it needs no database)."""
    app = create_app(Settings(database_url="sqlite+aiosqlite://"))
    return schemathesis.openapi.from_dict(app.openapi(), config=schemathesis.Config.from_dict(CONFIG))


schema = load_schema()


def _collection_before(path: str, name: str) -> str | None:
    match = re.search(r"/([^/{}]+)/\{" + re.escape(name) + r"\}", path)
    return match.group(1) if match else None


def _sometimes_replaced(
    values: dict[str, Any] | None, candidates: dict[str, list[str]]
) -> st.SearchStrategy[dict[str, Any] | None]:
    """``values`` as generated, or with one entry replaced by one of its candidates."""
    options: list[st.SearchStrategy[dict[str, Any] | None]] = [st.just(values)]
    for name, choices in candidates.items():
        if choices:
            options.append(
                st.builds(
                    lambda name, value: {**(values or {}), name: value},
                    st.just(name),
                    st.sampled_from(choices),
                )
            )
    return st.one_of(options)


@schema.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    path = context.operation.path if context.operation is not None else ""
    candidates: dict[str, list[str]] = {}
    for name in path_parameters or {}:
        collection = _collection_before(path, name)
        known = KNOWN_REFS.get(collection, []) if collection else []
        # Mostly rows that exist, so detail routes get past 404; sometimes a hostile ref.
        candidates[name] = known * 2 + HOSTILE_STRINGS if known else HOSTILE_STRINGS
    return _sometimes_replaced(path_parameters, candidates)


@schema.hook
def flatmap_query(
    context: schemathesis.HookContext, query: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    candidates: dict[str, list[str]] = {}
    for name, value in (query or {}).items():
        if name in COLLECTION_OF_QUERY:
            candidates[name] = KNOWN_REFS.get(COLLECTION_OF_QUERY[name], []) + HOSTILE_STRINGS
        elif isinstance(value, str):
            candidates[name] = HOSTILE_STRINGS
    return _sometimes_replaced(query, candidates)


class ApiDriver:
    """Sends schemathesis cases to one in-process app, on the loop the test's database lives on."""

    def __init__(self, loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient, token: str | None) -> None:
        self.loop = loop
        self.client = client
        self.token = token

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        # The test body is synchronous (hypothesis drives it), so the fixtures' loop is idle here.
        return self.loop.run_until_complete(coro)

    def send(self, case: schemathesis.Case[Any]) -> httpx.Response:
        # schemathesis serializes the case as it would put it on the wire (query encoding, JSON or
        # raw bodies, odd headers); `requests` renders that to bytes, which httpx sends unchanged.
        kwargs = case.as_transport_kwargs(base_url=BASE_URL)
        self.authorize(case, kwargs["headers"])
        prepared = requests.Request(**kwargs).prepare()
        assert prepared.method is not None
        assert prepared.url is not None
        request = self.client.build_request(
            prepared.method,
            prepared.url,
            headers=[(name.encode("latin-1"), _wire(value)) for name, value in prepared.headers.items()],
            content=_wire(prepared.body) if prepared.body is not None else None,
        )
        try:
            return self.run(self.client.send(request))
        except Exception as exc:
            # The app raised instead of answering (a 500 in production): name the request that did it.
            exc.add_note(f"Reproduce with:\n\n    {case.as_curl_command(base_url=BASE_URL)}\n")
            raise

    def authorize(self, case: schemathesis.Case[Any], headers: dict[str, Any]) -> None:
        """On an operation that needs a token, send the valid ``write`` token in three cases out of
        four, so writes get past authentication and are really exercised; the fourth keeps whatever
        schemathesis generated for the security scheme (missing, malformed or unknown credentials),
        so the 401 answers are checked too. The choice is a hash of the generated value: as
        deterministic as the rest of the generation, and it needs no extra hypothesis argument
        (``@schema.given`` would switch the coverage phase off)."""
        if self.token is None or not _needs_token(case):
            return
        generated = next((key for key in headers if key.lower() == "authorization"), None)
        value = str(headers.get(generated, "")) if generated else ""
        if zlib.crc32(value.encode("utf-8", "replace")) % 4 == 0 and generated is not None:
            return
        if generated is not None:
            del headers[generated]
        headers["Authorization"] = f"Bearer {self.token}"


def _needs_token(case: schemathesis.Case[Any]) -> bool:
    operation = case.operation
    requirements = operation.definition.raw.get("security", operation.schema.raw_schema.get("security", []))
    return any(requirement for requirement in requirements or [])


def _wire(value: object) -> bytes:
    """A header value or body as bytes, as `requests` would send it (text as Latin-1 when it fits)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:
            return value.encode()
    raise TypeError(f"cannot send a {type(value).__name__} (streamed bodies are not generated)")


async def write_token(session_factory: async_sessionmaker[AsyncSession]) -> str | None:
    """A ``write`` token, made by the token service inside the test's transaction; None until token
    auth exists (the write routes then answer without one, or 401, which must be documented too)."""
    try:
        tokens = importlib.import_module("pkgindex.services.tokens")
    except ModuleNotFoundError as exc:
        if exc.name != "pkgindex.services.tokens":
            raise
        return None
    async with unit_of_work(session_factory) as session:
        _row, token = await tokens.create_token(session, "property-tests", tokens.Scope.WRITE)
    return str(token)


@pytest.fixture
async def api(
    loaded: dict[str, Any], database_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[ApiDriver]:
    for collection in ("packages", "grids", "categories"):
        rows = loaded[collection]
        KNOWN_REFS[collection] = sorted({str(row["id"]) for row in rows} | {row["slug"] for row in rows})
    token = await write_token(session_factory)
    settings = Settings(database_url=database_url, response_cache_mb=NO_RESPONSE_CACHE)
    app = create_app(settings, session_factory=session_factory)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL) as client:
        yield ApiDriver(asyncio.get_running_loop(), client, token)


@schema.parametrize()
# One app, one loaded dump and one transaction serve all the examples of an operation, on purpose:
# loading the dump per example would cost far more than the requests, and the data only has to exist.
# (Writes that succeed do change it for later examples; every check holds whatever the data is.)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation_conforms_to_its_documentation(case: schemathesis.Case[Any], api: ApiDriver) -> None:
    response = api.send(case)
    case.validate_response(response)
