"""Liveness, readiness and metrics, for orchestrators, load balancers and Prometheus (outside /api/v4)."""

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text

from pkgindex import migrations
from pkgindex.api.problems import problem, problem_responses
from pkgindex.db import database_unavailable
from pkgindex.ops.metrics import exposition

router = APIRouter(tags=["operations"])
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz", summary="Liveness: the process serves", responses={200: {"description": "Alive."}})
async def healthz() -> JSONResponse:
    """The process is alive and serving (nothing else is checked: a database outage is not a reason to
    restart it)."""
    return JSONResponse({"status": "ok"}, headers=NO_STORE)


@router.get(
    "/readyz",
    summary="Readiness: the database answers and its schema is current",
    responses={200: {"description": "Ready for traffic."}, **problem_responses(503)},
)
async def readyz(request: Request) -> JSONResponse:
    """Ready for traffic: the database answers, and its schema is at the migrations' head."""
    settings = request.app.state.settings
    head = migrations.head_revision()
    try:
        async with asyncio.timeout(settings.db_connect_timeout):
            async with request.app.state.session_factory() as session:
                current = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:
        if not database_unavailable(exc) and not _no_schema(exc):
            raise
        reason = "no schema: run `pkgindex migrate`" if _no_schema(exc) else f"database unreachable: {exc}"
        return _not_ready(reason)
    if current != head:
        return _not_ready(f"database schema is at {current}, the code needs {head}: run `pkgindex migrate`")
    return JSONResponse({"status": "ready", "database": "ok", "migration": current}, headers=NO_STORE)


def _no_schema(exc: Exception) -> bool:
    return "alembic_version" in str(exc) and not database_unavailable(exc)


def _not_ready(reason: str) -> JSONResponse:
    return problem(503, f"Not ready: {reason}", headers={"Retry-After": "5", **NO_STORE})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"description": "Text exposition format.", "content": {"text/plain": {}}}},
)
async def metrics() -> Response:
    """Prometheus metrics (text exposition format)."""
    body, content_type = exposition()
    return Response(body, media_type=content_type, headers=NO_STORE)
