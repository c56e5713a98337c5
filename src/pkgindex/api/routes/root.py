from fastapi import APIRouter, Response
from pydantic import BaseModel

from pkgindex.api.deps import LinksDep
from pkgindex.api.etags import READ_RESPONSES, IfNoneMatch, read_response

router = APIRouter(tags=["root"])


class ApiRoot(BaseModel):
    packages: str
    search: str
    grids: str
    categories: str


@router.get("/", response_model=ApiRoot, summary="Links to every collection", responses=READ_RESPONSES)
async def get_api_root(links: LinksDep, if_none_match: IfNoneMatch = None) -> Response:
    root = ApiRoot(
        packages=links.collection("packages"),
        search=links.collection("search"),
        grids=links.collection("grids"),
        categories=links.collection("categories"),
    )
    return read_response(root, if_none_match)
