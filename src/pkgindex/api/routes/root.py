from fastapi import APIRouter
from pydantic import BaseModel

from pkgindex.api.deps import LinksDep

router = APIRouter(tags=["root"])


class ApiRoot(BaseModel):
    packages: str
    search: str
    grids: str
    categories: str


@router.get("/", response_model=ApiRoot, summary="Links to every collection")
async def get_api_root(links: LinksDep) -> ApiRoot:
    return ApiRoot(
        packages=links.collection("packages"),
        search=links.collection("search"),
        grids=links.collection("grids"),
        categories=links.collection("categories"),
    )
