from typing import Annotated

from fastapi import APIRouter, Query, Response

from pkgindex.api.deps import SessionDep, ZoneDep
from pkgindex.api.etags import READ_RESPONSES, IfNoneMatch, read_response
from pkgindex.api.presenters import present_search_hit
from pkgindex.schemas.search import SearchResult
from pkgindex.services.search import MAX_RESULTS, search

router = APIRouter(prefix="/search", tags=["search"])


@router.get(
    "/",
    response_model=list[SearchResult],
    summary="Search packages and grids",
    description=f"A plain list (no envelope) of at most {MAX_RESULTS} hits, highest `weight` first. "
    "An exact title or slug match always comes first.",
    responses=READ_RESPONSES,
)
async def search_packages_and_grids(
    session: SessionDep,
    zone: ZoneDep,
    q: Annotated[str, Query(max_length=200, description="Words to look for.")] = "",
    if_none_match: IfNoneMatch = None,
) -> Response:
    hits = [present_search_hit(hit, zone) for hit in await search(session, q)]
    return read_response(hits, if_none_match)
