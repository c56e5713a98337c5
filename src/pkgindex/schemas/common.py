"""Shapes shared by every resource: timestamps, the list envelope, the problem body."""

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer


def render_timestamp(value: datetime) -> str:
    """RFC 3339 as the original (DRF) renders it: no fraction when there is none, UTC as ``Z``."""
    text = value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


# An aware instant; routes convert it to the configured zone before it is rendered.
Timestamp = Annotated[datetime, PlainSerializer(render_timestamp, return_type=str, when_used="json")]


# A resource as the API answers it: a JSON-ready dict with its read schema's fields, in order.
Representation = dict[str, Any]


def utc_now() -> datetime:
    return datetime.now(UTC)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """The original's limit/offset envelope."""

    count: int = Field(description="Number of items matching the query, on all pages.")
    next: str | None = Field(description="URL of the next page, or null on the last one.")
    previous: str | None = Field(description="URL of the previous page, or null on the first one.")
    results: list[T]


class Problem(BaseModel):
    """RFC 9457 problem details (media type ``application/problem+json``)."""

    model_config = ConfigDict(extra="allow")

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="For invalid input: one entry per offending field, with its location."
    )
