"""HEAD and OPTIONS on every route, as the original (Django REST framework) answers them."""

import json

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HeadAndOptions:
    """HEAD runs the GET handler and drops the body. OPTIONS on a known path answers 200 with the
    methods it allows: the router's own 405 for the path already knows them, so it is reused."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
        elif scope["method"] == "HEAD":
            await self.app({**scope, "method": "GET"}, receive, _without_body(send))
        else:
            await self.app(scope, receive, _options_answer(send))


def _without_body(send: Send) -> Send:
    async def send_headers_only(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_headers_only


def _options_answer(send: Send) -> Send:
    replaced = False

    async def send_allowed_methods(message: Message) -> None:
        nonlocal replaced
        if message["type"] == "http.response.start" and message["status"] == 405:
            methods = {m.strip() for m in MutableHeaders(raw=message["headers"]).get("allow", "").split(",")}
            allow = ", ".join(sorted((methods - {""}) | {"HEAD", "OPTIONS"}))
            body = json.dumps(
                {"allow": allow, "renders": ["application/json"], "parses": ["application/json"]}
            ).encode()
            replaced = True
            headers = [
                (b"content-type", b"application/json"),
                (b"allow", allow.encode()),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
        elif not replaced:
            await send(message)

    return send_allowed_methods
