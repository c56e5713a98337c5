"""Dependencies shared by the routes: the per-request session, paging, hyperlinks, output zone.

Every dependency is ``async def`` even when it never awaits: FastAPI runs a plain ``def`` dependency in
a worker thread, and that hop cost about 250 µs of CPU per dependency per request (bench/README.md)."""

from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from fastapi import Depends, HTTPException, Query, Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pkgindex.config import Settings
from pkgindex.db import ReadConnector, unit_of_work

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# Largest request body a write accepts (413 above): room for a grid of some ten thousand hyperlinks.
MAX_WRITE_BODY_BYTES = 1024 * 1024
# Media types a write body may have (PATCH also takes JSON Merge Patch, which is what it does).
JSON_MEDIA_TYPES = frozenset({"application/json"})
PATCH_MEDIA_TYPES = JSON_MEDIA_TYPES | {"application/merge-patch+json"}


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(request.app.state.session_factory) as session:
        yield session


# scope="function": the commit happens before the response leaves, so a failed commit is a 500.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def read_connection(request: Request) -> AbstractAsyncContextManager[AsyncConnection]:
    """The connection for a read (see ``db.make_read_connector``), opened in the route itself, as
    ``async with read_connection(request) as connection``: cheaper than a yield dependency, and the
    connection goes back to the pool before the answer is rendered."""
    connect: ReadConnector = request.app.state.read_connector
    return connect()


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_zone(request: Request) -> ZoneInfo:
    return get_settings(request).zone


ZoneDep = Annotated[ZoneInfo, Depends(get_zone)]


@dataclass(frozen=True)
class Links:
    """Absolute hyperlinks of the v4 resources, under the request's own base URL (proxy and
    path-prefix aware through ASGI ``root_path``)."""

    api_root: str

    @classmethod
    def for_request(cls, request: Request) -> "Links":
        return cls(api_root=f"{request.base_url}api/v4/")

    def collection(self, name: str) -> str:
        return f"{self.api_root}{name}/"

    def package(self, package_id: int) -> str:
        return f"{self.api_root}packages/{package_id}/"

    def grid(self, grid_id: int) -> str:
        return f"{self.api_root}grids/{grid_id}/"

    def category(self, category_id: int) -> str:
        return f"{self.api_root}categories/{category_id}/"


async def links_for_request(request: Request) -> Links:
    return Links.for_request(request)


LinksDep = Annotated[Links, Depends(links_for_request)]


@dataclass(frozen=True)
class PageParams:
    limit: int
    offset: int

    def links(self, request: Request, count: int) -> tuple[str | None, str | None]:
        """``next`` and ``previous`` URLs, built as the original's LimitOffsetPagination builds them:
        the request's URL with ``limit`` and ``offset`` replaced and the query re-encoded in key order;
        ``previous`` drops ``offset`` when it would not be positive."""
        url = str(request.url)
        following = None
        if self.offset + self.limit < count:
            following = _replace_query_params(url, limit=self.limit, offset=self.offset + self.limit)
        if self.offset <= 0:
            preceding = None
        elif self.offset - self.limit <= 0:
            preceding = _replace_query_params(url, limit=self.limit, offset=None)
        else:
            preceding = _replace_query_params(url, limit=self.limit, offset=self.offset - self.limit)
        return following, preceding


def _replace_query_params(url: str, **values: int | None) -> str:
    """DRF's ``replace_query_param``/``remove_query_param``: set (or, for None, drop) each key, then
    re-encode the whole query sorted by key, repeated keys kept in their order."""
    scheme, netloc, path, query, fragment = urlsplit(url)
    params = parse_qs(query, keep_blank_values=True)
    for key, value in values.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = [str(value)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(params.items()), doseq=True), fragment))


async def page_params(
    limit: Annotated[
        int,
        Query(
            ge=1,
            description=f"Items per page (default {DEFAULT_LIMIT}). Values above {MAX_LIMIT} are served as "
            f"{MAX_LIMIT}, as the original does.",
        ),
    ] = DEFAULT_LIMIT,
    offset: Annotated[int, Query(ge=0, description="Items to skip; past the end the page is empty.")] = 0,
) -> PageParams:
    return PageParams(limit=min(limit, MAX_LIMIT), offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


async def accept_format(
    format: Annotated[
        Literal["json", "api"] | None,
        Query(description="Accepted for compatibility with the original's clients; the answer is JSON."),
    ] = None,
) -> None:
    """The original's clients send ``?format=json`` or ``?format=api``; both get JSON."""


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


async def require_json(request: Request) -> None:
    """415 unless the body is declared ``application/json``."""
    if _media_type(request) not in JSON_MEDIA_TYPES:
        raise HTTPException(415, "Send the body as 'Content-Type: application/json'.")


async def require_patch_json(request: Request) -> None:
    """415 unless the body is declared JSON (``application/json`` or ``application/merge-patch+json``)."""
    if _media_type(request) not in PATCH_MEDIA_TYPES:
        raise HTTPException(
            415,
            "Send the body as 'Content-Type: application/json' (or application/merge-patch+json).",
            headers={"Accept-Patch": ", ".join(sorted(PATCH_MEDIA_TYPES))},
        )


JsonBody = Depends(require_json)
PatchBody = Depends(require_patch_json)


WRITE_DESCRIPTION = (
    f"Needs a token with the `write` scope. The body is JSON (at most {MAX_WRITE_BODY_BYTES} bytes) in the "
    "read shape: relations as hyperlinks, ids or slugs; read-only fields are accepted and ignored."
)


class BodyLimitRoute(APIRoute):
    """A route that turns away a POST, PUT or PATCH body over ``MAX_WRITE_BODY_BYTES`` with a 413,
    before the body is parsed and whether or not ``Content-Length`` announces it.

    FastAPI's own ``max_body_size`` answers a body whose ``Content-Length`` is too large with a plain
    text 413 from outside the app's exception handlers; this one goes through them (problem+json)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if (self.methods or set()).isdisjoint({"POST", "PUT", "PATCH"}):
            return handler

        async def limited(request: Request) -> Response:
            await read_body(request, MAX_WRITE_BODY_BYTES)
            return await handler(request)

        return limited


async def read_body(request: Request, limit: int) -> bytes:
    """Read the request body (Starlette keeps it for later readers), at most ``limit`` bytes; else 413."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise HTTPException(413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413)
    request._body = bytes(body)
    return request._body
