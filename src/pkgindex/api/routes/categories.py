from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request, Response

from pkgindex.api.auth import WriterDep
from pkgindex.api.deps import (
    WRITE_DESCRIPTION,
    BodyLimitRoute,
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
from pkgindex.api.presenters import present_category, present_page
from pkgindex.api.problems import problem_responses
from pkgindex.repositories.categories import CategoryReader, CategoryRepository
from pkgindex.schemas.category import CategoryRead, CategoryUpdate, CategoryWrite
from pkgindex.schemas.common import Page
from pkgindex.services.editing import Editor

router = APIRouter(prefix="/categories", tags=["categories"], route_class=BodyLimitRoute)

WRITABLE = {"title", "slug", "description", "title_plural", "show_pypi"}
CHANGE_ERRORS = problem_responses(400, 401, 403, 404, 409, 412, 413, 415, 422)
READ_ERRORS = problem_responses(400, 404)


@router.get(
    "/",
    response_model=Page[CategoryRead],
    summary="List categories",
    responses={**READ_RESPONSES, **READ_ERRORS},
)
async def list_categories(
    request: Request, zone: ZoneDep, page: PageDep, if_none_match: IfNoneMatch = None
) -> Response:
    async with read_connection(request) as connection:
        count, categories = await CategoryReader(connection).list_page(page.limit, page.offset)
    following, preceding = page.links(request, count)
    listing = present_page(
        count,
        following,
        preceding,
        [present_category(category, zone) for category in categories],
    )
    return read_response(listing, if_none_match)


@router.get(
    "/{ref}/",
    response_model=CategoryRead,
    summary="Get a category by id or slug",
    responses={**READ_RESPONSES, **READ_ERRORS},
)
async def get_category(
    ref: str, request: Request, zone: ZoneDep, if_none_match: IfNoneMatch = None
) -> Response:
    async with read_connection(request) as connection:
        category = await CategoryReader(connection).read(ref)
    return read_response(present_category(category, zone), if_none_match)


@router.post(
    "/",
    status_code=201,
    response_model=CategoryRead,
    summary="Create a category",
    description=WRITE_DESCRIPTION,
    responses={**CREATED_RESPONSE, **problem_responses(400, 401, 403, 409, 413, 415, 422)},
)
async def create_category(
    body: CategoryWrite,
    caller: WriterDep,
    _json: Annotated[None, Depends(require_json)],
    session: SessionDep,
    links: LinksDep,
    zone: ZoneDep,
) -> Response:
    category = await Editor(session, caller.token_name).create_category(body.model_dump(include=WRITABLE))
    location = links.category(category.id)
    return written_response(present_category(category, zone), 201, {"Location": location})


async def change_category(
    ref: str, values: dict[str, Any], by: str, if_match: str | None, session: SessionDep, zone: ZoneInfo
) -> Response:
    category = await CategoryRepository(session).get_for_update(ref)
    require_current(if_match, present_category(category, zone))
    await Editor(session, by).change_category(category, values)
    return written_response(present_category(category, zone))


@router.put(
    "/{ref}/",
    response_model=CategoryRead,
    summary="Replace a category",
    description=WRITE_DESCRIPTION + " Fields left out take their defaults; a GET body sent back changes "
    "nothing.",
    responses={**CHANGED_RESPONSE, **CHANGE_ERRORS},
)
async def replace_category(
    ref: str,
    body: CategoryWrite,
    caller: WriterDep,
    _json: Annotated[None, Depends(require_json)],
    session: SessionDep,
    zone: ZoneDep,
    if_match: IfMatch = None,
) -> Response:
    values = body.model_dump(include=WRITABLE)
    return await change_category(ref, values, caller.token_name, if_match, session, zone)


@router.patch(
    "/{ref}/",
    response_model=CategoryRead,
    summary="Change some fields of a category",
    description=WRITE_DESCRIPTION + " Only the fields given change.",
    responses={**CHANGED_RESPONSE, **CHANGE_ERRORS},
)
async def update_category(
    ref: str,
    body: CategoryUpdate,
    caller: WriterDep,
    _json: Annotated[None, Depends(require_patch_json)],
    session: SessionDep,
    zone: ZoneDep,
    if_match: IfMatch = None,
) -> Response:
    values = body.model_dump(include=WRITABLE, exclude_unset=True)
    return await change_category(ref, values, caller.token_name, if_match, session, zone)


@router.delete(
    "/{ref}/",
    status_code=204,
    summary="Delete a category",
    description="Needs a token with the `write` scope. Only an empty category can go (else 409).",
    responses=problem_responses(400, 401, 403, 404, 409, 412),
)
async def delete_category(
    ref: str, caller: WriterDep, session: SessionDep, zone: ZoneDep, if_match: IfMatch = None
) -> Response:
    category = await CategoryRepository(session).get_for_update(ref)
    require_current(if_match, present_category(category, zone))
    await Editor(session, caller.token_name).delete_category(category)
    return Response(status_code=204)
