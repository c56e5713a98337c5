from typing import cast

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from pkgindex.schemas.common import Timestamp

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
