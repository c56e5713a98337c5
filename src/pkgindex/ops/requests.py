"""Per request: an id (kept from ``X-Request-ID`` or made), one JSON log line, and the HTTP metrics."""

import logging
import re
import time
import uuid

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pkgindex.ops.metrics import HTTP_DURATION, HTTP_REQUESTS

access_log = logging.getLogger("pkgindex.access")
# An incoming id is logged and echoed as is, so it must be harmless in both places.
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
UNMATCHED = "unmatched"  # the route label of 404s outside every route: keeps the label set small


# Where a middleware that answers without routing (the response cache) leaves the route template. The
# "state" dict is shared by the copies of a scope that middlewares make (HEAD as GET, proxy headers).
ROUTE_STATE_KEY = "route_template"


def route_template(scope: Scope) -> str:
    """The matched route's full path template, e.g. ``/api/v4/packages/{ref}/``, or ``unmatched``."""
    known = scope.get("state", {}).get(ROUTE_STATE_KEY)
    if known is not None:
        return str(known)
    # FastAPI keeps an included router's routes unprefixed (scope["route"].path is "/packages/{ref}/")
    # and records the route as reached, prefix and all, in its own part of the scope.
    effective = (scope.get("fastapi") or {}).get("effective_route_context")
    path = getattr(effective, "path_format", None) or getattr(scope.get("route"), "path", None)
    return f"{scope.get('root_path', '')}{path}" if isinstance(path, str) and path else UNMATCHED


class RequestContext:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get("x-request-id", "")
        request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500  # what the client gets if the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            route = route_template(scope)
            labels = (scope["method"], route, str(status))
            HTTP_REQUESTS.labels(*labels).inc()
            HTTP_DURATION.labels(*labels).observe(duration)
            client = scope.get("client")
            access_log.info(
                "%s %s %s",
                scope["method"],
                scope.get("path", ""),
                status,
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": route,
                    "path": scope.get("path", ""),
                    "status": status,
                    "duration_ms": round(duration * 1000, 3),
                    "client": client[0] if client else None,
                },
            )
