"""ORM models; importing this package registers every table on ``Base.metadata``."""

from pkgindex.models.base import Base, UTCDateTime
from pkgindex.models.category import Category
from pkgindex.models.grid import Grid, grid_package
from pkgindex.models.package import Package
from pkgindex.models.refresh import PackageRefresh
from pkgindex.models.token import ApiToken
from pkgindex.models.version import VERSIONED_TABLES, DataVersion

__all__ = [
    "VERSIONED_TABLES",
    "ApiToken",
    "Base",
    "Category",
    "DataVersion",
    "Grid",
    "Package",
    "PackageRefresh",
    "UTCDateTime",
    "grid_package",
]
