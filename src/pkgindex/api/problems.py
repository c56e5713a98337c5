"""Every error leaves as RFC 9457 ``application/problem+json`` with a ``detail`` clients can read."""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from pkgindex.api.deps import MAX_WRITE_BODY_BYTES
from pkgindex.db import database_unavailable
from pkgindex.errors import DuplicateValue, InvalidField, InvalidQuery, PkgIndexError
from pkgindex.schemas.common import Problem

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# The original's wording, which clients match on.
NOT_FOUND_DETAIL = "Not found."
TOO_LARGE_DETAIL = f"The request body is over the limit of {MAX_WRITE_BODY_BYTES} bytes."


def problem(
    status: int, detail: str | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    # RFC 9457: with the default type "about:blank", title is the status phrase.
    body: dict[str, Any] = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status}
    if detail:
        body["detail"] = detail
    return JSONResponse(body | extra, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PkgIndexError)
    if isinstance(exc, InvalidQuery):
        error = {"loc": ["query", exc.field], "msg": exc.message, "type": "value_error"}
        return problem(exc.status, f"Invalid query parameter '{exc.field}': {exc.message}", errors=[error])
    if isinstance(exc, InvalidField | DuplicateValue):
        kind = "value_error" if isinstance(exc, InvalidField) else "conflict"
        loc: list[str | int] = ["body", *exc.loc]
        where = ".".join(str(part) for part in exc.loc)
        field_error: dict[str, Any] = {"loc": loc, "msg": exc.message, "type": kind}
        detail = (
            f"Invalid field '{where}'" if isinstance(exc, InvalidField) else f"Field '{where}' must be unique"
        )
        return problem(exc.status, f"{detail}: {exc.message}", errors=[field_error])
    return problem(exc.status, str(exc) or None)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail, headers = exc.detail, dict(exc.headers or {})
    if exc.status_code == 404:
        detail = NOT_FOUND_DETAIL
    elif exc.status_code == 413:
        detail = TOO_LARGE_DETAIL
    elif exc.status_code == 405:
        detail = f'Method "{request.method}" not allowed.'
        if "allow" in {name.lower() for name in headers}:
            allow = {m.strip() for m in headers.pop("allow", headers.pop("Allow", "")).split(",")}
            # The router names only the first route of the path; other routes may serve it too.
            allow |= routed_methods(request)
            headers["Allow"] = ", ".join(sorted((allow - {""}) | {"HEAD", "OPTIONS"}))
    return problem(exc.status_code, detail, headers=headers)


def routed_methods(request: Request) -> set[str]:
    """The methods some route of the app serves at the request's path."""
    routes = request.app.router.routes
    return {
        method
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        if any(route.matches({**request.scope, "method": method})[0] == Match.FULL for route in routes)
    }


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]} for error in exc.errors()
    ]
    if any(error["type"] == "json_invalid" for error in exc.errors()):
        return problem(400, "Malformed JSON in the request body.", errors=errors)
    # A bad query, path or header value is a bad request; an unusable body is unprocessable content.
    in_body = any(error["loc"] and error["loc"][0] == "body" for error in errors)
    status = 422 if in_body else 400
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"][1:]) or str(first["loc"][0] if first["loc"] else "")
    kind = {"query": "query parameter", "path": "path parameter", "header": "header"}.get(
        str(first["loc"][0]) if first["loc"] else "", "field"
    )
    return problem(status, f"Invalid {kind} '{where}': {first['msg']}", errors=errors)


async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
    if not database_unavailable(exc):
        raise exc  # a failed query, not an outage: on_unexpected_error answers it
    # The database is down or restarting: say so at once (no hang) and when to try again. The pool
    # replaces closed connections, so the service recovers by itself when the database is back.
    logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
    return problem(
        503,
        "The database is unavailable; try again shortly.",
        headers={"Retry-After": "5", "Cache-Control": "no-store"},
    )


async def on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "The server hit an unexpected error; nothing was changed.")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PkgIndexError, on_domain_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    for database_error in (DBAPIError, OSError, TimeoutError, SQLAlchemyTimeoutError):
        app.add_exception_handler(database_error, on_database_error)
    app.add_exception_handler(Exception, on_unexpected_error)


PROBLEM_DESCRIPTIONS = {
    400: "Malformed JSON, or an invalid query parameter or header.",
    401: "No token, or a malformed, unknown or revoked one (with `WWW-Authenticate`).",
    403: "The token's scope does not allow this.",
    404: "No such object.",
    409: "A unique field (slug, repo_url) belongs to another object, or the object is still in use; "
    "`errors` names the field.",
    412: "`If-Match` does not name the current version; nothing changed.",
    413: f"The request body is over {MAX_WRITE_BODY_BYTES} bytes.",
    415: "The body is not `application/json`.",
    422: "A field is invalid (format, length, unknown category, grid or package); `errors` names it.",
    503: "The database is unreachable or the schema is not migrated (readiness), with `Retry-After`.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem bodies (inlined, so they stand on their own)."""
    schema = Problem.model_json_schema()
    return {
        status: {
            "description": PROBLEM_DESCRIPTIONS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": schema}},
        }
        for status in statuses
    }
