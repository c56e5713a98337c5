"""Engine and session factories, and the one unit-of-work helper that commits."""

import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from pkgindex.config import Settings

SessionFactory = async_sessionmaker[AsyncSession]


def make_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    url = settings.database_url
    kwargs.setdefault("json_serializer", dump_json)
    kwargs.setdefault("json_deserializer", orjson.loads)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **kwargs)
        enable_sqlite_foreign_keys(engine)
        return engine
    kwargs.setdefault("pool_size", settings.db_pool_size)
    # Give up quickly on an unreachable database: a request answers 503 rather than hanging.
    kwargs.setdefault("pool_timeout", settings.db_connect_timeout)
    kwargs.setdefault("connect_args", {"timeout": settings.db_connect_timeout})
    engine = create_async_engine(url, **kwargs)
    replace_closed_connections(engine)
    return engine


def dump_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def replace_closed_connections(engine: AsyncEngine) -> None:
    """Hand out no pooled connection that the database has closed (a restart, a terminated backend):
    the pool replaces it with a new one.

    asyncpg notices the closed socket by itself, so this costs no round trip, unlike ``pool_pre_ping``
    (a round trip before every checkout: about 450 µs of CPU per request here; bench/README.md)."""

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        if dbapi_conn.driver_connection.is_closed():
            raise DisconnectionError("the database closed this connection")


def enable_sqlite_foreign_keys(engine: AsyncEngine) -> None:
    # SQLite ignores foreign keys unless asked on every connection.
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()


def make_session_factory(engine: AsyncEngine) -> SessionFactory:
    # Loaded attributes survive commit, so responses can be built after it.
    return async_sessionmaker(engine, expire_on_commit=False)


# Opens the connection a read runs on: ``async with connect() as connection``.
ReadConnector = Callable[[], AbstractAsyncContextManager[AsyncConnection]]


def make_read_connector(engine: AsyncEngine) -> ReadConnector:
    """Connections for reads: Core, without an ORM session, and in autocommit, where each statement is
    its own transaction, so a read costs its queries alone, without BEGIN and COMMIT round trips (a
    quarter to a third of a one-query read; bench/README.md). A read of one statement sees one
    snapshot; a page's count and rows are two statements, as they are in the original."""
    return engine.execution_options(isolation_level="AUTOCOMMIT").connect


def read_connector_of(factory: SessionFactory) -> ReadConnector:
    """Read connections through a session factory's binding (tests bind theirs to one transaction)."""

    @asynccontextmanager
    async def connect() -> AsyncIterator[AsyncConnection]:
        async with factory() as session:
            yield await session.connection()

    return connect


def dialect_of(executor: AsyncSession | AsyncConnection) -> str:
    """The database a session or connection speaks: "postgresql" or "sqlite"."""
    bind = executor.get_bind() if isinstance(executor, AsyncSession) else executor
    return bind.dialect.name


@asynccontextmanager
async def unit_of_work(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """One transaction: commit on success, roll back on any exception."""
    async with factory() as session, session.begin():
        yield session


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database cannot be reached (down, restarting, refusing, too slow),
    as opposed to a query that failed."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated or isinstance(exc, InterfaceError):
            return True
        # PostgreSQL says it cannot serve: connection errors (08), shutting down or starting up (57P),
        # too many connections (53300). asyncpg's errors reach SQLAlchemy as the generic DBAPIError.
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
        if sqlstate.startswith(UNAVAILABLE_SQLSTATES):
            return True
        # SQLite reports a missing table or column, a failed query, as an OperationalError too.
        return isinstance(exc, OperationalError) and not SQLITE_QUERY_ERROR.search(str(exc.orig))
    return isinstance(exc, OSError | TimeoutError | SQLAlchemyTimeoutError)


UNAVAILABLE_SQLSTATES = ("08", "57P", "53300")
SQLITE_QUERY_ERROR = re.compile(r"^(no such (table|column)|near .*: syntax error)")
