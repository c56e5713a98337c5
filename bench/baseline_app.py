"""The HTTP bench's baseline: the least a service can do to answer a package detail.

A bare Starlette app, an asyncpg pool created at start-up, and one route, ``GET /packages/{id}``, that
selects the package row by id (the v4 columns of table ``package``) with one ``fetchrow`` and returns it
as orjson bytes. No ORM, no validation, no hyperlinks, no ETag. ``bench/http_bench.py`` serves it with the
same uvicorn settings as ``pkgindex serve`` (2 workers, uvloop, httptools, no access log):

    BASELINE_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/DB \\
        .venv/bin/uvicorn baseline_app:app --app-dir bench --workers 2 --loop uvloop --http httptools \\
        --no-access-log --port 8001
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

DATABASE_URL = os.environ.get("BASELINE_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
# pkgindex keeps PKGINDEX_DB_POOL_SIZE (default 10) connections per process; so does the baseline.
POOL_SIZE = int(os.environ.get("BASELINE_POOL_SIZE", "10"))

PACKAGE_ROW = (
    "SELECT id, category_id, title, slug, last_updated, last_fetched, repo_url, pypi_version, created,"
    " modified, repo_forks, repo_description, pypi_url, documentation_url, repo_watchers,"
    " commits_over_52, participants FROM package WHERE id = $1"
)


async def _init_connection(connection: Any) -> None:
    # commits_over_52 and participants are JSON columns: decode them, as any real answer must.
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(
            type_name, encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads, schema="pg_catalog"
        )


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    app.state.pool = await asyncpg.create_pool(
        DATABASE_URL, min_size=POOL_SIZE, max_size=POOL_SIZE, init=_init_connection
    )
    try:
        yield
    finally:
        await app.state.pool.close()


async def package(request: Request) -> Response:
    row = await request.app.state.pool.fetchrow(PACKAGE_ROW, request.path_params["id"])
    if row is None:
        return Response(b'{"detail":"Not found."}', status_code=404, media_type="application/json")
    return Response(orjson.dumps(dict(row)), media_type="application/json")


async def ready(request: Request) -> Response:
    await request.app.state.pool.fetchval("SELECT 1")
    return Response(b'{"status":"ready"}', media_type="application/json")


app = Starlette(
    routes=[Route("/packages/{id:int}", package), Route("/readyz", ready)],
    lifespan=lifespan,
)
