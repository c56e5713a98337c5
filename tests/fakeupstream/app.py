"""The ASGI application: routing, auth, quotas, retry-after periods, injected faults, latency, logging.

Each request is decided in one step on arrival, under the state lock (so the log and the quotas see
requests in arrival order); only the waiting (latency, hang) and the sending happen outside it.
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import orjson

from . import github, graphql_api, pypi
from .protocol import Incoming, Reply, dumps
from .state import FakeState, RequestRecord, _Fault

GRAPHQL_DOCS = "https://docs.github.com/graphql"


class FakeUpstreamApp:
    def __init__(self, state: FakeState) -> None:
        self.state = state

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":  # lifespan is turned off by the server; nothing else is spoken
            return
        body = b""
        while True:  # read the whole body now, so that later receive() calls only report a disconnect
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        req = Incoming(
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=headers,
            body=body,
            base_url=f"http://{headers.get('host', 'localhost')}",
            arrived=time.monotonic(),
            wall=time.time(),
        )
        if req.path.startswith("/_fake/"):
            await _send(send, control(self.state, req))
            return
        reply = decide(self.state, req)
        if reply.mode == "hang" and await _hang_up(receive, self.state.hang):
            return  # the client gave up first: nobody to answer
        if self.state.latency > 0:
            await asyncio.sleep(self.state.latency)
        await _send(send, reply)


async def _hang_up(receive: Any, seconds: float) -> bool:
    """Wait ``seconds``; True if the client disconnected meanwhile."""

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    watcher = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait_for(asyncio.shield(watcher), seconds)
    except TimeoutError:
        return False
    finally:
        watcher.cancel()
    return True


async def _send(send: Any, reply: Reply) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    headers.append((b"content-length", str(len(reply.body)).encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    if reply.mode == "reset":
        # Promise the whole body, deliver half, then return: the server closes the connection
        # mid-body and the client sees a broken transfer.
        await send(
            {"type": "http.response.body", "body": reply.body[: len(reply.body) // 2], "more_body": True}
        )
        return
    await send({"type": "http.response.body", "body": reply.body})


# ---------------------------------------------------------------------- decisions
def decide(state: FakeState, req: Incoming) -> Reply:
    if req.path.startswith("/github/") or req.path == "/github":
        api_path = req.path.removeprefix("/github") or "/"
        endpoint = github.classify(api_path)
        api = "graphql" if endpoint == "graphql" else "rest"
    elif req.path.startswith("/pypi/"):
        api_path = req.path.removeprefix("/pypi")
        endpoint, api = pypi.classify(api_path), "pypi"
    else:
        api_path, endpoint, api = req.path, "other", "other"
    with state.lock:
        if api == "pypi":
            reply = _pypi(state, req, api_path)
        elif api == "other":
            reply = Reply(404, dumps({"message": "Not Found"}), [("content-type", "application/json")])
        else:
            reply = _github(state, req, api_path, api, endpoint)
        state._record(
            RequestRecord(
                at=req.arrived,
                wall=req.wall,
                api=api,
                endpoint=endpoint,
                method=req.method,
                path=req.path,
                status=reply.status,
                authorized=req.token is not None,
                units=reply.units,
                violation=reply.violation,
                query=req.query,
                fault=reply.fault,
            )
        )
    return reply


def _blocked(state: FakeState, host: str, req: Incoming) -> int | None:
    """Seconds left of a retry-after period announced to this host's client, if any."""
    until = state._blocked_until.get(host)
    return math.ceil(until - req.arrived) if until is not None and req.arrived < until else None


def _announce(state: FakeState, host: str, req: Incoming, fault: _Fault) -> int:
    seconds = math.ceil(fault.retry_after if fault.retry_after is not None else 60)
    # The period starts when the client reads the answer.
    state._blocked_until[host] = req.arrived + state.latency + seconds
    return seconds


def _fault_reply(state: FakeState, host: str, req: Incoming, fault: _Fault) -> Reply | None:
    """The answer an injected fault replaces the normal one with; None for faults that shape it."""
    kind = fault.kind
    if kind in ("500", "503"):
        message = "Server Error" if kind == "500" else "Service Unavailable"
        return Reply(
            int(kind), dumps({"message": message}), [("content-type", "application/json; charset=utf-8")]
        )
    if kind == "502":
        # A gateway error comes from the front end, not the API: HTML, not JSON.
        page = b"<html><body><h1>502 Bad Gateway</h1>Unicorn! &middot; GitHub</body></html>\n"
        return Reply(502, page, [("content-type", "text/html; charset=utf-8")])
    if kind in ("secondary", "ratelimit429"):
        return github.secondary_limited(
            403 if kind == "secondary" else 429, _announce(state, host, req, fault)
        )
    return None


def _shape(reply: Reply, fault: _Fault | None) -> Reply:
    """Apply the faults that alter a normal answer rather than replace it."""
    if fault is None:
        return reply
    reply.fault = fault.kind
    if fault.kind == "timeout":
        reply.mode = "hang"
    elif fault.kind == "reset":
        if len(reply.body) < 2:
            reply.body = b'{"message": "connection reset by the fake upstream"}'
        reply.mode = "reset"
    elif fault.kind == "malformed":
        reply.status = 200
        reply.body = (reply.body or b'{"message": "ok"}')[: max(1, len(reply.body) // 2)]
        reply.headers = [h for h in reply.headers if h[0] != "etag"]
    return reply


def _github(state: FakeState, req: Incoming, api_path: str, api: str, endpoint: str) -> Reply:
    authorized = req.token is not None
    if not req.headers.get("user-agent", "").strip():
        message = (
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"
        )
        doc = "https://docs.github.com/rest/overview/resources-in-the-rest-api#user-agent-required"
        return github.json_reply(403, {"message": message, "documentation_url": doc})
    if not authorized and (api == "graphql" or state.token_required):
        doc = f"{GRAPHQL_DOCS}/guides/forming-calls-with-graphql#authenticating-with-graphql"
        return github.json_reply(401, {"message": "Requires authentication", "documentation_url": doc})

    resource = "graphql" if api == "graphql" else "core"
    win = state._window_for(resource, req.token or "anonymous", req.wall)

    def finish(reply: Reply, units: int) -> Reply:
        state._charge(win, units, req.wall)
        reply.units = units
        reply.headers += state._rate_headers(win, resource, req.wall, req.arrived)
        return reply

    if (seconds := _blocked(state, "github", req)) is not None:
        reply = github.secondary_limited(403, seconds)
        reply.violation = True
        return finish(reply, 0)
    if api_path.rstrip("/") == "/rate_limit":
        return finish(github.rate_limit_body(state, req), 0)  # free, like GitHub's

    told_zero = win.told_zero_at is not None and req.arrived >= win.told_zero_at
    if api == "rest" and win.used >= win.limit:
        who = "user ID 1" if authorized else "127.0.0.1"
        reply = github.rate_limited(state.rate_limit_status, f"API rate limit exceeded for {who}.")
        reply.violation = told_zero
        return finish(reply, 0)

    fault = state._take_fault(req.path)
    if fault is not None and (early := _fault_reply(state, "github", req, fault)) is not None:
        early.fault = fault.kind
        return finish(early, 0)

    if api == "graphql":
        return _graphql(state, req, win, told_zero, fault, finish)

    if fault is not None and fault.kind == "202":
        reply = github.json_reply(202, {})
    else:
        reply = github.respond(state, req, api_path)
    # A conditional request answered 304 is free only when it was made with an Authorization header.
    units = 0 if reply.status == 304 and authorized else 1
    return _shape(finish(reply, units), fault)


def _graphql(state, req, win, told_zero, fault, finish) -> Reply:  # type: ignore[no-untyped-def]
    try:
        body = orjson.loads(req.body)
    except orjson.JSONDecodeError:
        return finish(
            github.json_reply(400, {"message": "Problems parsing JSON", "documentation_url": GRAPHQL_DOCS}), 0
        )
    prepared = graphql_api.prepare(body)
    if prepared.payload is not None:
        return _shape(finish(github.json_reply(200, prepared.payload), 0), fault)
    if win.used + prepared.cost > win.limit:
        # GitHub answers an exhausted GraphQL quota with HTTP 200 and a typed error.
        payload = {"errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]}
        reply = github.json_reply(200, payload)
        reply.violation = told_zero
        return finish(reply, 0)
    state._charge(win, prepared.cost, req.wall)
    rate = {
        "cost": prepared.cost,
        "limit": win.limit,
        "remaining": max(0, win.limit - win.used),
        "used": win.used,
        "resetAt": graphql_api.reset_at(win.reset),
        "nodeCount": prepared.node_count,
    }
    reply = github.json_reply(200, graphql_api.run(state, prepared, rate))
    reply = finish(reply, 0)  # already charged above, before running, so rateLimit reports it
    reply.units = prepared.cost
    return _shape(reply, fault)


def _pypi(state: FakeState, req: Incoming, api_path: str) -> Reply:
    if (seconds := _blocked(state, "pypi", req)) is not None:
        reply = Reply(429, dumps({"message": "Too Many Requests"}), [("retry-after", str(seconds))])
        reply.violation = True
        return reply
    fault = state._take_fault(req.path)
    if fault is not None:
        if fault.kind in ("secondary", "ratelimit429"):
            seconds = _announce(state, "pypi", req, fault)
            status = 429 if fault.kind == "ratelimit429" else 403
            headers = [("content-type", "application/json"), ("retry-after", str(seconds))]
            return Reply(status, dumps({"message": "Too Many Requests"}), headers, fault=fault.kind)
        if (early := _fault_reply(state, "pypi", req, fault)) is not None:
            early.fault = fault.kind
            return early
        if fault.kind == "202":
            return Reply(202, b"{}", [("content-type", "application/json")], fault="202")
    return _shape(pypi.respond(state, req, api_path), fault)


# ---------------------------------------------------------------------- control endpoints
def control(state: FakeState, req: Incoming) -> Reply:
    """``/_fake/*``: observe and steer a running fake (used by the benchmark). Not logged."""
    params = req.params
    action = req.path.removeprefix("/_fake/").rstrip("/")
    try:
        if action == "stats" and req.method == "GET":
            result: Any = state.stats()
        elif action == "reset-log" and req.method == "POST":
            state.reset_log()
            result = {"ok": True}
        elif action == "push" and req.method == "POST":
            pushed = state.push_fraction(float(params.get("fraction", "0.1")), int(params.get("seed", "1")))
            result = {"pushed": len(pushed), "repos": pushed}
        elif action == "limits" and req.method == "POST":
            state.set_limits(
                rest=int(params["rest"]) if "rest" in params else None,
                graphql=int(params["graphql"]) if "graphql" in params else None,
                anonymous=int(params["anonymous"]) if "anonymous" in params else None,
                window=float(params["window"]) if "window" in params else None,
            )
            result = {
                "rest": state.rest_limit,
                "graphql": state.graphql_limit,
                "anonymous": state.anonymous_limit,
                "window": state.window,
            }
        else:
            return Reply(404, dumps({"message": f"unknown control {req.method} {req.path}"}), _JSON)
    except (ValueError, KeyError) as exc:
        return Reply(400, dumps({"message": str(exc)}), _JSON)
    return Reply(200, dumps(result), _JSON)


_JSON = [("content-type", "application/json")]
