"""ORM rows -> v4 representations: hyperlinks from the request, timestamps in the configured zone."""

from datetime import datetime
from zoneinfo import ZoneInfo

from pkgindex.api.deps import Links
from pkgindex.models import Category, Grid, Package
from pkgindex.schemas.category import CategoryRead
from pkgindex.schemas.grid import GridRead
from pkgindex.schemas.package import PackageRead
from pkgindex.schemas.search import SearchResult
from pkgindex.services.search import SearchHit


def in_zone(value: datetime, zone: ZoneInfo) -> datetime:
    return value.astimezone(zone)


def in_zone_or_none(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if value is None else value.astimezone(zone)


def present_package(package: Package, grid_ids: list[int], links: Links, zone: ZoneInfo) -> PackageRead:
    return PackageRead(
        category=links.category(package.category_id),
        grids=[links.grid(grid_id) for grid_id in grid_ids],
        id=package.id,
        title=package.title,
        slug=package.slug,
        last_updated=in_zone_or_none(package.last_updated, zone),
        last_fetched=in_zone_or_none(package.last_fetched, zone),
        repo_url=package.repo_url,
        pypi_version=package.pypi_version,
        created=in_zone(package.created, zone),
        modified=in_zone(package.modified, zone),
        repo_forks=package.repo_forks,
        repo_description=package.repo_description,
        pypi_url=package.pypi_url,
        documentation_url=package.documentation_url,
        repo_watchers=package.repo_watchers,
        commits_over_52=package.commits_over_52,
        participants=package.participants,
    )


def present_grid(grid: Grid, package_ids: list[int], links: Links, zone: ZoneInfo) -> GridRead:
    return GridRead(
        id=grid.id,
        title=grid.title,
        slug=grid.slug,
        description=grid.description,
        is_locked=grid.is_locked,
        packages=[links.package(package_id) for package_id in package_ids],
        header=grid.header,
        created=in_zone(grid.created, zone),
        modified=in_zone(grid.modified, zone),
    )


def present_category(category: Category, zone: ZoneInfo) -> CategoryRead:
    return CategoryRead(
        id=category.id,
        title=category.title,
        slug=category.slug,
        description=category.description,
        title_plural=category.title_plural,
        show_pypi=category.show_pypi,
        created=in_zone(category.created, zone),
        modified=in_zone(category.modified, zone),
    )


def present_search_hit(hit: SearchHit, zone: ZoneInfo) -> SearchResult:
    return SearchResult(
        description=hit.description,
        title=hit.title,
        created=in_zone(hit.created, zone),
        modified=in_zone(hit.modified, zone),
        weight=hit.weight,
        item_type="package" if hit.item_type == "package" else "grid",
        title_no_prefix=hit.title_no_prefix,
        slug=hit.slug,
        slug_no_prefix=hit.slug_no_prefix,
        clean_title=hit.clean_title,
        category=hit.category,
        absolute_url=hit.absolute_url,
        repo_watchers=hit.repo_watchers,
        repo_forks=hit.repo_forks,
        pypi_downloads=None,
        usage=None,
        participants=",".join(hit.participants),
        last_committed=in_zone_or_none(hit.last_committed, zone),
        last_released=None,
    )
