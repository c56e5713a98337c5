"""The response cache (pkgindex.api.cache), through the production path: the app's own engine with its
autocommit read connections, on a database where every write really commits, as in production (the
other API tests run inside one rolled-back transaction, where the data version cannot move, and so
run with the cache off)."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from sqlalchemy import text

from pkgindex.api.cache import VersionReads
from pkgindex.config import Settings
from pkgindex.db import make_engine, make_read_connector, make_session_factory, unit_of_work
from pkgindex.main import create_app
from pkgindex.services import tokens
from pkgindex.services.importer import ImportBatch, import_batch, read_file
from pkgindex.services.tokens import Scope

API = "/api/v4"
Serve = Callable[..., Awaitable[httpx.AsyncClient]]


class Database:
    """Commits on the test's database, as a second writer would (the refresher, an operator)."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(Settings(database_url=url))
        self.factory = make_session_factory(self.engine)

    async def execute(self, sql: str, **params: Any) -> None:
        async with unit_of_work(self.factory) as session:
            await session.execute(text(sql), params)

    async def scalar(self, sql: str) -> Any:
        async with unit_of_work(self.factory) as session:
            return await session.scalar(text(sql))


@pytest.fixture
async def database(committed_database_url: str, small_dump_path: Path) -> AsyncIterator[Database]:
    database = Database(committed_database_url)
    batch = ImportBatch()
    read_file(small_dump_path, batch)
    async with unit_of_work(database.factory) as session:
        await import_batch(session, batch)
    yield database
    await database.engine.dispose()


@pytest.fixture
async def serve(committed_database_url: str, database: Database) -> AsyncIterator[Serve]:
    """Start an app (lifespan and all) on the test's database; keyword arguments override settings."""
    started: list[tuple[Any, httpx.AsyncClient]] = []

    async def start(base_url: str = "http://pkgindex.test", **settings: Any) -> httpx.AsyncClient:
        app = create_app(Settings(database_url=committed_database_url, **settings))
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
        started.append((lifespan, client))
        return client

    yield start
    for lifespan, client in reversed(started):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def client(serve: Serve) -> httpx.AsyncClient:
    return await serve()


def cache_counts() -> dict[str, float]:
    """The response cache's counters (of the whole test process: tests compare before and after)."""
    return {
        result: REGISTRY.get_sample_value("pkgindex_response_cache_total", {"result": result}) or 0.0
        for result in ("hit", "miss", "bypass")
    }


async def get_counted(client: httpx.AsyncClient, url: str, **kwargs: Any) -> tuple[httpx.Response, str]:
    """GET ``url``; returns the answer and what the cache did with it."""
    before = cache_counts()
    response = await client.get(url, **kwargs)
    after = cache_counts()
    changed = [result for result in after if after[result] != before[result]]
    assert len(changed) == 1, (before, after)
    return response, changed[0]


READS = [
    f"{API}/packages/",
    f"{API}/packages/?limit=5&offset=10&ordering=-repo_watchers",
    f"{API}/grids/",
    f"{API}/categories/",
    f"{API}/search/?q=django",
    f"{API}/",
]


async def test_a_repeated_get_is_served_from_the_cache_unchanged(client: httpx.AsyncClient) -> None:
    package = (await client.get(f"{API}/packages/?limit=1")).json()["results"][0]
    for url in [*READS, f"{API}/packages/{package['id']}/", f"{API}/packages/{package['slug']}/"]:
        built, first = await get_counted(client, url)
        assert (built.status_code, first) == (200, "miss"), url
        again, second = await get_counted(client, url)
        assert second == "hit", url
        assert again.status_code == 200
        assert again.content == built.content
        assert again.headers["etag"] == built.headers["etag"]
        assert again.headers["content-type"] == built.headers["content-type"]
        assert again.headers["cache-control"] == built.headers["cache-control"]
        assert again.headers["x-request-id"] != built.headers["x-request-id"]


async def test_a_write_through_the_api_is_seen_by_the_next_get(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with unit_of_work(database.factory) as session:
        token = (await tokens.create_token(session, "editor", Scope.WRITE))[1]
    package = (await client.get(f"{API}/packages/?limit=1")).json()["results"][0]
    url = f"{API}/packages/{package['id']}/"
    page = f"{API}/packages/?limit=1"
    await client.get(url)
    for read in (url, page):
        assert (await get_counted(client, read))[1] == "hit"

    changed = await client.patch(
        url, json={"title": "Retitled"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert changed.status_code == 200, changed.text

    response, result = await get_counted(client, url)
    assert (result, response.json()["title"]) == ("miss", "Retitled")
    assert response.headers["etag"] == changed.headers["etag"]
    response, result = await get_counted(client, page)
    assert (result, response.json()["results"][0]["title"]) == ("miss", "Retitled")


@pytest.mark.parametrize(
    ("change", "shown_by"),
    [
        ("UPDATE package SET repo_watchers = 123456 WHERE id = :id", ["detail", "page"]),
        ("DELETE FROM grid_package WHERE package_id = :id", ["detail", "page"]),
        ("DELETE FROM package WHERE id = :id", ["detail", "page"]),
        (
            "UPDATE category SET title = 'Renamed'"
            " WHERE id = (SELECT category_id FROM package WHERE id = :id)",
            ["categories"],
        ),
    ],
)
async def test_a_change_committed_by_another_writer_is_seen_by_the_next_get(
    client: httpx.AsyncClient, database: Database, change: str, shown_by: list[str]
) -> None:
    """The refresher, an import on another machine, SQL by hand: the triggers see every writer."""
    with_grids = [p for p in (await client.get(f"{API}/packages/?limit=100")).json()["results"] if p["grids"]]
    package = with_grids[0]
    urls = {
        "detail": f"{API}/packages/{package['id']}/",
        "page": f"{API}/packages/?limit=100",
        "categories": f"{API}/categories/",
    }
    before = {}
    for name, url in urls.items():
        before[name] = (await client.get(url)).content
        assert (await get_counted(client, url))[1] == "hit"

    await database.execute(change, id=package["id"])

    for name, url in urls.items():
        response, result = await get_counted(client, url)
        # Any change makes every answer stale; a 404 is built and not kept.
        assert result == ("miss" if response.status_code == 200 else "bypass"), url
        assert (response.content != before[name]) == (name in shown_by), url


async def test_if_none_match_and_head_are_answered_from_the_cache(client: httpx.AsyncClient) -> None:
    url = f"{API}/grids/"
    built = await client.get(url)
    tag = built.headers["etag"]
    response, result = await get_counted(client, url, headers={"If-None-Match": tag})
    assert (response.status_code, response.content, result) == (304, b"", "hit")
    assert response.headers["etag"] == tag
    assert response.headers["cache-control"] == built.headers["cache-control"]
    assert "content-type" not in response.headers
    response, result = await get_counted(client, url, headers={"If-None-Match": '"stale"'})
    assert (response.status_code, response.content, result) == (200, built.content, "hit")

    before = cache_counts()
    head = await client.head(url)
    assert (cache_counts())["hit"] == before["hit"] + 1
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["etag"] == tag
    assert head.headers["content-length"] == str(len(built.content))


async def test_answers_for_another_host_or_scheme_are_not_shared(serve: Serve) -> None:
    client = await serve(forwarded_allow_ips="*")
    url = f"{API}/grids/"
    plain = await client.get(url)
    assert (await get_counted(client, url))[1] == "hit"
    for headers, base in (
        ({"Host": "mirror.example"}, "http://mirror.example/"),
        ({"X-Forwarded-Proto": "https"}, "https://pkgindex.test/"),
    ):
        response, result = await get_counted(client, url, headers=headers)
        assert result == "miss"
        assert response.content != plain.content
        assert response.json()["results"][0]["id"] == plain.json()["results"][0]["id"]
        assert response.json()["results"][0]["packages"][0].startswith(base)


async def test_only_public_successful_answers_are_kept(client: httpx.AsyncClient) -> None:
    for url in (f"{API}/packages/no-such-package/", f"{API}/packages/?ordering=nonsense"):
        for _ in range(2):
            response, result = await get_counted(client, url)
            assert result == "bypass", url
            assert response.status_code in (400, 404)


async def test_only_the_api_goes_through_the_cache(client: httpx.AsyncClient) -> None:
    """Health checks must answer without the database; the docs do not change with the data."""
    before = cache_counts()
    for url in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert (await client.get(url)).status_code == 200, url
    assert cache_counts() == before


async def test_the_least_recently_used_answers_go_first(serve: Serve) -> None:
    first, second, third = f"{API}/categories/", f"{API}/grids/", f"{API}/"
    sizes = {url: await answer_size(await serve(), url) for url in (first, second, third)}
    # Room for all but one byte of the three: the third answer pushes out the least recently used.
    budget = sum(sizes.values()) - 1
    client = await serve(response_cache_mb=budget / (1024 * 1024))
    for url in (first, second, first, third):  # first was used after second: second goes
        await client.get(url)
    assert (await get_counted(client, first))[1] == "hit"
    assert (await get_counted(client, third))[1] == "hit"
    assert (await get_counted(client, second))[1] == "miss"
    assert (await get_counted(client, first))[1] == "miss"  # second came back and pushed first out


async def answer_size(client: httpx.AsyncClient, url: str) -> int:
    """What the cache counts for ``url``'s answer: its body and its headers as the app sent them."""
    response = await client.get(url)
    app_headers = [(k, v) for k, v in response.headers.raw if k.lower() != b"x-request-id"]
    return len(response.content) + sum(len(k) + len(v) for k, v in app_headers)


async def test_an_answer_larger_than_the_whole_cache_is_not_kept(serve: Serve) -> None:
    url = f"{API}/packages/?limit=100"
    client = await serve(response_cache_mb=(await answer_size(await serve(), url) - 1) / (1024 * 1024))
    for _ in range(2):
        assert (await get_counted(client, url))[1] == "bypass"
    assert (await get_counted(client, f"{API}/categories/"))[1] == "miss"


async def test_a_cache_of_no_size_is_off(serve: Serve) -> None:
    client = await serve(response_cache_mb=0)
    before = cache_counts()
    for _ in range(3):
        assert (await client.get(f"{API}/categories/")).status_code == 200
    assert cache_counts() == before


async def test_a_transaction_bumps_the_version_once_whatever_it_changes(
    database: Database, backend: str
) -> None:
    before = await database.scalar("SELECT version FROM data_version")
    await database.execute("UPDATE package SET repo_forks = repo_forks + 1")
    after = await database.scalar("SELECT version FROM data_version")
    if backend == "postgresql":
        assert after == before + 1
    else:  # a trigger per row: the number only has to grow
        assert after > before
    await database.execute("UPDATE api_token SET name = name")  # not a table the GETs show
    assert await database.scalar("SELECT version FROM data_version") == after


class CountingConnector:
    """The production read connector, counting the connections it opens; ``hold`` keeps each read
    open (its query already answered) until ``release`` is set."""

    def __init__(self, engine: Any) -> None:
        self.connect = make_read_connector(engine)
        self.opened = 0
        self.hold = False
        self.queried = asyncio.Event()
        self.release = asyncio.Event()

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[Any]:
        self.opened += 1
        async with self.connect() as connection:
            yield connection
            self.queried.set()
            if self.hold:
                await self.release.wait()


async def test_concurrent_requests_share_one_read_of_the_version(database: Database) -> None:
    connector = CountingConnector(database.engine)
    reads = VersionReads()
    current = await database.scalar("SELECT version FROM data_version")
    versions = await asyncio.gather(*(reads.read(connector) for _ in range(20)))
    assert versions == [current] * 20
    assert connector.opened == 1


async def test_a_request_never_gets_a_version_read_before_it_arrived(database: Database) -> None:
    """A read already under way when a request asks may predate a write the client just made."""
    connector = CountingConnector(database.engine)
    reads = VersionReads()
    connector.hold = True
    early = asyncio.create_task(reads.read(connector))
    await connector.queried.wait()  # the early read has its answer, not yet handed over
    before = await database.scalar("SELECT version FROM data_version")
    await database.execute("UPDATE package SET repo_forks = 7 WHERE id = (SELECT min(id) FROM package)")
    later = asyncio.create_task(reads.read(connector))
    await asyncio.sleep(0.05)
    assert not later.done()
    connector.hold = False
    connector.release.set()
    assert await early == before
    assert await later > before
    assert connector.opened == 2
