"""Stored rows -> v4 representations: hyperlinks from the request, timestamps in the configured zone.

A representation is a JSON-ready dict with the fields of its read schema (``PackageRead`` and so on,
which document it in OpenAPI), in the same order. orjson renders it without validating it again (about
300 µs of CPU less per package detail than building and dumping a model; bench/README.md). A row is an
ORM object (after a write) or a Core row of the same columns (reads, which skip the ORM)."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row

from pkgindex.api.deps import Links
from pkgindex.models import Category, Grid, Package
from pkgindex.schemas.common import Representation, render_timestamp
from pkgindex.services.search import SearchHit


def in_zone_or_none(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    return None if value is None else value.astimezone(zone)


def timestamp(value: datetime, zone: ZoneInfo) -> str:
    return render_timestamp(value.astimezone(zone))


def timestamp_or_none(value: datetime | None, zone: ZoneInfo) -> str | None:
    return None if value is None else render_timestamp(value.astimezone(zone))


def present_page(
    count: int, following: str | None, preceding: str | None, results: list[Representation]
) -> Representation:
    """The ``Page`` envelope."""
    return {"count": count, "next": following, "previous": preceding, "results": results}


def present_package(
    package: Package | Row[Any], grid_ids: list[int], links: Links, zone: ZoneInfo
) -> Representation:
    """A ``PackageRead``."""
    return {
        "category": links.category(package.category_id),
        "grids": [links.grid(grid_id) for grid_id in grid_ids],
        "id": package.id,
        "title": package.title,
        "slug": package.slug,
        "last_updated": timestamp_or_none(package.last_updated, zone),
        "last_fetched": timestamp_or_none(package.last_fetched, zone),
        "repo_url": package.repo_url,
        "pypi_version": package.pypi_version,
        "created": timestamp(package.created, zone),
        "modified": timestamp(package.modified, zone),
        "repo_forks": package.repo_forks,
        "repo_description": package.repo_description,
        "pypi_url": package.pypi_url,
        "documentation_url": package.documentation_url,
        "repo_watchers": package.repo_watchers,
        "commits_over_52": package.commits_over_52,
        "participants": package.participants,
    }


def present_grid(
    grid: Grid | Row[Any], package_ids: list[int], links: Links, zone: ZoneInfo
) -> Representation:
    """A ``GridRead``."""
    return {
        "id": grid.id,
        "title": grid.title,
        "slug": grid.slug,
        "description": grid.description,
        "is_locked": grid.is_locked,
        "packages": [links.package(package_id) for package_id in package_ids],
        "header": grid.header,
        "created": timestamp(grid.created, zone),
        "modified": timestamp(grid.modified, zone),
    }


def present_category(category: Category | Row[Any], zone: ZoneInfo) -> Representation:
    """A ``CategoryRead``."""
    return {
        "id": category.id,
        "title": category.title,
        "slug": category.slug,
        "description": category.description,
        "title_plural": category.title_plural,
        "show_pypi": category.show_pypi,
        "created": timestamp(category.created, zone),
        "modified": timestamp(category.modified, zone),
    }


def present_search_hit(hit: SearchHit, zone: ZoneInfo) -> Representation:
    """A ``SearchResult``."""
    return {
        "description": hit.description,
        "title": hit.title,
        "created": timestamp(hit.created, zone),
        "modified": timestamp(hit.modified, zone),
        "weight": hit.weight,
        "item_type": "package" if hit.item_type == "package" else "grid",
        "title_no_prefix": hit.title_no_prefix,
        "slug": hit.slug,
        "slug_no_prefix": hit.slug_no_prefix,
        "clean_title": hit.clean_title,
        "category": hit.category,
        "absolute_url": hit.absolute_url,
        "repo_watchers": hit.repo_watchers,
        "repo_forks": hit.repo_forks,
        "pypi_downloads": None,
        "usage": None,
        "participants": ",".join(hit.participants),
        "last_committed": timestamp_or_none(hit.last_committed, zone),
        "last_released": None,
    }
