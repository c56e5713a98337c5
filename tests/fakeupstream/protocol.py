"""Small HTTP vocabulary shared by the GitHub, GraphQL and PyPI handlers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson

Headers = list[tuple[str, str]]


@dataclass
class Incoming:
    method: str
    path: str
    query: str  # raw query string
    headers: dict[str, str]  # lower-case names
    body: bytes
    base_url: str  # "http://host:port" as the client addressed us, for absolute links
    arrived: float  # time.monotonic()
    wall: float  # time.time()

    @property
    def params(self) -> dict[str, str]:
        return dict(parse_qsl(self.query, keep_blank_values=True))

    @property
    def param_list(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def token(self) -> str | None:
        """The token of ``Authorization: Bearer T`` / ``token T``; None when anonymous."""
        scheme, _, token = (self.authorization or "").partition(" ")
        if scheme.lower() in ("bearer", "token") and token.strip():
            return token.strip()
        return None

    def if_none_match(self) -> set[str]:
        # Compare opaque tags only: GitHub matches weakly, so W/"x" and "x" are the same validator.
        raw = self.headers.get("if-none-match", "")
        return {tag.strip().removeprefix("W/") for tag in raw.split(",") if tag.strip()}


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: Headers = field(default_factory=list)
    units: int = 0  # quota units charged
    violation: bool = False
    fault: str | None = None
    mode: str = "normal"  # "normal" | "reset" (close mid-body) | "hang" (wait, then answer)


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


def iso(moment: datetime | None) -> str | None:
    """GitHub's timestamp style: UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def parse_time(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def int_param(params: dict[str, str], name: str, default: int, lo: int, hi: int) -> int:
    try:
        value = int(params.get(name, default))
    except ValueError:
        value = default
    return max(lo, min(hi, value))
