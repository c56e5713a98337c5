from fastapi import APIRouter, Request

from pkgindex.api.deps import LinksDep, PageDep, SessionDep, ZoneDep
from pkgindex.api.presenters import present_grid
from pkgindex.repositories.grids import GridRepository
from pkgindex.schemas.common import Page
from pkgindex.schemas.grid import GridRead

router = APIRouter(prefix="/grids", tags=["grids"])


@router.get("/", response_model=Page[GridRead], summary="List grids")
async def list_grids(
    request: Request, session: SessionDep, links: LinksDep, zone: ZoneDep, page: PageDep
) -> Page[GridRead]:
    repository = GridRepository(session)
    count, grids = await repository.list_page(page.limit, page.offset)
    package_ids = await repository.package_ids(grid.id for grid in grids)
    following, preceding = page.links(request, count)
    return Page[GridRead](
        count=count,
        next=following,
        previous=preceding,
        results=[present_grid(grid, package_ids[grid.id], links, zone) for grid in grids],
    )


@router.get("/{ref}/", response_model=GridRead, summary="Get a grid by id or slug")
async def get_grid(ref: str, session: SessionDep, links: LinksDep, zone: ZoneDep) -> GridRead:
    repository = GridRepository(session)
    grid = await repository.get(ref)
    package_ids = await repository.package_ids([grid.id])
    return present_grid(grid, package_ids[grid.id], links, zone)
