from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column

from pkgindex.models.base import Base, UTCDateTime

# Membership of packages in grids. A grid lists its packages by title (as the original does); a
# package lists its grids in the order it was given them, which ``position_in_package`` keeps.
grid_package = Table(
    "grid_package",
    Base.metadata,
    Column("grid_id", ForeignKey("grid.id", ondelete="CASCADE"), primary_key=True),
    Column("package_id", ForeignKey("package.id", ondelete="CASCADE"), primary_key=True, index=True),
    Column("position_in_package", Integer, nullable=False, default=0),
)


class Grid(Base):
    __tablename__ = "grid"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(100))
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    is_locked: Mapped[bool] = mapped_column(Boolean, default=False)
    header: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    modified: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Name of the API token that created / last modified the row; NULL for imported rows.
    created_by: Mapped[str | None] = mapped_column(String(100))
    modified_by: Mapped[str | None] = mapped_column(String(100))
