from datetime import datetime

from sqlalchemy import Boolean, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pkgindex.models.base import Base, UTCDateTime


class Category(Base):
    __tablename__ = "category"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(50))
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    title_plural: Mapped[str] = mapped_column(String(50), default="")
    show_pypi: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime)
    modified: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Name of the API token that created / last modified the row; NULL for imported rows.
    created_by: Mapped[str | None] = mapped_column(String(100))
    modified_by: Mapped[str | None] = mapped_column(String(100))
