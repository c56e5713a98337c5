"""What every write route shares: authentication, content type, malformed and oversized bodies, unknown
fields, and the OpenAPI description of it all. Every rejected write is checked to change nothing: the
whole database is compared before and after.

The helpers and fixtures here are imported by the other ``test_writes_*`` modules."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pkgindex.api.deps import MAX_WRITE_BODY_BYTES
from pkgindex.db import unit_of_work
from pkgindex.services import tokens
from pkgindex.services.tokens import Scope

PROBLEM = "application/problem+json"
API = "/api/v4"
TABLES = ("category", "grid", "package", "grid_package", "api_token")
Factory = async_sessionmaker[AsyncSession]
Snapshot = dict[str, list[tuple[Any, ...]]]


async def snapshot(session_factory: Factory, tables: tuple[str, ...] = TABLES) -> Snapshot:
    """Every row of every table the API can write, in a stable order."""
    async with session_factory() as session:
        return {
            table: [tuple(row) for row in await session.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))]
            for table in tables
        }


# The data tables, without the token table (a successful request records when its token was used).
DATA = TABLES[:-1]


class Writer:
    """A client with a ``write`` token that checks each rejected write left the database as it was."""

    def __init__(self, client: httpx.AsyncClient, session_factory: Factory, token: str) -> None:
        self.client = client
        self.session_factory = session_factory
        self.headers = {"Authorization": f"Bearer {token}"}

    async def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.request(method, url, headers=headers, **kwargs)

    async def rejected(self, status: int, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """Send a write that must fail with ``status``; returns the problem body."""
        before = await snapshot(self.session_factory)
        response = await self.send(method, url, **kwargs)
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == PROBLEM
        body: dict[str, Any] = response.json()
        assert body["status"] == status
        assert body["detail"]
        assert await snapshot(self.session_factory) == before
        return body


def error_loc(problem: dict[str, Any]) -> list[Any]:
    loc: list[Any] = problem["errors"][0]["loc"]
    return loc


async def new_token(session_factory: Factory, name: str = "editor", scope: Scope = Scope.WRITE) -> str:
    async with unit_of_work(session_factory) as session:
        return (await tokens.create_token(session, name, scope))[1]


@pytest.fixture
async def writer(client: httpx.AsyncClient, session_factory: Factory, loaded: dict[str, Any]) -> Writer:
    return Writer(client, session_factory, await new_token(session_factory))


async def first(client: httpx.AsyncClient, collection: str) -> dict[str, Any]:
    response = await client.get(f"{API}/{collection}/")
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()["results"][0]
    return item


def new_category() -> dict[str, Any]:
    return {"title": "Testing", "slug": "testing", "description": "Tools for tests."}


def new_grid() -> dict[str, Any]:
    return {"title": "Fixtures", "slug": "fixtures", "description": "Test data.", "packages": []}


async def new_package(client: httpx.AsyncClient) -> dict[str, Any]:
    category = await first(client, "categories")
    return {
        "category": category["id"],
        "title": "django-pytest-things",
        "slug": "django-pytest-things",
        "repo_url": "https://github.com/example/django-pytest-things",
        "pypi_url": "https://pypi.org/project/django-pytest-things/",
    }


WRITES = [
    ("POST", "packages", False),
    ("PUT", "packages", True),
    ("PATCH", "packages", True),
    ("DELETE", "packages", True),
    ("POST", "grids", False),
    ("PUT", "grids", True),
    ("PATCH", "grids", True),
    ("DELETE", "grids", True),
    ("POST", "categories", False),
    ("PUT", "categories", True),
    ("PATCH", "categories", True),
    ("DELETE", "categories", True),
]


async def write_target(writer: Writer, method: str, collection: str, detail: bool) -> tuple[str, Any]:
    """A URL and a valid body for this write route."""
    if not detail:
        body = {
            "packages": await new_package(writer.client),
            "grids": new_grid(),
            "categories": new_category(),
        }[collection]
        return f"{API}/{collection}/", body
    current = await first(writer.client, collection)
    return f"{API}/{collection}/{current['id']}/", current


@pytest.mark.parametrize(("method", "collection", "detail"), WRITES)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer pki_" + "x" * 43, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Token "],
)
async def test_a_write_without_a_good_token_is_401_and_changes_nothing(
    writer: Writer, method: str, collection: str, detail: bool, authorization: str | None
) -> None:
    url, body = await write_target(writer, method, collection, detail)
    headers = {"Authorization": authorization} if authorization else {}
    before = await snapshot(writer.session_factory)
    response = await writer.client.request(method, url, json=body, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert await snapshot(writer.session_factory) == before


async def test_a_revoked_token_is_401(writer: Writer, session_factory: Factory) -> None:
    async with unit_of_work(session_factory) as session:
        await tokens.revoke_token(session, "editor")
    url, body = await write_target(writer, "POST", "categories", False)
    await writer.rejected(401, "POST", url, json=body)


async def test_an_admin_token_may_write_too(writer: Writer, session_factory: Factory) -> None:
    token = await new_token(session_factory, "boss", Scope.ADMIN)
    response = await writer.client.post(
        f"{API}/categories/", json=new_category(), headers={"Authorization": f"Token {token}"}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(("method", "collection", "detail"), [w for w in WRITES if w[0] != "DELETE"])
@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_that_is_not_json_is_415(
    writer: Writer, method: str, collection: str, detail: bool, content_type: str | None
) -> None:
    url, body = await write_target(writer, method, collection, detail)
    headers = {"Content-Type": content_type} if content_type else {}
    await writer.rejected(415, method, url, content=json.dumps(body).encode(), headers=headers)


async def test_patch_also_takes_merge_patch_json(writer: Writer) -> None:
    category = await first(writer.client, "categories")
    response = await writer.send(
        "PATCH",
        f"{API}/categories/{category['id']}/",
        content=b'{"title_plural": "Things"}',
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["title_plural"] == "Things"


@pytest.mark.parametrize(("method", "collection", "detail"), [w for w in WRITES if w[0] != "DELETE"])
@pytest.mark.parametrize("content", [b"{", b'{"title": }', b"\xff\xfe", b'{"title": "a",}'])
async def test_malformed_json_is_400(
    writer: Writer, method: str, collection: str, detail: bool, content: bytes
) -> None:
    url, _body = await write_target(writer, method, collection, detail)
    problem = await writer.rejected(
        400, method, url, content=content, headers={"Content-Type": "application/json"}
    )
    assert "JSON" in problem["detail"]


@pytest.mark.parametrize(("method", "collection", "detail"), [w for w in WRITES if w[0] != "DELETE"])
@pytest.mark.parametrize("content", [b"[]", b'"text"', b"null", b"42"])
async def test_json_that_is_not_an_object_is_422(
    writer: Writer, method: str, collection: str, detail: bool, content: bytes
) -> None:
    url, _body = await write_target(writer, method, collection, detail)
    await writer.rejected(422, method, url, content=content, headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(("method", "collection", "detail"), [w for w in WRITES if w[0] != "DELETE"])
async def test_a_body_over_the_limit_is_413(
    writer: Writer, method: str, collection: str, detail: bool
) -> None:
    url, body = await write_target(writer, method, collection, detail)
    padding = "x" * MAX_WRITE_BODY_BYTES
    big = {**body, "description": padding}
    problem = await writer.rejected(413, method, url, json=big)
    assert str(MAX_WRITE_BODY_BYTES) in problem["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while read
        yield b'{"description": "'
        for _ in range(MAX_WRITE_BODY_BYTES // 65536 + 1):
            yield b"x" * 65536
        yield b'"}'

    await writer.rejected(413, method, url, content=chunks(), headers={"Content-Type": "application/json"})


@pytest.mark.parametrize(("method", "collection", "detail"), [w for w in WRITES if w[0] != "DELETE"])
async def test_an_unknown_field_is_422_naming_it(
    writer: Writer, method: str, collection: str, detail: bool
) -> None:
    url, body = await write_target(writer, method, collection, detail)
    problem = await writer.rejected(422, method, url, json={**body, "slgu": "typo"})
    assert error_loc(problem) == ["body", "slgu"]


@pytest.mark.parametrize(("method", "collection", "detail"), [w for w in WRITES if w[1] != "categories"])
async def test_writes_to_a_missing_object_are_404(
    writer: Writer, method: str, collection: str, detail: bool
) -> None:
    if not detail:
        return
    _url, body = await write_target(writer, method, collection, detail)
    for ref in ("999999", "no-such-slug"):
        await writer.rejected(404, method, f"{API}/{collection}/{ref}/", json=body)


async def test_collections_and_details_allow_their_write_methods(client: httpx.AsyncClient) -> None:
    collection = await client.options(f"{API}/packages/")
    assert set(collection.headers["allow"].replace(" ", "").split(",")) == {"GET", "HEAD", "OPTIONS", "POST"}
    detail = await client.options(f"{API}/grids/1/")
    assert set(detail.headers["allow"].replace(" ", "").split(",")) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "PUT",
        "PATCH",
        "DELETE",
    }


# --- OpenAPI -------------------------------------------------------------------------------------------


async def test_openapi_describes_the_writes(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    read_only = {
        "PackageWrite": {
            "id",
            "created",
            "modified",
            "repo_watchers",
            "repo_forks",
            "repo_description",
            "participants",
            "commits_over_52",
            "last_updated",
            "pypi_version",
            "last_fetched",
        },
        "GridWrite": {"id", "created", "modified"},
        "CategoryWrite": {"id", "created", "modified"},
    }
    for name, fields in read_only.items():
        properties = schemas[name]["properties"]
        assert {field for field, schema in properties.items() if schema.get("readOnly")} == fields
        update = schemas[name.replace("Write", "Update")]["properties"]
        assert {field for field, schema in update.items() if schema.get("readOnly")} == fields
        assert "required" not in schemas[name.replace("Write", "Update")]
    assert schemas["PackageWrite"]["examples"][0]["slug"] == "django-dbsettings-new"
    assert set(schemas["PackageWrite"]["required"]) == {"category", "title", "slug"}

    paths = document["paths"]
    for collection in ("packages", "grids", "categories"):
        post = paths[f"/api/v4/{collection}/"]["post"]
        assert {"400", "401", "403", "409", "413", "415", "422"} <= set(post["responses"])
        assert "Location" in post["responses"]["201"]["headers"]
        for method in ("put", "patch"):
            operation = paths[f"/api/v4/{collection}/{{ref}}/"][method]
            codes = {"400", "401", "403", "404", "409", "412", "413", "415", "422"}
            assert codes <= set(operation["responses"])
            for code in codes:
                assert PROBLEM in operation["responses"][code]["content"], (collection, method, code)
            assert operation["security"] == [{"token": []}]
            assert any(p["name"] == "if-match" for p in operation["parameters"])
        delete = paths[f"/api/v4/{collection}/{{ref}}/"]["delete"]
        assert {"204", "401", "403", "404", "412"} <= set(delete["responses"])
        get = paths[f"/api/v4/{collection}/{{ref}}/"]["get"]
        assert "304" in get["responses"]
        assert "ETag" in get["responses"]["200"]["headers"]
