"""v4 records as they come in (an import file today, request bodies later): the read shape, with
relations given as hyperlinks or ids, and the original's field limits."""

import re
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
)

SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"
# Ids and counts are 32-bit integer columns.
MAX_INT = 2**31 - 1


def _reference_to(kind: str) -> Callable[[Any], Any]:
    """An id given as a number or as a hyperlink ending in ``/<kind>/<id>/``."""
    trailing_id = re.compile(rf"/{kind}/(\d+)/?$")

    def reference_id(value: Any) -> Any:
        if isinstance(value, str):
            match = trailing_id.search(value)
            if match is None:
                raise ValueError(f"{value!r} is neither an id nor a hyperlink ending in /{kind}/<id>/")
            return int(match.group(1))
        return value  # a number; StrictInt checks it

    return reference_id


def _text_only(value: Any) -> Any:
    # Without this, pydantic would read a bare number as Unix time.
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 timestamp string with an offset")
    return value


Id = Annotated[StrictInt, Field(ge=1, le=MAX_INT)]
CategoryRef = Annotated[Id, BeforeValidator(_reference_to("categories"))]
GridRef = Annotated[Id, BeforeValidator(_reference_to("grids"))]
PackageRef = Annotated[Id, BeforeValidator(_reference_to("packages"))]
Slug = Annotated[str, Field(min_length=1, pattern=SLUG_PATTERN)]
Count = Annotated[StrictInt, Field(ge=0, le=MAX_INT)]
Timestamp = Annotated[AwareDatetime, BeforeValidator(_text_only)]


def _weekly_counts(value: list[int]) -> list[int]:
    if len(value) not in (0, 52):
        raise ValueError(f"must hold 52 weekly counts or none, not {len(value)}")
    return value


class Record(BaseModel):
    # Fields the v4 shape does not have (or that a later version adds) are ignored.
    model_config = ConfigDict(extra="ignore")


class CategoryRecord(Record):
    id: Id
    title: Annotated[str, Field(min_length=1, max_length=50)]
    slug: Annotated[Slug, Field(max_length=50)]
    description: str = ""
    title_plural: Annotated[str, Field(max_length=50)] = ""
    show_pypi: StrictBool = True
    created: Timestamp
    modified: Timestamp


class GridRecord(Record):
    id: Id
    title: Annotated[str, Field(min_length=1, max_length=100)]
    slug: Annotated[Slug, Field(max_length=100)]
    description: str = ""
    is_locked: StrictBool = False
    packages: list[PackageRef] = []
    header: StrictBool = False
    created: Timestamp
    modified: Timestamp


class PackageRecord(Record):
    category: CategoryRef
    grids: list[GridRef] = []
    id: Id
    title: Annotated[str, Field(min_length=1, max_length=100)]
    slug: Annotated[Slug, Field(max_length=100)]
    last_updated: Timestamp | None = None
    last_fetched: Timestamp | None = None
    repo_url: Annotated[str, Field(max_length=255)] = ""
    pypi_version: Annotated[str, Field(max_length=100)] | None = None
    created: Timestamp
    modified: Timestamp
    repo_forks: Count = 0
    repo_description: Annotated[str, Field(max_length=500)] = ""
    pypi_url: Annotated[str, Field(max_length=255)] = ""
    documentation_url: Annotated[str, Field(max_length=255)] | None = None
    repo_watchers: Count = 0
    commits_over_52: Annotated[list[Count], AfterValidator(_weekly_counts)] = []
    participants: list[str] = []
