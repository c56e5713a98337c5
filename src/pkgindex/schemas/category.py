from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, JsonValue, StrictBool

from pkgindex.schemas.common import Timestamp
from pkgindex.schemas.writes import Ignored, Slug50, Text, Text50, Title50, absent, read_only


class CategoryRead(BaseModel):
    id: int
    title: str
    slug: str
    description: str
    title_plural: str
    show_pypi: bool
    created: Timestamp
    modified: Timestamp


EXAMPLE: dict[str, JsonValue] = {
    "title": "App",
    "slug": "apps",
    "description": "Small components used to build projects.",
    "title_plural": "Apps",
    "show_pypi": True,
}


class CategoryWrite(BaseModel):
    """A whole category, for POST and PUT: the read shape, with read-only fields ignored."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    id: Annotated[int | None, Ignored] = read_only()
    title: Title50
    slug: Slug50
    description: Text = ""
    title_plural: Text50 = ""
    show_pypi: StrictBool = True
    created: Annotated[datetime | None, Ignored] = read_only(format="date-time")
    modified: Annotated[datetime | None, Ignored] = read_only(format="date-time")


class CategoryUpdate(BaseModel):
    """Some fields of a category, for PATCH: only the fields given change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"title_plural": "Apps"}]})

    id: Annotated[int | None, Ignored] = read_only()
    title: Title50 = absent()
    slug: Slug50 = absent()
    description: Text = absent()
    title_plural: Text50 = absent()
    show_pypi: StrictBool = absent()
    created: Annotated[datetime | None, Ignored] = read_only(format="date-time")
    modified: Annotated[datetime | None, Ignored] = read_only(format="date-time")
