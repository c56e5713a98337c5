"""The OpenAPI document and the documentation pages, in process (no database is touched).

The document is valid OpenAPI 3, documents every API route under a stable operation id, and names a
server only when the app runs under a path prefix. ``/docs`` and ``/redoc`` load every script,
stylesheet and icon from pkgindex itself (a closed network has no CDN), under the prefix too, and those
assets answer with their content type and long-lived caching. ``tests/test_docs_browser.py`` checks the
same pages in a real browser.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from openapi_spec_validator import validate

from pkgindex.api.docs import ASSET_CACHE_CONTROL
from pkgindex.config import Settings
from pkgindex.main import create_app

PREFIX = "/pkgindex"
CONTENT_TYPES = {
    ".js": ("text/javascript", "application/javascript"),
    ".css": ("text/css",),
    ".png": ("image/png",),
}


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    # ASGITransport runs no lifespan, so no engine is made: the docs need no database.
    return create_app(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.db'}"))


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://docs.test"
    ) as client:
        yield client


@pytest.fixture
async def prefixed_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app as served behind a proxy that mounts it under PREFIX (ASGI root_path; the request path
    includes it, as uvicorn ``--root-path`` makes it)."""
    transport = httpx.ASGITransport(app=app, root_path=PREFIX)
    async with httpx.AsyncClient(transport=transport, base_url="http://docs.test") as client:
        yield client


async def get_spec(client: httpx.AsyncClient, url: str = "/openapi.json") -> dict[str, Any]:
    response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    return dict(response.json())


@dataclass(frozen=True)
class ApiRoute:
    path: str
    methods: frozenset[str]
    endpoint: str
    include_in_schema: bool


def api_routes(app: FastAPI) -> list[ApiRoute]:
    """Every API route of the app, with its full path (the router prefixes applied)."""
    try:  # FastAPI >= 0.16x keeps included routers whole and resolves their routes lazily
        from fastapi.routing import iter_route_contexts

        routes: list[Any] = list(iter_route_contexts(app.routes))
        original = [route.original_route for route in routes]
    except ImportError:
        routes = original = list(app.routes)
    return [
        ApiRoute(route.path, frozenset(route.methods), route.endpoint.__name__, bool(api.include_in_schema))
        for route, api in zip(routes, original, strict=True)
        if isinstance(api, APIRoute)
    ]


async def test_the_document_is_valid_openapi_3(client: httpx.AsyncClient) -> None:
    spec = await get_spec(client)
    assert spec["openapi"].startswith("3.")
    validate(spec)  # raises on any violation of the OpenAPI schema or of $ref resolution
    assert spec["info"]["title"] == "pkgindex"
    assert spec["info"]["description"]


async def test_every_route_is_documented(app: FastAPI, client: httpx.AsyncClient) -> None:
    spec = await get_spec(client)
    documented = {
        (path, method.upper()) for path, operations in spec["paths"].items() for method in operations
    }
    routes = {(route.path, method) for route in api_routes(app) for method in route.methods}
    assert routes
    assert all(route.include_in_schema for route in api_routes(app)), "an API route is hidden"
    assert documented == routes
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method.upper()} {path}"
            assert operation.get("summary"), f"{where} has no summary"
            assert operation.get("tags"), f"{where} has no tag"
            assert any(status.startswith("2") for status in operation["responses"]), where


async def test_operation_ids_are_stable(app: FastAPI, client: httpx.AsyncClient) -> None:
    """An operation's id is its route function's name (generated clients keep their method names),
    unique across the document."""
    spec = await get_spec(client)
    ids = [
        operation["operationId"] for operations in spec["paths"].values() for operation in operations.values()
    ]
    assert len(ids) == len(set(ids))
    for route in api_routes(app):
        for method in route.methods:
            assert spec["paths"][route.path][method.lower()]["operationId"] == route.endpoint
    read = {"get_api_root", "list_packages", "get_package", "list_categories", "get_category"}
    assert read | {"list_grids", "get_grid", "search_packages_and_grids"} <= set(ids)
    # The same document twice: nothing in it depends on the order or time it was built.
    assert await get_spec(client) == spec


async def test_servers_are_named_only_under_a_path_prefix(
    client: httpx.AsyncClient, prefixed_client: httpx.AsyncClient
) -> None:
    assert "servers" not in await get_spec(client)
    prefixed = await get_spec(prefixed_client, f"{PREFIX}/openapi.json")
    assert prefixed["servers"] == [{"url": PREFIX}]
    validate(prefixed)
    # The prefix of one request does not leak into the document served to the next.
    assert "servers" not in await get_spec(client)


class Assets(HTMLParser):
    """The URLs a page loads: script ``src`` and link ``href`` (stylesheets, icons)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {"script": "src", "link": "href", "img": "src", "iframe": "src"}
        for name, value in attrs:
            if tag in names and name == names[tag] and value:
                self.urls.append(value)


def page_assets(html: str) -> list[str]:
    parser = Assets()
    parser.feed(html)
    return parser.urls


@pytest.mark.parametrize(("page", "scripts"), [("/docs", 1), ("/redoc", 1)])
@pytest.mark.parametrize("prefix", ["", PREFIX])
async def test_docs_pages_load_only_their_own_assets(
    client: httpx.AsyncClient, prefixed_client: httpx.AsyncClient, page: str, scripts: int, prefix: str
) -> None:
    http = prefixed_client if prefix else client
    response = await http.get(f"{prefix}{page}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    # Browsers enforce it: nothing from elsewhere runs or loads even if a bundle asks for it.
    assert "default-src 'self'" in response.headers["content-security-policy"]
    html = response.text
    assert f"{prefix}/openapi.json" in html

    urls = page_assets(html)
    assert len([url for url in urls if url.split("?")[0].endswith(".js")]) == scripts
    assert any(url.split("?")[0].endswith(".png") for url in urls), "no favicon"
    for url in urls:
        assert "//" not in url, f"{page} loads {url} from elsewhere"
        assert url.startswith(f"{prefix}/docs/static/"), url
        asset = await http.get(url)
        assert asset.status_code == 200, url
        suffix = Path(url.split("?")[0]).suffix
        assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], url
        assert asset.headers["cache-control"] == ASSET_CACHE_CONTROL
        assert int(asset.headers["content-length"]) > 1000
    assert "https://" not in html
    assert "http://" not in html


async def test_swagger_ui_loads_its_stylesheet_and_the_oauth2_redirect_page(
    client: httpx.AsyncClient,
) -> None:
    html = (await client.get("/docs")).text
    assert any(url.split("?")[0].endswith("/swagger-ui.css") for url in page_assets(html))
    # No online validator: Swagger UI would send the document to one by default.
    assert '"validatorUrl": null' in html
    assert "/docs/oauth2-redirect" in html

    redirect = await client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200
    assert redirect.headers["content-type"].startswith("text/html")
    assert "oauth2" in redirect.text.lower()


async def test_assets_are_revalidated_and_unknown_ones_are_404(client: httpx.AsyncClient) -> None:
    first = await client.get("/docs/static/swagger-ui-bundle.js")
    assert first.status_code == 200
    again = await client.get(
        "/docs/static/swagger-ui-bundle.js", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
    assert again.content == b""
    missing = await client.get("/docs/static/nothing-here.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert (await client.get("/docs/static/../../main.py")).status_code == 404


async def test_docs_pages_are_not_in_the_document(client: httpx.AsyncClient) -> None:
    paths = (await get_spec(client))["paths"]
    assert not [path for path in paths if path.startswith(("/docs", "/redoc", "/openapi"))]
