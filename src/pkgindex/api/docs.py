"""Swagger UI at ``/docs`` and ReDoc at ``/redoc``, with every script, stylesheet and icon served by
pkgindex itself (from the ``fastapi-offline`` package), so the docs work on a network with no internet.

The asset URLs are built from the request's ASGI ``root_path``, as FastAPI builds the OpenAPI URL, so the
pages also work behind a proxy that mounts pkgindex under a path prefix. The assets carry the version of
the package that ships them in their query string and are cached by browsers for a year.
"""

from importlib.metadata import version
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response
from starlette.types import Scope

DOCS_URL = "/docs"
REDOC_URL = "/redoc"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
STATIC_URL = "/docs/static"

# The package that ships the assets, and its folder of them.
ASSETS_PACKAGE = ("fastapi_offline", "static")
SWAGGER_JS = "swagger-ui-bundle.js"
SWAGGER_CSS = "swagger-ui.css"
REDOC_JS = "redoc.standalone.js"
FAVICON = "favicon.png"
ASSETS = (SWAGGER_JS, SWAGGER_CSS, REDOC_JS, FAVICON)

# A new release of the assets changes their URLs, so an old copy is never used again: cache for a year.
ASSETS_VERSION = version("fastapi-offline")
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"

SWAGGER_UI_PARAMETERS: dict[str, Any] = {
    # Swagger UI sends the document to an online validator by default: not in a closed network.
    "validatorUrl": None,
    "displayRequestDuration": True,
}

# What the pages may load: only pkgindex's own URLs (the inline bootstrap script and styles, the
# data: images the stylesheets embed, and the blob: workers ReDoc starts are part of the bundles).
DOCS_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'self'; base-uri 'self'; form-action 'self'"
)


class DocsAssets(StaticFiles):
    """The bundled assets, with a long-lived ``Cache-Control`` (StaticFiles already adds ``ETag``
    and ``Last-Modified`` and answers ``If-None-Match`` with 304)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            response.headers["Cache-Control"] = ASSET_CACHE_CONTROL
        return response


def _root_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def asset_url(request: Request, name: str) -> str:
    return f"{_root_path(request)}{STATIC_URL}/{name}?v={ASSETS_VERSION}"


def _locked_down(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
    return response


def install_docs(app: FastAPI) -> None:
    """Add the documentation pages and their assets to ``app`` (built with ``docs_url=None`` and
    ``redoc_url=None``, so FastAPI's CDN-loading pages are not there)."""
    assert app.openapi_url, "the docs need the OpenAPI document"
    openapi_url = app.openapi_url
    app.mount(STATIC_URL, DocsAssets(packages=[ASSETS_PACKAGE]), name="docs-static")

    async def swagger_ui_html(request: Request) -> HTMLResponse:
        root_path = _root_path(request)
        return _locked_down(
            get_swagger_ui_html(
                openapi_url=root_path + openapi_url,
                title=f"{app.title} - Swagger UI",
                swagger_js_url=asset_url(request, SWAGGER_JS),
                swagger_css_url=asset_url(request, SWAGGER_CSS),
                swagger_favicon_url=asset_url(request, FAVICON),
                oauth2_redirect_url=root_path + OAUTH2_REDIRECT_URL,
                init_oauth=app.swagger_ui_init_oauth,
                swagger_ui_parameters=SWAGGER_UI_PARAMETERS | (app.swagger_ui_parameters or {}),
            )
        )

    async def swagger_ui_redirect(request: Request) -> HTMLResponse:
        return _locked_down(get_swagger_ui_oauth2_redirect_html())

    async def redoc_html(request: Request) -> HTMLResponse:
        return _locked_down(
            get_redoc_html(
                openapi_url=_root_path(request) + openapi_url,
                title=f"{app.title} - ReDoc",
                redoc_js_url=asset_url(request, REDOC_JS),
                redoc_favicon_url=asset_url(request, FAVICON),
                with_google_fonts=False,
            )
        )

    app.add_route(DOCS_URL, swagger_ui_html, include_in_schema=False)
    app.add_route(OAUTH2_REDIRECT_URL, swagger_ui_redirect, include_in_schema=False)
    app.add_route(REDOC_URL, redoc_html, include_in_schema=False)
