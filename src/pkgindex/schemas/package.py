from datetime import datetime
from typing import Annotated, cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from pkgindex.schemas.common import Timestamp
from pkgindex.schemas.writes import (
    CategoryRef,
    GridRef,
    Ignored,
    Slug100,
    Title100,
    Url255,
    absent,
    read_only,
)

EXAMPLE: dict[str, JsonValue] = {
    "category": "https://djangopackages.org/api/v4/categories/1/",
    "grids": ["https://djangopackages.org/api/v4/grids/55/"],
    "id": 1686,
    "title": "django-dbsettings",
    "slug": "django-dbsettings-new",
    "last_updated": "2026-01-28T16:20:56-05:00",
    "last_fetched": "2026-02-15T19:01:29.443217-05:00",
    "repo_url": "https://github.com/zlorf/django-dbsettings",
    "pypi_version": "1.4.0",
    "created": "2013-02-21T06:07:16.164960-05:00",
    "modified": "2026-01-28T14:37:50.814473-05:00",
    "repo_forks": 39,
    "repo_description": "Application settings whose values can be updated while a project is up and running",
    "pypi_url": "http://pypi.python.org/pypi/django-dbsettings",
    "documentation_url": None,
    "repo_watchers": 64,
    "commits_over_52": cast(JsonValue, [0] * 49 + [2, 0, 0]),
    "participants": ["zlorf", "gulopine", "hdg700"],
}


class PackageRead(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLE]})

    category: str = Field(description="Hyperlink of the package's category.")
    grids: list[str] = Field(description="Hyperlinks of the grids that list the package.")
    id: int
    title: str
    slug: str
    last_updated: Timestamp | None = Field(description="Time of the last commit, if known.")
    last_fetched: Timestamp | None = Field(description="Time stats were last fetched upstream.")
    repo_url: str
    pypi_version: str | None
    created: Timestamp
    modified: Timestamp
    repo_forks: int
    repo_description: str
    pypi_url: str
    documentation_url: str | None
    repo_watchers: int
    commits_over_52: list[int] = Field(
        description="52 weekly commit counts, oldest week first, or [] when commit data is unknown."
    )
    participants: list[str] = Field(description="Contributor logins.")


REPO_URL_HELP = (
    "Empty, or the http(s) URL of the repository on a known code host (GitHub, GitLab, Bitbucket, "
    "Codeberg, SourceHut, …). Changing it clears the repository stats and schedules a refresh."
)
PYPI_URL_HELP = "Empty, or an http(s) URL. Changing it clears pypi_version and schedules a refresh."
GRIDS_HELP = "The grids that list the package, in this order; replaces its memberships."
PATCH_EXAMPLE: dict[str, JsonValue] = {
    "title": "django-dbsettings",
    "grids": ["https://djangopackages.org/api/v4/grids/55/", "settings"],
    "documentation_url": "https://django-dbsettings.readthedocs.io/",
}


class PackageWrite(BaseModel):
    """A whole package, for POST and PUT: the read shape, with read-only fields ignored."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})

    category: CategoryRef
    grids: list[GridRef] = Field(default=[], description=GRIDS_HELP)
    id: Annotated[int | None, Ignored] = read_only()
    title: Title100
    slug: Slug100
    last_updated: Annotated[datetime | None, Ignored] = read_only(format="date-time")
    last_fetched: Annotated[datetime | None, Ignored] = read_only(format="date-time")
    repo_url: Url255 = Field(default="", description=REPO_URL_HELP)
    pypi_version: Annotated[str | None, Ignored] = read_only()
    created: Annotated[datetime | None, Ignored] = read_only(format="date-time")
    modified: Annotated[datetime | None, Ignored] = read_only(format="date-time")
    repo_forks: Annotated[int | None, Ignored] = read_only()
    repo_description: Annotated[str | None, Ignored] = read_only()
    pypi_url: Url255 = Field(default="", description=PYPI_URL_HELP)
    documentation_url: Url255 | None = Field(default=None, description="Null, empty or an http(s) URL.")
    repo_watchers: Annotated[int | None, Ignored] = read_only()
    commits_over_52: Annotated[list[int] | None, Ignored] = read_only()
    participants: Annotated[list[str] | None, Ignored] = read_only()


class PackageUpdate(BaseModel):
    """Some fields of a package, for PATCH: only the fields given change."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [PATCH_EXAMPLE]})

    category: CategoryRef = absent()
    grids: list[GridRef] = absent(GRIDS_HELP)
    id: Annotated[int | None, Ignored] = read_only()
    title: Title100 = absent()
    slug: Slug100 = absent()
    last_updated: Annotated[datetime | None, Ignored] = read_only(format="date-time")
    last_fetched: Annotated[datetime | None, Ignored] = read_only(format="date-time")
    repo_url: Url255 = absent(REPO_URL_HELP)
    pypi_version: Annotated[str | None, Ignored] = read_only()
    created: Annotated[datetime | None, Ignored] = read_only(format="date-time")
    modified: Annotated[datetime | None, Ignored] = read_only(format="date-time")
    repo_forks: Annotated[int | None, Ignored] = read_only()
    repo_description: Annotated[str | None, Ignored] = read_only()
    pypi_url: Url255 = absent(PYPI_URL_HELP)
    documentation_url: Url255 | None = Field(default=None, description="Null, empty or an http(s) URL.")
    repo_watchers: Annotated[int | None, Ignored] = read_only()
    commits_over_52: Annotated[list[int] | None, Ignored] = read_only()
    participants: Annotated[list[str] | None, Ignored] = read_only()
