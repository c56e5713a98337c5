"""The schema comes only from the migrations: they run on both backends, both ways, and build exactly
what the models declare (search machinery aside, which has no model)."""

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from pkgindex import migrations
from pkgindex.models import Base

T = TypeVar("T")

TABLES = {"category", "grid", "package", "grid_package"}


def env_options(url: str) -> dict[str, Any]:
    """The options migrations/env.py configures its migration context with (``include_name`` among
    them), captured by running the environment without migrating anything."""
    config = migrations.alembic_config(url)
    script = ScriptDirectory.from_config(config)
    captured: dict[str, Any] = {}

    def capture(_revision: Any, context: MigrationContext) -> list[Any]:
        captured.update(context.opts)
        return []

    with EnvironmentContext(config, script, fn=capture):
        script.run_env()
    return captured


def inspect_db(url: str, fn: Callable[[Connection], T]) -> T:
    async def run() -> T:
        engine = create_async_engine(url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(fn)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def table_names(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def index_names(conn: Connection) -> set[str]:
    inspector = inspect(conn)
    return {index["name"] for table in TABLES for index in inspector.get_indexes(table) if index["name"]}


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def differences(url: str, filtered: bool = True) -> list[Any]:
    """What autogenerate would change to make the database match the models."""
    options = {"compare_type": True, "compare_server_default": True}
    if filtered:
        options["include_name"] = env_options(url)["include_name"]

    def compare(conn: Connection) -> list[Any]:
        return list(compare_metadata(MigrationContext.configure(conn, opts=options), Base.metadata))

    return inspect_db(url, compare)


def test_env_filter_skips_only_the_search_machinery(fresh_database_url: str) -> None:
    include_name = env_options(fresh_database_url)["include_name"]
    assert not include_name("package_fts", "table", {})
    assert not include_name("grid_fts_data", "table", {})
    assert not include_name("ix_package_search", "index", {})
    assert not include_name("ix_grid_search", "index", {})
    assert include_name("package", "table", {})
    assert include_name("ix_package_title", "index", {})


def test_upgrade_creates_the_schema(fresh_database_url: str, backend: str) -> None:
    migrations.upgrade(fresh_database_url)

    tables = inspect_db(fresh_database_url, table_names)
    assert tables >= TABLES | {"alembic_version"}
    if backend == "sqlite":
        assert {"package_fts", "grid_fts"} <= tables
    indexes = inspect_db(fresh_database_url, index_names)
    assert {"ix_package_title", "ix_grid_package_package_id", "uq_package_repo_url"} <= indexes
    if backend == "postgresql":
        assert {"ix_package_search", "ix_grid_search"} <= indexes
    assert inspect_db(fresh_database_url, current_revision) == migrations.head_revision()


def test_models_and_migrations_agree(fresh_database_url: str, backend: str) -> None:
    migrations.upgrade(fresh_database_url)
    assert differences(fresh_database_url) == []
    # `alembic check` runs env.py's own autogenerate configuration and raises on any difference.
    command.check(migrations.alembic_config(fresh_database_url))

    # The comparison has teeth: unfiltered, it sees exactly the search machinery the models lack.
    unfiltered = differences(fresh_database_url, filtered=False)
    removed = {(diff[0], diff[1].name) for diff in unfiltered if isinstance(diff, tuple)}
    if backend == "sqlite":
        assert ("remove_table", "package_fts") in removed
        assert ("remove_table", "grid_fts") in removed
    else:
        assert removed == {("remove_index", "ix_package_search"), ("remove_index", "ix_grid_search")}
    assert all(
        name.startswith(("package_fts", "grid_fts", "ix_package_search", "ix_grid_search"))
        for _, name in removed
    )


def test_downgrade_to_base_then_upgrade_again(fresh_database_url: str, backend: str) -> None:
    migrations.upgrade(fresh_database_url)
    command.downgrade(migrations.alembic_config(fresh_database_url), "base")

    assert inspect_db(fresh_database_url, table_names) <= {"alembic_version"}
    assert inspect_db(fresh_database_url, current_revision) is None

    migrations.upgrade(fresh_database_url)
    assert inspect_db(fresh_database_url, table_names) >= TABLES
    assert inspect_db(fresh_database_url, current_revision) == migrations.head_revision()
    assert differences(fresh_database_url) == []


def test_upgrade_is_idempotent(fresh_database_url: str) -> None:
    migrations.upgrade(fresh_database_url)
    migrations.upgrade(fresh_database_url)
    assert inspect_db(fresh_database_url, current_revision) == migrations.head_revision()


def test_head_revision_is_the_only_head() -> None:
    heads = ScriptDirectory.from_config(migrations.alembic_config()).get_heads()
    assert heads == [migrations.head_revision()]
    assert migrations.head_revision() == "0004"
