"""The data version: one number that every change to what the GETs serve increases, for the response
cache (see pkgindex.models.version).

On PostgreSQL a deferred constraint trigger bumps it at commit, once per transaction: taking the row lock
on the version last, at commit, means no writer ever waits for it while holding other rows, so it adds no
deadlock. SQLite has one writer at a time; plain row triggers do.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in pkgindex.models.version (a migration does not import the models, which will move on).
VERSIONED_TABLES = ("category", "grid", "package", "grid_package", "package_refresh")
EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "data_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("bumped_by", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_data_version")),
    )
    op.execute("INSERT INTO data_version (id, version) VALUES (1, 1)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION bump_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE data_version SET version = version + 1, bumped_by = txid_current()
                WHERE id = 1 AND bumped_by IS DISTINCT FROM txid_current();
                RETURN NULL;
            END
            $$
            """
        )
        for table in VERSIONED_TABLES:
            op.execute(
                f"CREATE CONSTRAINT TRIGGER bump_data_version AFTER {' OR '.join(EVENTS)} ON {table} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_data_version()"
            )
    else:
        for table in VERSIONED_TABLES:
            for event in EVENTS:
                op.execute(
                    f"CREATE TRIGGER bump_data_version_{table}_{event.lower()} AFTER {event} ON {table} "
                    "BEGIN UPDATE data_version SET version = version + 1 WHERE id = 1; END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in VERSIONED_TABLES:
            op.execute(f"DROP TRIGGER bump_data_version ON {table}")
        op.execute("DROP FUNCTION bump_data_version()")
    else:
        for table in VERSIONED_TABLES:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER bump_data_version_{table}_{event.lower()}")
    op.drop_table("data_version")
