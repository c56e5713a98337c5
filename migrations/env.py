"""Async Alembic environment. The URL comes from pkgindex's settings unless the caller set one."""

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from pkgindex.config import get_settings
from pkgindex.models import Base

# SQLite's full-text tables are created by the migrations and have no model.
FTS_TABLE_PREFIXES = ("package_fts", "grid_fts")


# Expression indexes for PostgreSQL full-text search, which models cannot declare portably.
SEARCH_INDEXES = ("ix_package_search", "ix_grid_search")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "table" and name is not None and name.startswith(FTS_TABLE_PREFIXES):
        return False
    return not (type_ == "index" and name in SEARCH_INDEXES)


def url() -> str:
    return context.config.get_main_option("sqlalchemy.url") or get_settings().database_url


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        include_name=include_name,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_async_engine(url())
    async with engine.connect() as connection:
        await connection.run_sync(run_with)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (lent := context.config.attributes.get("connection")) is not None:
    run_with(lent)  # a caller (tests, `pkgindex migrate`) lent its own sync connection
else:
    asyncio.run(run_online())
