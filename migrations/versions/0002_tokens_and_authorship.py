"""API tokens, and which token created and last modified each category, grid and package.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
AUTHORED_TABLES = ("category", "grid", "package")


def upgrade() -> None:
    op.create_table(
        "api_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scope", sa.String(length=10), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.Column("last_used", TIMESTAMP, nullable=True),
        sa.Column("revoked", TIMESTAMP, nullable=True),
        sa.CheckConstraint("scope IN ('write', 'admin')", name="ck_api_token_scope"),
        sa.PrimaryKeyConstraint("id", name="pk_api_token"),
        sa.UniqueConstraint("name", name="uq_api_token_name"),
        sa.UniqueConstraint("token_hash", name="uq_api_token_token_hash"),
    )
    # Plain ADD COLUMN on every backend (batch mode on SQLite does not need to copy the table for it,
    # which keeps the full-text triggers of package and grid untouched).
    for table in AUTHORED_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("created_by", sa.String(length=100), nullable=True))
            batch.add_column(sa.Column("modified_by", sa.String(length=100), nullable=True))


def downgrade() -> None:
    # Not in batch mode: on SQLite that would copy package and grid into new tables and lose their
    # full-text triggers. SQLite 3.35+ drops an unindexed column in place.
    for table in AUTHORED_TABLES:
        op.drop_column(table, "modified_by")
        op.drop_column(table, "created_by")
    op.drop_table("api_token")
