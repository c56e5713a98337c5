from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pkgindex.models.base import Base, UTCDateTime


class PackageRefresh(Base):
    """The refresher's bookkeeping for one package, kept apart from the package's v4 representation.

    A package without a row has never been looked at and is due now; rows are created lazily by the
    refresher. ``lease_*`` let several workers on one PostgreSQL share the due packages: a worker takes
    rows with ``FOR UPDATE SKIP LOCKED`` and stamps a lease; a lease that outlives its worker expires.
    """

    __tablename__ = "package_refresh"

    package_id: Mapped[int] = mapped_column(ForeignKey("package.id", ondelete="CASCADE"), primary_key=True)
    next_due: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires: Mapped[datetime | None] = mapped_column(UTCDateTime)

    last_attempt: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    # Why part of the package was not fetched (e.g. a repository host without an adapter yet).
    skipped_reason: Mapped[str | None] = mapped_column(Text)

    # What upstream said about the repository, beyond the v4 fields.
    repo_archived: Mapped[bool | None] = mapped_column(Boolean)
    repo_moved_to: Mapped[str | None] = mapped_column(String(255))
    repo_missing: Mapped[bool] = mapped_column(Boolean, default=False)
    pypi_missing: Mapped[bool] = mapped_column(Boolean, default=False)

    # Conditional-request state. It is valid only for the URLs it was fetched for and, on GitHub, for
    # the token that got it (GitHub's ETags depend on the token): ``etag_owner`` fingerprints that token.
    fetched_repo_url: Mapped[str | None] = mapped_column(String(255))
    fetched_pypi_url: Mapped[str | None] = mapped_column(String(255))
    etag_owner: Mapped[str | None] = mapped_column(String(64))
    repo_etag: Mapped[str | None] = mapped_column(String(255))
    contributors_etag: Mapped[str | None] = mapped_column(String(255))
    activity_etag: Mapped[str | None] = mapped_column(String(255))
    commits_etag: Mapped[str | None] = mapped_column(String(255))
    pypi_etag: Mapped[str | None] = mapped_column(String(255))
    # When the repository was last pushed to, as of the last fetch: contributors and weekly activity
    # are fetched again only after a new push (or when older than the configured maximum age).
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    contributors_fetched: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Start (Sunday 00:00 UTC) of the week that is last in ``package.commits_over_52``: lets the
    # refresher shift the weekly counts of an idle repository without asking GitHub.
    activity_week: Mapped[datetime | None] = mapped_column(UTCDateTime)
    activity_pending: Mapped[bool] = mapped_column(Boolean, default=False)
