"""Engine and session factories, and the one unit-of-work helper that commits."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
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
    kwargs.setdefault("pool_pre_ping", True)
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
