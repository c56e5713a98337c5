import re
from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request, Response

from pkgindex.api.auth import WriterDep
from pkgindex.api.deps import (
    WRITE_DESCRIPTION,
    BodyLimitRoute,
    Links,
    LinksDep,
    PageDep,
    SessionDep,
    ZoneDep,
    read_connection,
    require_json,
    require_patch_json,
)
from pkgindex.api.etags import (
    CHANGED_RESPONSE,
    CREATED_RESPONSE,
    READ_RESPONSES,
    IfMatch,
    IfNoneMatch,
    read_response,
    require_current,
    written_response,
)
from pkgindex.api.presenters import present_package, present_page
from pkgindex.api.problems import problem_responses
from pkgindex.errors import InvalidQuery
from pkgindex.models import Package
from pkgindex.repositories.packages import (
    ORDERING_FIELDS,
    PackageFilter,
    PackageReader,
    PackageRepository,
    parse_ordering,
)
from pkgindex.schemas.common import Page, Representation
from pkgindex.schemas.package import PackageRead, PackageUpdate, PackageWrite
from pkgindex.services.editing import Editor

router = APIRouter(prefix="/packages", tags=["packages"], route_class=BodyLimitRoute)

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


WRITABLE = {"category", "grids", "title", "slug", "repo_url", "pypi_url", "documentation_url"}
CHANGE_ERRORS = problem_responses(400, 401, 403, 404, 409, 412, 413, 415, 422)
READ_ERRORS = problem_responses(400, 404)


@router.get(
    "/",
    response_model=Page[PackageRead],
    summary="List packages",
    responses={**READ_RESPONSES, **READ_ERRORS},
)
async def list_packages(
    request: Request,
    links: LinksDep,
    zone: ZoneDep,
    page: PageDep,
    if_none_match: IfNoneMatch = None,
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
) -> Response:
    where = PackageFilter(
        category=given(category),
        grid=given(grid),
        q=given(q),
        modified_after=parse_timestamp("modified_after", given(modified_after)),
    )
    async with read_connection(request) as connection:
        reader = PackageReader(connection)
        count, packages = await reader.list_page(where, parse_ordering(ordering), page.limit, page.offset)
    following, preceding = page.links(request, count)
    listing = present_page(
        count,
        following,
        preceding,
        [present_package(package, grid_ids, links, zone) for package, grid_ids in packages],
    )
    return read_response(listing, if_none_match)


async def represent(session: SessionDep, package: Package, links: Links, zone: ZoneInfo) -> Representation:
    grid_ids = await PackageRepository(session).grid_ids([package.id])
    return present_package(package, grid_ids[package.id], links, zone)


@router.get(
    "/{ref}/",
    response_model=PackageRead,
    summary="Get a package by id or slug",
    responses={**READ_RESPONSES, **READ_ERRORS},
)
async def get_package(
    ref: str, request: Request, links: LinksDep, zone: ZoneDep, if_none_match: IfNoneMatch = None
) -> Response:
    async with read_connection(request) as connection:
        package, grid_ids = await PackageReader(connection).read(ref)
    return read_response(present_package(package, grid_ids, links, zone), if_none_match)


@router.post(
    "/",
    status_code=201,
    response_model=PackageRead,
    summary="Create a package",
    description=WRITE_DESCRIPTION + " A new package has no stats yet and is due for a refresh.",
    responses={**CREATED_RESPONSE, **problem_responses(400, 401, 403, 409, 413, 415, 422)},
)
async def create_package(
    body: PackageWrite,
    caller: WriterDep,
    _json: Annotated[None, Depends(require_json)],
    session: SessionDep,
    links: LinksDep,
    zone: ZoneDep,
) -> Response:
    package = await Editor(session, caller.token_name).create_package(body.model_dump(include=WRITABLE))
    location = links.package(package.id)
    return written_response(await represent(session, package, links, zone), 201, {"Location": location})


async def change_package(
    ref: str,
    values: dict[str, Any],
    by: str,
    if_match: str | None,
    session: SessionDep,
    links: Links,
    zone: ZoneInfo,
) -> Response:
    package = await PackageRepository(session).get_for_update(ref)
    require_current(if_match, await represent(session, package, links, zone))
    await Editor(session, by).change_package(package, values)
    return written_response(await represent(session, package, links, zone))


@router.put(
    "/{ref}/",
    response_model=PackageRead,
    summary="Replace a package",
    description=WRITE_DESCRIPTION + " Fields left out take their defaults; a GET body sent back changes "
    "nothing. A new repo_url or pypi_url clears the stats from the old one and schedules a refresh.",
    responses={**CHANGED_RESPONSE, **CHANGE_ERRORS},
)
async def replace_package(
    ref: str,
    body: PackageWrite,
    caller: WriterDep,
    _json: Annotated[None, Depends(require_json)],
    session: SessionDep,
    links: LinksDep,
    zone: ZoneDep,
    if_match: IfMatch = None,
) -> Response:
    values = body.model_dump(include=WRITABLE)
    return await change_package(ref, values, caller.token_name, if_match, session, links, zone)


@router.patch(
    "/{ref}/",
    response_model=PackageRead,
    summary="Change some fields of a package",
    description=WRITE_DESCRIPTION + " Only the fields given change. A new repo_url or pypi_url clears the "
    "stats from the old one and schedules a refresh.",
    responses={**CHANGED_RESPONSE, **CHANGE_ERRORS},
)
async def update_package(
    ref: str,
    body: PackageUpdate,
    caller: WriterDep,
    _json: Annotated[None, Depends(require_patch_json)],
    session: SessionDep,
    links: LinksDep,
    zone: ZoneDep,
    if_match: IfMatch = None,
) -> Response:
    values = body.model_dump(include=WRITABLE, exclude_unset=True)
    return await change_package(ref, values, caller.token_name, if_match, session, links, zone)


@router.delete(
    "/{ref}/",
    status_code=204,
    summary="Delete a package",
    description="Needs a token with the `write` scope. The package leaves its grids.",
    responses=problem_responses(400, 401, 403, 404, 412),
)
async def delete_package(
    ref: str, caller: WriterDep, session: SessionDep, links: LinksDep, zone: ZoneDep, if_match: IfMatch = None
) -> Response:
    package = await PackageRepository(session).get_for_update(ref)
    if if_match is not None:
        require_current(if_match, await represent(session, package, links, zone))
    await Editor(session, caller.token_name).delete_package(package)
    return Response(status_code=204)
