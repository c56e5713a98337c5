"""Fixtures: every test runs on SQLite and on PostgreSQL, each test inside a transaction that is
rolled back, against a schema built by the migrations (never by ``create_all``)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from pkgindex import migrations
from pkgindex.config import Settings
from pkgindex.db import enable_sqlite_foreign_keys, unit_of_work
from pkgindex.main import create_app
from pkgindex.services.importer import ImportBatch, ImportCounts, import_batch, read_file

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
GEN_DATASET = SHARED / "tools" / "gen_dataset.py"
DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
IN_CI = os.environ.get("CI", "").lower() == "true"

# The record the issue quotes, as the original serves it (it is in the bundled sample).
DBSETTINGS = {
    "category": "https://djangopackages.org/api/v4/categories/1/",
    "grids": ["https://djangopackages.org/api/v4/grids/55/"],
    "id": 1686,
    "title": "django-dbsettings",
    "slug": "django-dbsettings-new",
    "last_updated": "2026-01-28T16:20:56-05:00",
    "last_fetched": "2026-02-15T19:01:29.443217-05:00",
    "repo_url": "https://github.com/zlorf/django-dbsettings",
    "pypi_version": "1.4.0",
    "created": "2013-02-21T06:07:16.164960-05:00",
    "modified": "2026-01-28T14:37:50.814473-05:00",
    "repo_forks": 39,
    "repo_description": "Application settings whose values can be updated while a project is up and running",
    "pypi_url": "http://pypi.python.org/pypi/django-dbsettings",
    "documentation_url": None,
    "repo_watchers": 64,
    "commits_over_52": [0] * 49 + [2, 0, 0],
    "participants": ["zlorf", "gulopine", "hdg700"],
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (for servers the tests start)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def system_program(name: str, env_var: str, default: str) -> str:
    """The path of a Debian-packaged program a test drives (``env_var`` overrides it). Missing, the
    test is skipped, except under CI, where `.ci/run` installs it and a missing one is a failure."""
    path = os.environ.get(env_var) or shutil.which(name) or default
    if not Path(path).is_file():
        message = f"no {name} at {path}: `apt-get install {name}` (.ci/run does)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def postgres_admin_url() -> str:
    return os.environ.get("PKGINDEX_TEST_DATABASE_URL", DEFAULT_PG_URL)


async def _admin(statement: str) -> None:
    engine = create_async_engine(postgres_admin_url(), poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


def _run(coro: Any) -> Any:
    import asyncio

    return asyncio.run(coro)


class Databases:
    """Creates throw-away databases: SQLite files, or PostgreSQL databases beside the test one."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.pg_created: list[str] = []
        self._pg_checked: bool | None = None

    def postgres_available(self) -> bool:
        if self._pg_checked is None:
            try:
                _run(_admin("SELECT 1"))
                self._pg_checked = True
            except Exception as exc:  # any failure to connect means "not available"
                if IN_CI:
                    pytest.fail(f"PostgreSQL is unreachable under CI ({postgres_admin_url()}): {exc}")
                self._pg_checked = False
        return self._pg_checked

    def new(self, backend: str) -> str:
        name = f"pkgindex_test_{uuid.uuid4().hex[:12]}"
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{self.tmp / (name + '.db')}"
        if not self.postgres_available():
            pytest.skip("PostgreSQL is not reachable (set PKGINDEX_TEST_DATABASE_URL)")
        _run(_admin(f'CREATE DATABASE "{name}"'))
        self.pg_created.append(name)
        return make_url(postgres_admin_url()).set(database=name).render_as_string(hide_password=False)

    def clone(self, backend: str, template_url: str) -> str:
        """A new database holding a copy of ``template_url`` (a database nobody is connected to)."""
        url = self.new(backend) if backend == "sqlite" else None
        if url is not None:
            shutil.copyfile(make_url(template_url).database or "", make_url(url).database or "")
            return url
        name = f"pkgindex_test_{uuid.uuid4().hex[:12]}"
        _run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(template_url).database}"'))
        self.pg_created.append(name)
        return make_url(postgres_admin_url()).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        for name in self.pg_created:
            _run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("databases"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, databases: Databases) -> str:
    """A database of the current backend, migrated once for the whole session."""
    url = databases.new(backend)
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session")
def template_database_url(backend: str, databases: Databases) -> str:
    """A migrated database that no test connects to: the template of ``committed_database_url``."""
    url = databases.new(backend)
    migrations.upgrade(url)
    return url


@pytest.fixture
def committed_database_url(backend: str, databases: Databases, template_database_url: str) -> str:
    """A migrated database of the test's own, for code that commits on several connections at once
    (the refresher, several processes). Copied from a template: faster than migrating."""
    return databases.clone(backend, template_database_url)


@pytest.fixture
def fresh_database_url(backend: str, databases: Databases) -> str:
    """An empty, unmigrated database, for tests of commands that commit (migrate, import, serve)."""
    return databases.new(backend)


def _let_sqlite_nest(engine: AsyncEngine) -> None:
    # pysqlite/aiosqlite delay BEGIN, which breaks SAVEPOINT; take over transaction control.
    @event.listens_for(engine.sync_engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    if engine.dialect.name == "sqlite":
        enable_sqlite_foreign_keys(engine)
        _let_sqlite_nest(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session_factory(engine: AsyncEngine) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    async with engine.connect() as conn:
        outer = await conn.begin()
        # App commits release savepoints; this rollback undoes the whole test.
        yield async_sessionmaker(bind=conn, expire_on_commit=False, join_transaction_mode="create_savepoint")
        await outer.rollback()


class QueryCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def query_counter(engine: AsyncEngine) -> Iterator[QueryCounter]:
    """Counts the SQL statements the app sends (savepoint bookkeeping excluded)."""
    counter = QueryCounter()

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("SAVEPOINT", "RELEASE", "ROLLBACK", "BEGIN")):
            counter.statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    yield counter
    event.remove(engine.sync_engine, "before_cursor_execute", before)


ClientFactory = Callable[..., httpx.AsyncClient]

# For apps on the test's one rolled-back transaction: in it the data version cannot move on PostgreSQL
# (it is bumped at commit, once per transaction), so a cache would answer from before the test's writes.
# tests/api/test_response_cache.py tests the cache on a database that commits.
NO_RESPONSE_CACHE = 0


@pytest.fixture
def make_client(database_url: str, session_factory: async_sessionmaker[AsyncSession]) -> ClientFactory:
    """A client of a fresh app on the test's transaction; keyword arguments override settings.
    Use it as ``async with make_client(timezone="America/New_York") as client``."""

    def make(base_url: str = "http://pkgindex.test", **settings: Any) -> httpx.AsyncClient:
        settings.setdefault("response_cache_mb", NO_RESPONSE_CACHE)
        app = create_app(Settings(database_url=database_url, **settings), session_factory=session_factory)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)

    return make


@pytest.fixture
async def client(make_client: ClientFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as client:
        yield client


def generate_dump(tmp: Path, **sizes: int) -> Path:
    """A v4 dump from the shared deterministic generator (``packages=``, ``grids=``, ``categories=``)."""
    args = [arg for name, value in sizes.items() for arg in (f"--{name}", str(value))]
    out = tmp / f"dump-{'-'.join(args) or 'default'}.json"
    if not out.exists():
        subprocess.run([sys.executable, str(GEN_DATASET), *args, "--out", str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def small_dump_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 packages in 8 grids and 6 categories."""
    return generate_dump(tmp_path_factory.mktemp("dumps"), packages=60, grids=8)


@pytest.fixture(scope="session")
def small_dump(small_dump_path: Path) -> dict[str, Any]:
    return dict(json.loads(small_dump_path.read_text()))


Loader = Callable[[Any], Awaitable[ImportCounts]]


@pytest.fixture
def load(session_factory: async_sessionmaker[AsyncSession], tmp_path: Path) -> Loader:
    """Import a v4 document (dump, list page or object) into the test's transaction."""

    async def load(document: Any) -> ImportCounts:
        path = tmp_path / f"{uuid.uuid4().hex}.json"
        path.write_text(json.dumps(document))
        batch = ImportBatch()
        read_file(path, batch)
        async with unit_of_work(session_factory) as session:
            return await import_batch(session, batch)

    return load


@pytest.fixture
async def loaded(load: Loader, small_dump: dict[str, Any]) -> dict[str, Any]:
    """The small dump, imported; returns it for comparison."""
    await load(small_dump)
    return small_dump
