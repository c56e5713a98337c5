"""Engine and session factories, and the one unit-of-work helper that commits."""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from pkgindex.config import Settings

SessionFactory = async_sessionmaker[AsyncSession]


def make_engine(settings: Settings, **kwargs: Any) -> AsyncEngine:
    url = settings.database_url
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **kwargs)
        enable_sqlite_foreign_keys(engine)
        return engine
    kwargs.setdefault("pool_size", settings.db_pool_size)
    kwargs.setdefault("pool_pre_ping", True)  # a connection broken by a database restart is replaced
    # Give up quickly on an unreachable database: a request answers 503 rather than hanging.
    kwargs.setdefault("pool_timeout", settings.db_connect_timeout)
    kwargs.setdefault("connect_args", {"timeout": settings.db_connect_timeout})
    return create_async_engine(url, **kwargs)


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
