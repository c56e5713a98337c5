"""Categories, grids, packages and grid membership, with full-text search.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


# Full-text documents, with ASCII punctuation turned into spaces so that `channels.redis` is two words
# (as SQLite's tokenizer sees it). repositories/search.py asks the very same expressions, which the
# planner needs to use these indexes.
def pg_document(description: str) -> str:
    text = f"coalesce(title, '') || ' ' || coalesce(slug, '') || ' ' || coalesce({description}, '')"
    return f"to_tsvector('simple', regexp_replace({text}, '[[:punct:]]+', ' ', 'g'))"


def sqlite_fts(table: str, text_column: str) -> list[str]:
    """An external-content FTS5 table over ``table`` and the triggers that keep it current (an update
    re-indexes the row only when an indexed column changes)."""
    fts = f"{table}_fts"
    columns = f"title, slug, {text_column}"
    new = f"new.id, new.title, new.slug, new.{text_column}"
    old = f"old.id, old.title, old.slug, old.{text_column}"
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({columns}, content='{table}', content_rowid='id')",
        f"CREATE TRIGGER {table}_fts_insert AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts}(rowid, {columns}) VALUES ({new}); END",
        f"CREATE TRIGGER {table}_fts_delete AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {columns}) VALUES ('delete', {old}); END",
        f"CREATE TRIGGER {table}_fts_update AFTER UPDATE OF id, {columns} ON {table} BEGIN "
        f"INSERT INTO {fts}({fts}, rowid, {columns}) VALUES ('delete', {old}); "
        f"INSERT INTO {fts}(rowid, {columns}) VALUES ({new}); END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]


def upgrade() -> None:
    op.create_table(
        "category",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=50), nullable=False),
        sa.Column("slug", sa.String(length=50), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("title_plural", sa.String(length=50), nullable=False),
        sa.Column("show_pypi", sa.Boolean(), nullable=False),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.Column("modified", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_category"),
        sa.UniqueConstraint("slug", name="uq_category_slug"),
    )
    op.create_index("ix_category_modified", "category", ["modified"])
    op.create_table(
        "grid",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("is_locked", sa.Boolean(), nullable=False),
        sa.Column("header", sa.Boolean(), nullable=False),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.Column("modified", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_grid"),
        sa.UniqueConstraint("slug", name="uq_grid_slug"),
    )
    op.create_index("ix_grid_modified", "grid", ["modified"])
    op.create_table(
        "package",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("repo_url", sa.String(length=255), nullable=False),
        sa.Column("pypi_url", sa.String(length=255), nullable=False),
        sa.Column("pypi_version", sa.String(length=100), nullable=True),
        sa.Column("documentation_url", sa.String(length=255), nullable=True),
        sa.Column("repo_watchers", sa.Integer(), nullable=False),
        sa.Column("repo_forks", sa.Integer(), nullable=False),
        sa.Column("repo_description", sa.String(length=500), nullable=False),
        sa.Column("commits_over_52", sa.JSON(), nullable=False),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("last_updated", TIMESTAMP, nullable=True),
        sa.Column("last_fetched", TIMESTAMP, nullable=True),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.Column("modified", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["category_id"], ["category.id"], name="fk_package_category_id_category", ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_package"),
        sa.UniqueConstraint("slug", name="uq_package_slug"),
    )
    for column in (
        "category_id",
        "title",
        "repo_watchers",
        "repo_forks",
        "last_updated",
        "last_fetched",
        "created",
        "modified",
    ):
        op.create_index(f"ix_package_{column}", "package", [column])
    op.create_index(
        "uq_package_repo_url",
        "package",
        ["repo_url"],
        unique=True,
        postgresql_where=sa.text("repo_url <> ''"),
        sqlite_where=sa.text("repo_url <> ''"),
    )
    op.create_table(
        "grid_package",
        sa.Column("grid_id", sa.Integer(), nullable=False),
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("position_in_package", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["grid_id"], ["grid.id"], name="fk_grid_package_grid_id_grid", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["package_id"], ["package.id"], name="fk_grid_package_package_id_package", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("grid_id", "package_id", name="pk_grid_package"),
    )
    op.create_index("ix_grid_package_package_id", "grid_package", ["package_id"])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE INDEX ix_package_search ON package USING gin ({pg_document('repo_description')})")
        op.execute(f"CREATE INDEX ix_grid_search ON grid USING gin ({pg_document('description')})")
    elif op.get_bind().dialect.name == "sqlite":
        for statement in sqlite_fts("package", "repo_description") + sqlite_fts("grid", "description"):
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in ("package", "grid"):
            for event in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{event}")
            op.execute(f"DROP TABLE IF EXISTS {table}_fts")
    op.drop_table("grid_package")
    op.drop_table("package")
    op.drop_table("grid")
    op.drop_table("category")
