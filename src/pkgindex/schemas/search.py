from typing import Literal

from pydantic import BaseModel, Field

from pkgindex.schemas.common import Timestamp


class SearchResult(BaseModel):
    """One hit, in the original's search shape and field order."""

    description: str
    title: str
    created: Timestamp
    modified: Timestamp
    weight: int = Field(
        description=(
            "Ranking score, higher first: 1000 when the title or slug equals the query (case aside, "
            "with or without a leading `django-`), 100 more when it equals the query as typed; plus "
            "up to 100 for the share of query words that begin a word of the title or slug, and up to "
            "50 for the share found only in the description; plus 10 per factor of ten of repository "
            "stars (at most 100; grids have none). An exact match therefore always comes first."
        )
    )
    item_type: Literal["package", "grid"]
    title_no_prefix: str
    slug: str
    slug_no_prefix: str
    clean_title: str = Field(description="The title in lowercase alphanumerics only.")
    category: str = Field(description="The package's category title; empty for a grid.")
    absolute_url: str
    repo_watchers: int
    repo_forks: int
    pypi_downloads: int | None = Field(description="Not tracked by pkgindex: always null.")
    usage: int | None = Field(description="Not tracked by pkgindex: always null.")
    participants: str = Field(description="Contributor logins, comma-joined.")
    last_committed: Timestamp | None
    last_released: Timestamp | None = Field(description="Not tracked yet: null.")
