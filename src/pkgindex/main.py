"""The application factory."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute

from pkgindex import __version__
from pkgindex.api.cache import ResponseCache
from pkgindex.api.deps import accept_format
from pkgindex.api.docs import install_docs
from pkgindex.api.methods import HeadAndOptions
from pkgindex.api.problems import install_problem_handlers, problem_responses
from pkgindex.api.routes import categories, grids, health, packages, refresh, root, search, tokens
from pkgindex.config import Settings, get_settings
from pkgindex.db import (
    SessionFactory,
    make_engine,
    make_read_connector,
    make_session_factory,
    read_connector_of,
)
from pkgindex.ops.metrics import instrument_pool
from pkgindex.ops.proxy import TrustedProxyHeaders
from pkgindex.ops.requests import RequestContext
from pkgindex.refresh.runner import Refresher

API_PREFIX = "/api/v4"

DESCRIPTION = """\
A drop-in reimplementation of the [Django Packages](https://djangopackages.org) API v4: the same
resources, field for field, plus filters, ordering and ranked search.

Lists are paginated with `limit` (default 20, at most 100) and `offset` in the envelope
`{count, next, previous, results}`; follow `next` to walk a collection. Errors are
RFC 9457 `application/problem+json` bodies with a `detail`.
"""


@asynccontextmanager
async def background_refresher(settings: Settings, factory: SessionFactory) -> AsyncIterator[None]:
    """With ``refresh_enabled``, refresh what falls due for as long as the app serves."""
    if not settings.refresh_enabled:
        yield
        return
    refresher = Refresher(settings, factory)
    stop = asyncio.Event()
    task = asyncio.create_task(refresher.run_forever(stop), name="refresher")
    try:
        yield
    finally:
        stop.set()
        task.cancel()  # a pass in progress stops at its next await; its leases are given back
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await refresher.aclose()


def operation_id(route: APIRoute) -> str:
    # Stable ids keep generated clients stable: the route function's name.
    return route.name


def create_app(settings: Settings | None = None, *, session_factory: SessionFactory | None = None) -> FastAPI:
    """Build the ASGI app. Tests pass their own ``session_factory`` (ASGITransport skips lifespan), which
    then serves the reads too."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if session_factory is not None:
            yield
            return
        engine = make_engine(settings)
        instrument_pool(engine)
        app.state.session_factory = make_session_factory(engine)
        app.state.read_connector = make_read_connector(engine)
        async with background_refresher(settings, app.state.session_factory):
            yield
        await engine.dispose()

    app = FastAPI(
        title="pkgindex",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        # Swagger UI and ReDoc come from install_docs, with assets served locally (no CDN).
        docs_url=None,
        redoc_url=None,
        responses=problem_responses(400, 404),
    )
    app.state.settings = settings
    app.state.session_factory = session_factory
    if session_factory is not None:
        app.state.read_connector = read_connector_of(session_factory)
    install_problem_handlers(app)
    install_docs(app)
    for module in (root, packages, refresh, categories, grids, search, tokens):
        app.include_router(module.router, prefix=API_PREFIX, dependencies=[Depends(accept_format)])
    app.include_router(health.router)
    # Innermost: sees a HEAD as the GET it is answered by, and the scheme and host the proxy reported.
    cache_bytes = int(settings.response_cache_mb * 1024 * 1024)
    app.add_middleware(ResponseCache, prefix=f"{API_PREFIX}/", max_bytes=cache_bytes)
    app.add_middleware(HeadAndOptions)
    app.add_middleware(RequestContext)
    # Outermost: the logs and the links see the client and host as the trusted proxy reported them.
    app.add_middleware(TrustedProxyHeaders, trusted=settings.forwarded_allow_ips)
    return app
