"""The refresher's state of one package (not part of the v4 package representation)."""

from pydantic import BaseModel, ConfigDict, Field

from pkgindex.schemas.common import Timestamp


class RefreshStateRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "package": "https://djangopackages.org/api/v4/packages/1686/",
                    "due": False,
                    "next_due": "2026-11-28T04:00:00Z",
                    "leased_until": None,
                    "last_attempt": "2026-11-27T04:00:00Z",
                    "last_success": "2026-11-27T04:00:00Z",
                    "last_error": None,
                    "last_error_at": None,
                    "error_count": 0,
                    "skipped_reason": None,
                    "repo_archived": False,
                    "repo_moved_to": None,
                    "repo_missing": False,
                    "pypi_missing": False,
                    "pushed_at": "2026-01-28T21:20:56Z",
                    "activity_pending": False,
                }
            ]
        }
    )

    package: str = Field(description="Hyperlink of the package.")
    due: bool = Field(description="Whether the package is due for a refresh now.")
    next_due: Timestamp | None = Field(description="When the package falls due; null: never looked at yet.")
    leased_until: Timestamp | None = Field(description="A worker is refreshing it until then, at the latest.")
    last_attempt: Timestamp | None
    last_success: Timestamp | None = Field(description="The last fetch that succeeded entirely.")
    last_error: str | None = Field(description="What went wrong the last time a fetch failed.")
    last_error_at: Timestamp | None
    error_count: int = Field(description="Consecutive failed fetches; the retry delay doubles with each.")
    skipped_reason: str | None = Field(description="Why part of the package is not fetched, if it is not.")
    repo_archived: bool | None = Field(description="Whether the repository is archived, once known.")
    repo_moved_to: str | None = Field(description="Where the repository lives now, if it was renamed.")
    repo_missing: bool = Field(description="The repository host answered 'not found' last time.")
    pypi_missing: bool = Field(description="PyPI answered 'not found' last time.")
    pushed_at: Timestamp | None = Field(description="The repository's last push, as of the last fetch.")
    activity_pending: bool = Field(description="GitHub was still computing the weekly commit counts.")
