"""Every error leaves as RFC 9457 ``application/problem+json`` with a ``detail`` clients can read."""

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pkgindex.errors import InvalidQuery, PkgIndexError

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# The original's wording, which clients match on.
NOT_FOUND_DETAIL = "Not found."


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
    return problem(exc.status, str(exc) or None)


async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail, headers = exc.detail, dict(exc.headers or {})
    if exc.status_code == 404:
        detail = NOT_FOUND_DETAIL
    elif exc.status_code == 405:
        detail = f'Method "{request.method}" not allowed.'
        if "allow" in {name.lower() for name in headers}:
            allow = {m.strip() for m in headers.pop("allow", headers.pop("Allow", "")).split(",")}
            headers["Allow"] = ", ".join(sorted((allow - {""}) | {"HEAD", "OPTIONS"}))
    return problem(exc.status_code, detail, headers=headers)


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]} for error in exc.errors()
    ]
    # A bad query, path or header value is a bad request; an unusable body is unprocessable content.
    in_body = any(error["loc"] and error["loc"][0] == "body" for error in errors)
    status = 422 if in_body else 400
    first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(part) for part in first["loc"][1:]) or str(first["loc"][0] if first["loc"] else "")
    kind = {"query": "query parameter", "path": "path parameter", "header": "header"}.get(
        str(first["loc"][0]) if first["loc"] else "", "field"
    )
    return problem(status, f"Invalid {kind} '{where}': {first['msg']}", errors=errors)


async def on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "The server hit an unexpected error; nothing was changed.")


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(PkgIndexError, on_domain_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected_error)
