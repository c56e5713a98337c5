import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from pkgindex.api.deps import LinksDep, PageDep, SessionDep, ZoneDep
from pkgindex.api.presenters import present_package
from pkgindex.errors import InvalidQuery
from pkgindex.repositories.packages import ORDERING_FIELDS, PackageFilter, PackageRepository, parse_ordering
from pkgindex.schemas.common import Page
from pkgindex.schemas.package import PackageRead

router = APIRouter(prefix="/packages", tags=["packages"])

ORDERING_HELP = (
    "Comma-separated fields to order by, each optionally prefixed with '-' for descending: "
    + ", ".join(ORDERING_FIELDS)
    + ". Default -id."
)


# A '+' left unescaped in a query string arrives as a space: " 05:00" at the end is "+05:00".
_SPACED_OFFSET = re.compile(r" (\d{2}(?::?\d{2})?)$")


def parse_timestamp(field: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    text = _SPACED_OFFSET.sub(r"+\1", value.strip())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidQuery(field, f"{value!r} is not an RFC 3339 timestamp") from None
    if parsed.tzinfo is None:
        raise InvalidQuery(field, f"{value!r} has no UTC offset (add Z or +HH:MM)")
    try:
        parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidQuery(field, f"{value!r} is out of range") from None
    return parsed


def given(value: str | None) -> str | None:
    """An empty filter is no filter, as the original's filters treat it."""
    return value if value is not None and value.strip() else None


@router.get("/", response_model=Page[PackageRead], summary="List packages")
async def list_packages(
    request: Request,
    session: SessionDep,
    links: LinksDep,
    zone: ZoneDep,
    page: PageDep,
    category: Annotated[str | None, Query(description="Only this category (id or slug).")] = None,
    grid: Annotated[str | None, Query(description="Only packages in this grid (id or slug).")] = None,
    q: Annotated[
        str | None,
        Query(description="Only packages whose title, slug or description contain every word (as a prefix)."),
    ] = None,
    modified_after: Annotated[
        str | None,
        Query(
            description="Only packages modified strictly after this RFC 3339 timestamp, for incremental sync."
        ),
    ] = None,
    ordering: Annotated[str | None, Query(description=ORDERING_HELP)] = None,
) -> Page[PackageRead]:
    repository = PackageRepository(session)
    where = PackageFilter(
        category=given(category),
        grid=given(grid),
        q=given(q),
        modified_after=parse_timestamp("modified_after", given(modified_after)),
    )
    count, packages = await repository.list_page(where, parse_ordering(ordering), page.limit, page.offset)
    grid_ids = await repository.grid_ids(package.id for package in packages)
    following, preceding = page.links(request, count)
    return Page[PackageRead](
        count=count,
        next=following,
        previous=preceding,
        results=[present_package(package, grid_ids[package.id], links, zone) for package in packages],
    )


@router.get("/{ref}/", response_model=PackageRead, summary="Get a package by id or slug")
async def get_package(ref: str, session: SessionDep, links: LinksDep, zone: ZoneDep) -> PackageRead:
    repository = PackageRepository(session)
    package = await repository.get(ref)
    grid_ids = await repository.grid_ids([package.id])
    return present_package(package, grid_ids[package.id], links, zone)
