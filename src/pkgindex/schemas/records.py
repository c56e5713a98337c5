"""v4 records as they come in (an import file today, request bodies later): the read shape, with
relations given as hyperlinks or ids, and the original's field limits."""

import re
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StrictBool, StrictInt

SLUG_PATTERN = r"^[-a-zA-Z0-9_]+$"
TRAILING_ID = re.compile(r"/(\d+)/?$")


def _reference_id(value: int | str) -> int:
    """An id given as a number or as a hyperlink ending in ``/<id>/``."""
    if isinstance(value, int):
        return value
    match = TRAILING_ID.search(value)
    if match is None:
        raise ValueError(f"{value!r} is neither an id nor a hyperlink ending in /<id>/")
    return int(match.group(1))


Reference = Annotated[StrictInt | str, AfterValidator(_reference_id)]
Slug = Annotated[str, Field(min_length=1, pattern=SLUG_PATTERN)]
Count = Annotated[StrictInt, Field(ge=0)]


def _weekly_counts(value: list[int]) -> list[int]:
    if len(value) not in (0, 52):
        raise ValueError(f"must hold 52 weekly counts or none, not {len(value)}")
    return value


class Record(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class CategoryRecord(Record):
    id: Annotated[StrictInt, Field(ge=1)]
    title: Annotated[str, Field(min_length=1, max_length=50)]
    slug: Annotated[str, Field(min_length=1, max_length=50, pattern=SLUG_PATTERN)]
    description: str = ""
    title_plural: Annotated[str, Field(max_length=50)] = ""
    show_pypi: StrictBool = True
    created: AwareDatetime
    modified: AwareDatetime


class GridRecord(Record):
    id: Annotated[StrictInt, Field(ge=1)]
    title: Annotated[str, Field(min_length=1, max_length=100)]
    slug: Annotated[Slug, Field(max_length=100)]
    description: str = ""
    is_locked: StrictBool = False
    packages: list[Reference] = []
    header: StrictBool = False
    created: AwareDatetime
    modified: AwareDatetime


class PackageRecord(Record):
    category: Reference
    grids: list[Reference] = []
    id: Annotated[StrictInt, Field(ge=1)]
    title: Annotated[str, Field(min_length=1, max_length=100)]
    slug: Annotated[Slug, Field(max_length=100)]
    last_updated: AwareDatetime | None = None
    last_fetched: AwareDatetime | None = None
    repo_url: Annotated[str, Field(max_length=255)] = ""
    pypi_version: Annotated[str, Field(max_length=100)] | None = None
    created: AwareDatetime
    modified: AwareDatetime
    repo_forks: Count = 0
    repo_description: Annotated[str, Field(max_length=500)] = ""
    pypi_url: Annotated[str, Field(max_length=255)] = ""
    documentation_url: Annotated[str, Field(max_length=255)] | None = None
    repo_watchers: Count = 0
    commits_over_52: Annotated[list[Count], AfterValidator(_weekly_counts)] = []
    participants: list[str] = []
