"""Liveness and readiness, in process, on both backends: /healthz answers while the process lives;
/readyz answers 200 only on a reachable database at the migrations' head, else a 503 problem naming why,
at once (no hang) even when the database does not answer at all."""

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command

from pkgindex import migrations
from pkgindex.config import Settings
from pkgindex.db import make_engine, make_session_factory
from pkgindex.main import create_app
from tests.conftest import ClientFactory

PROBLEM = "application/problem+json"


@pytest.fixture
async def serve_url() -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """A client of an app on its own production engine for ``url`` (as `pkgindex serve` builds it)."""
    engines = []

    def make(url: str, **settings: Any) -> httpx.AsyncClient:
        config = Settings(database_url=url, **settings)
        engine = make_engine(config)
        engines.append(engine)
        app = create_app(config, session_factory=make_session_factory(engine))
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pkgindex.test")

    yield make
    for engine in engines:
        await engine.dispose()


def assert_not_ready(response: httpx.Response, *words: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"].isdigit()
    body = response.json()
    assert body["status"] == 503
    assert body["title"] == "Service Unavailable"
    for word in words:
        assert word in body["detail"], body


async def test_healthz_answers_ok(make_client: ClientFactory) -> None:
    async with make_client() as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-request-id"]


async def test_readyz_on_a_migrated_database_names_the_head(make_client: ClientFactory) -> None:
    async with make_client() as client:
        response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "database": "ok", "migration": migrations.head_revision()}


async def test_readyz_on_an_unmigrated_database_says_to_migrate(
    fresh_database_url: str, serve_url: Callable[..., httpx.AsyncClient]
) -> None:
    async with serve_url(fresh_database_url) as client:
        response = await client.get("/readyz")
        assert_not_ready(response, "no schema", "pkgindex migrate")
        assert response.headers["cache-control"] == "no-store"
        # Alive all the same: a missing schema is no reason to restart the process.
        assert (await client.get("/healthz")).status_code == 200


async def test_readyz_on_an_older_revision_names_both(
    fresh_database_url: str, serve_url: Callable[..., httpx.AsyncClient]
) -> None:
    await asyncio.to_thread(command.upgrade, migrations.alembic_config(fresh_database_url), "0002")
    head = migrations.head_revision()
    assert head is not None
    assert head != "0002"
    async with serve_url(fresh_database_url) as client:
        assert_not_ready(await client.get("/readyz"), "0002", head, "pkgindex migrate")
    # Migrated to the head, the same database is ready.
    await asyncio.to_thread(migrations.upgrade, fresh_database_url)
    async with serve_url(fresh_database_url) as client:
        assert (await client.get("/readyz")).status_code == 200


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends: nothing listens


def unreachable_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'no-such-directory' / 'pkgindex.db'}"
    return f"postgresql+asyncpg://postgres@127.0.0.1:{closed_port()}/pkgindex"


async def test_an_unreachable_database_gets_503_at_once(
    backend: str, tmp_path: Path, serve_url: Callable[..., httpx.AsyncClient]
) -> None:
    async with serve_url(unreachable_url(backend, tmp_path), db_connect_timeout=2) as client:
        for path in ("/readyz", "/api/v4/packages/", "/api/v4/packages/django-dbsettings-new/"):
            started = time.monotonic()
            response = await asyncio.wait_for(client.get(path), 10)
            assert time.monotonic() - started < 3, path
            assert_not_ready(response)
        assert "unreachable" in (await client.get("/readyz")).json()["detail"]
        assert (await client.get("/healthz")).status_code == 200


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word: a database that hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield int(listener.getsockname()[1])
    finally:
        listener.close()


async def test_a_database_that_never_answers_gets_503_within_the_connect_timeout(
    silent_server: int, serve_url: Callable[..., httpx.AsyncClient]
) -> None:
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{silent_server}/pkgindex"
    async with serve_url(url, db_connect_timeout=1) as client:
        for path in ("/readyz", "/api/v4/packages/"):
            started = time.monotonic()
            response = await asyncio.wait_for(client.get(path), 10)
            assert time.monotonic() - started < 2.5, path
            assert_not_ready(response)
