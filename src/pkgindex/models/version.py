from sqlalchemy import BigInteger
from sqlalchemy.orm import Mapped, mapped_column

from pkgindex.models.base import Base

# The tables whose rows the GETs serve: a change to any of them makes every cached answer stale.
VERSIONED_TABLES = ("category", "grid", "package", "grid_package", "package_refresh")


class DataVersion(Base):
    """One row (id 1) whose ``version`` grows with every transaction that changes a versioned table:
    triggers (migration 0004) bump it in that same transaction, whoever writes (the API, the refresher,
    an import, SQL by hand). An answer built at a version is still right while the version is the same,
    which is what the response cache (``api/cache.py``) relies on."""

    __tablename__ = "data_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)
    # PostgreSQL: the transaction that last bumped the version, so it bumps it once however many rows
    # it changes.
    bumped_by: Mapped[int | None] = mapped_column(BigInteger)
