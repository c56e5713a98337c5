"""The refresher's per-package state, and where each documentation_url came from.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "package_refresh",
        sa.Column("package_id", sa.Integer(), nullable=False),
        sa.Column("next_due", TIMESTAMP, nullable=False),
        sa.Column("lease_owner", sa.String(length=100), nullable=True),
        sa.Column("lease_expires", TIMESTAMP, nullable=True),
        sa.Column("last_attempt", TIMESTAMP, nullable=True),
        sa.Column("last_success", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", TIMESTAMP, nullable=True),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("skipped_reason", sa.Text(), nullable=True),
        sa.Column("repo_archived", sa.Boolean(), nullable=True),
        sa.Column("repo_moved_to", sa.String(length=255), nullable=True),
        sa.Column("repo_missing", sa.Boolean(), nullable=False),
        sa.Column("pypi_missing", sa.Boolean(), nullable=False),
        sa.Column("fetched_repo_url", sa.String(length=255), nullable=True),
        sa.Column("fetched_pypi_url", sa.String(length=255), nullable=True),
        sa.Column("etag_owner", sa.String(length=64), nullable=True),
        sa.Column("repo_etag", sa.String(length=255), nullable=True),
        sa.Column("contributors_etag", sa.String(length=255), nullable=True),
        sa.Column("activity_etag", sa.String(length=255), nullable=True),
        sa.Column("commits_etag", sa.String(length=255), nullable=True),
        sa.Column("pypi_etag", sa.String(length=255), nullable=True),
        sa.Column("pushed_at", TIMESTAMP, nullable=True),
        sa.Column("contributors_fetched", TIMESTAMP, nullable=True),
        sa.Column("activity_week", TIMESTAMP, nullable=True),
        sa.Column("activity_pending", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["package_id"],
            ["package.id"],
            name="fk_package_refresh_package_id_package",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("package_id", name="pk_package_refresh"),
    )
    op.create_index("ix_package_refresh_next_due", "package_refresh", ["next_due"])
    # Plain ADD COLUMN (see 0002): batch mode would copy package and lose its full-text triggers.
    op.add_column(
        "package",
        sa.Column("documentation_url_from_pypi", sa.Boolean(), server_default=sa.false(), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("package", "documentation_url_from_pypi")
    op.drop_index("ix_package_refresh_next_due", table_name="package_refresh")
    op.drop_table("package_refresh")
