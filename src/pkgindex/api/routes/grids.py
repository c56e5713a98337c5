from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response

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
from pkgindex.api.presenters import present_grid, present_page
from pkgindex.api.problems import problem_responses
from pkgindex.models import Grid
from pkgindex.repositories.grids import GridReader, GridRepository
from pkgindex.schemas.common import Page, Representation
from pkgindex.schemas.grid import GridRead, GridUpdate, GridWrite
from pkgindex.services.editing import Editor

router = APIRouter(prefix="/grids", tags=["grids"], route_class=BodyLimitRoute)

WRITABLE = {"title", "slug", "description", "is_locked", "packages", "header"}
CHANGE_ERRORS = problem_responses(400, 401, 403, 404, 409, 412, 413, 415, 422)
READ_ERRORS = problem_responses(400, 404)
MEMBERS_HELP = " A package that joins the grid lists it last among its grids."


@router.get(
    "/", response_model=Page[GridRead], summary="List grids", responses={**READ_RESPONSES, **READ_ERRORS}
)
async def list_grids(
    request: Request, links: LinksDep, zone: ZoneDep, page: PageDep, if_none_match: IfNoneMatch = None
) -> Response:
    async with read_connection(request) as connection:
        count, grids = await GridReader(connection).list_page(page.limit, page.offset)
    following, preceding = page.links(request, count)
    listing = present_page(
        count,
        following,
        preceding,
        [present_grid(grid, package_ids, links, zone) for grid, package_ids in grids],
    )
    return read_response(listing, if_none_match)


async def represent(session: SessionDep, grid: Grid, links: Links, zone: ZoneInfo) -> Representation:
    package_ids = await GridRepository(session).package_ids([grid.id])
    return present_grid(grid, package_ids[grid.id], links, zone)


@router.get(
    "/{ref}/",
    response_model=GridRead,
    summary="Get a grid by id or slug",
    responses={**READ_RESPONSES, **READ_ERRORS},
)
async def get_grid(
    ref: str, request: Request, links: LinksDep, zone: ZoneDep, if_none_match: IfNoneMatch = None
) -> Response:
    async with read_connection(request) as connection:
        grid, package_ids = await GridReader(connection).read(ref)
    return read_response(present_grid(grid, package_ids, links, zone), if_none_match)


@router.post(
    "/",
    status_code=201,
    response_model=GridRead,
    summary="Create a grid",
    description=WRITE_DESCRIPTION + MEMBERS_HELP,
    responses={**CREATED_RESPONSE, **problem_responses(400, 401, 403, 409, 413, 415, 422)},
)
async def create_grid(
    body: GridWrite,
    caller: WriterDep,
    _json: Annotated[None, Depends(require_json)],
    session: SessionDep,
    links: LinksDep,
    zone: ZoneDep,
) -> Response:
    grid = await Editor(session, caller.token_name).create_grid(body.model_dump(include=WRITABLE))
    location = links.grid(grid.id)
    return written_response(await represent(session, grid, links, zone), 201, {"Location": location})


async def change_grid(
    ref: str,
    values: dict[str, Any],
    by: str,
    if_match: str | None,
    session: SessionDep,
    links: Links,
    zone: ZoneInfo,
) -> Response:
    grid = await GridRepository(session).get_for_update(ref)
    require_current(if_match, await represent(session, grid, links, zone))
    await Editor(session, by).change_grid(grid, values)
    return written_response(await represent(session, grid, links, zone))


@router.put(
    "/{ref}/",
    response_model=GridRead,
    summary="Replace a grid",
    description=WRITE_DESCRIPTION + " Fields left out take their defaults (no `packages`: no members); "
    "a GET body sent back changes nothing." + MEMBERS_HELP,
    responses={**CHANGED_RESPONSE, **CHANGE_ERRORS},
)
async def replace_grid(
    ref: str,
    body: GridWrite,
    caller: WriterDep,
    _json: Annotated[None, Depends(require_json)],
    session: SessionDep,
    links: LinksDep,
    zone: ZoneDep,
    if_match: IfMatch = None,
) -> Response:
    values = body.model_dump(include=WRITABLE)
    return await change_grid(ref, values, caller.token_name, if_match, session, links, zone)


@router.patch(
    "/{ref}/",
    response_model=GridRead,
    summary="Change some fields of a grid",
    description=WRITE_DESCRIPTION + " Only the fields given change." + MEMBERS_HELP,
    responses={**CHANGED_RESPONSE, **CHANGE_ERRORS},
)
async def update_grid(
    ref: str,
    body: GridUpdate,
    caller: WriterDep,
    _json: Annotated[None, Depends(require_patch_json)],
    session: SessionDep,
    links: LinksDep,
    zone: ZoneDep,
    if_match: IfMatch = None,
) -> Response:
    values = body.model_dump(include=WRITABLE, exclude_unset=True)
    return await change_grid(ref, values, caller.token_name, if_match, session, links, zone)


@router.delete(
    "/{ref}/",
    status_code=204,
    summary="Delete a grid",
    description="Needs a token with the `write` scope. Its packages stay, without this grid.",
    responses=problem_responses(400, 401, 403, 404, 412),
)
async def delete_grid(
    ref: str, caller: WriterDep, session: SessionDep, links: LinksDep, zone: ZoneDep, if_match: IfMatch = None
) -> Response:
    grid = await GridRepository(session).get_for_update(ref)
    if if_match is not None:
        require_current(if_match, await represent(session, grid, links, zone))
    await Editor(session, caller.token_name).delete_grid(grid)
    return Response(status_code=204)
