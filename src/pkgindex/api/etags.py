"""Conditional requests (RFC 9110 §13): strong entity tags over the exact bytes of a representation.

Every GET of a resource or a list answers with an ``ETag`` and honours ``If-None-Match`` (304, no
body). ``PUT``, ``PATCH`` and ``DELETE`` honour ``If-Match``: a tag that is not the current one is a
412 and nothing changes, so two services editing the same object cannot overwrite each other.

Reads are ``Cache-Control: public, max-age=0, must-revalidate``: any cache may keep a copy (reads are
the same for every caller, authenticated or not), but must check it with the tag before each use, so a
poller never sees stale data yet pays only for a 304 when nothing changed. The body's hyperlinks follow
the request's base URL, which behind a trusted proxy comes from ``X-Forwarded-Proto``; hence ``Vary``.
"""

import hashlib
import re
from typing import Annotated, Any

import orjson
from fastapi import Header, Response
from pydantic import BaseModel

from pkgindex.errors import PreconditionFailed
from pkgindex.schemas.common import Representation

READ_CACHE_CONTROL = "public, max-age=0, must-revalidate"
READ_VARY = "X-Forwarded-Proto"
JSON = "application/json"
_ENTITY_TAG = re.compile(r'(W/)?("[^"]*")')


def render(value: BaseModel | Representation | list[Representation]) -> bytes:
    """The one JSON rendering of an answer; its tag is computed over these bytes. The v4 resources are
    JSON-ready dicts (``presenters``), for orjson; the rest are Pydantic models."""
    if isinstance(value, BaseModel):
        return value.model_dump_json().encode()
    return orjson.dumps(value)


def entity_tag(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _listed(header: str) -> list[tuple[bool, str]]:
    """``(weak, opaque-tag)`` for each entity tag of an ``If-Match``/``If-None-Match`` list."""
    return [(bool(weak), tag) for weak, tag in _ENTITY_TAG.findall(header)]


def none_match_hits(header: str | None, tag: str) -> bool:
    """Whether ``If-None-Match`` names ``tag`` (weak comparison) or is ``*``: the client's copy is current."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(listed == tag for _weak, listed in _listed(header))


def match_holds(header: str | None, tag: str) -> bool:
    """Whether an ``If-Match`` precondition holds for an existing object (strong comparison)."""
    if header is None or header.strip() == "*":
        return True
    return any(not weak and listed == tag for weak, listed in _listed(header))


def require_current(if_match: str | None, current: BaseModel | Representation) -> None:
    """Raise 412 unless ``If-Match`` (if given) names the current representation."""
    if if_match is not None and not match_holds(if_match, entity_tag(render(current))):
        raise PreconditionFailed(
            "If-Match does not name the current version (it changed since you read it); "
            "GET it again and retry."
        )


def read_response(
    model: BaseModel | Representation | list[Representation], if_none_match: str | None
) -> Response:
    """A GET answer: the body with its tag, or 304 with no body when the client's copy is current."""
    body = render(model)
    headers = {"ETag": entity_tag(body), "Cache-Control": READ_CACHE_CONTROL, "Vary": READ_VARY}
    if none_match_hits(if_none_match, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=JSON, headers=headers)


def written_response(
    model: BaseModel | Representation, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A write's answer: the new representation with its tag, for a later ``If-Match``."""
    body = render(model)
    return Response(
        body, status_code=status_code, media_type=JSON, headers={"ETag": entity_tag(body), **(headers or {})}
    )


# OpenAPI: what the read routes add to their responses.
READ_HEADERS: dict[str, Any] = {
    "ETag": {"description": "Strong entity tag of the body.", "schema": {"type": "string"}},
    "Cache-Control": {"description": READ_CACHE_CONTROL, "schema": {"type": "string"}},
}
READ_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"headers": READ_HEADERS},
    304: {
        "description": "Not modified: the `If-None-Match` tag is current. No body.",
        "headers": {"ETag": READ_HEADERS["ETag"]},
    },
}
IF_NONE_MATCH_HELP = "Entity tags of copies the client holds; a current one gets 304 and no body."
IF_MATCH_HELP = (
    "Change only if this is the current entity tag (from a GET or an earlier write); else 412. "
    "`*` matches any existing object."
)

IfNoneMatch = Annotated[str | None, Header(description=IF_NONE_MATCH_HELP)]
IfMatch = Annotated[str | None, Header(description=IF_MATCH_HELP)]

# OpenAPI: the headers of a write's answer.
WRITTEN_ETAG = {"description": "Entity tag of the new version, for `If-Match`.", "schema": {"type": "string"}}
LOCATION = {"description": "URL of the new object.", "schema": {"type": "string"}}
CREATED_RESPONSE: dict[int | str, dict[str, Any]] = {
    201: {"headers": {"Location": LOCATION, "ETag": WRITTEN_ETAG}}
}
CHANGED_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"headers": {"ETag": WRITTEN_ETAG}}}
