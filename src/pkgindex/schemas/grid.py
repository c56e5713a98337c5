from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictBool

from pkgindex.schemas.common import Timestamp
from pkgindex.schemas.writes import Ignored, PackageRef, Slug100, Text, Title100, absent, read_only


class GridRead(BaseModel):
    id: int
    title: str
    slug: str
    description: str
    is_locked: bool
    packages: list[str] = Field(description="Hyperlinks of the grid's packages, by package title.")
    header: bool
    created: Timestamp
    modified: Timestamp


PACKAGES_HELP = "The grid's packages (order does not matter); replaces its members."
EXAMPLE: dict[str, JsonValue] = {
    "title": "Settings",
    "slug": "settings",
    "description": "Apps that keep settings in the database.",
    "is_locked": False,
    "packages": ["https://djangopackages.org/api/v4/packages/1686/", "django-constance"],
    "header": False,
}


class GridWrite(BaseModel):
    """A whole grid, for POST and PUT: the read shape, with read-only fields ignored."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    id: Annotated[int | None, Ignored] = read_only()
    title: Title100
    slug: Slug100
    description: Text = ""
    is_locked: StrictBool = False
    packages: list[PackageRef] = Field(default=[], description=PACKAGES_HELP)
    header: StrictBool = False
    created: Annotated[datetime | None, Ignored] = read_only(format="date-time")
    modified: Annotated[datetime | None, Ignored] = read_only(format="date-time")


class GridUpdate(BaseModel):
    """Some fields of a grid, for PATCH: only the fields given change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"description": "Updated."}]})

    id: Annotated[int | None, Ignored] = read_only()
    title: Title100 = absent()
    slug: Slug100 = absent()
    description: Text = absent()
    is_locked: StrictBool = absent()
    packages: list[PackageRef] = absent(PACKAGES_HELP)
    header: StrictBool = absent()
    created: Annotated[datetime | None, Ignored] = read_only(format="date-time")
    modified: Annotated[datetime | None, Ignored] = read_only(format="date-time")
