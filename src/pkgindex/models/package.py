from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from pkgindex.models.base import Base, UTCDateTime


class Package(Base):
    __tablename__ = "package"
    __table_args__ = (
        # Many packages have no repository; only a non-empty repo_url must be unique.
        Index(
            "uq_package_repo_url",
            "repo_url",
            unique=True,
            postgresql_where=text("repo_url <> ''"),
            sqlite_where=text("repo_url <> ''"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("category.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(100), index=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    repo_url: Mapped[str] = mapped_column(String(255), default="")
    pypi_url: Mapped[str] = mapped_column(String(255), default="")
    pypi_version: Mapped[str | None] = mapped_column(String(100))
    documentation_url: Mapped[str | None] = mapped_column(String(255))
    # Whether documentation_url came from PyPI (the refresher may replace it) rather than a person.
    documentation_url_from_pypi: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    repo_watchers: Mapped[int] = mapped_column(Integer, default=0, index=True)
    repo_forks: Mapped[int] = mapped_column(Integer, default=0, index=True)
    repo_description: Mapped[str] = mapped_column(String(500), default="")
    commits_over_52: Mapped[list[int]] = mapped_column(JSON, default=list)
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    last_updated: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_fetched: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    created: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    modified: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Name of the API token that created / last modified the row; NULL for imported rows.
    created_by: Mapped[str | None] = mapped_column(String(100))
    modified_by: Mapped[str | None] = mapped_column(String(100))
