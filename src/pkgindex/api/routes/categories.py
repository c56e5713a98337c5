from fastapi import APIRouter, Request

from pkgindex.api.deps import PageDep, SessionDep, ZoneDep
from pkgindex.api.presenters import present_category
from pkgindex.repositories.categories import CategoryRepository
from pkgindex.schemas.category import CategoryRead
from pkgindex.schemas.common import Page

router = APIRouter(prefix="/categories", tags=["categories"])


@router.get("/", response_model=Page[CategoryRead], summary="List categories")
async def list_categories(
    request: Request, session: SessionDep, zone: ZoneDep, page: PageDep
) -> Page[CategoryRead]:
    count, categories = await CategoryRepository(session).list_page(page.limit, page.offset)
    following, preceding = page.links(request, count)
    return Page[CategoryRead](
        count=count,
        next=following,
        previous=preceding,
        results=[present_category(category, zone) for category in categories],
    )


@router.get("/{ref}/", response_model=CategoryRead, summary="Get a category by id or slug")
async def get_category(ref: str, session: SessionDep, zone: ZoneDep) -> CategoryRead:
    return present_category(await CategoryRepository(session).get(ref), zone)
