"""What the refresher can fetch, by repository URL: the seam for adding repository hosts.

A host adapter fetches the repository stats of many packages at once (GitHub batches them). Packages on
hosts without an adapter (GitLab, Bitbucket, Codeberg...) are skipped with a recorded reason, not failed.
"""

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Job:
    """A claimed package: what the refresher knows of it when it starts fetching."""

    id: int
    slug: str
    repo_url: str
    pypi_url: str
    documentation_url: str | None
    documentation_url_from_pypi: bool
    last_fetched: datetime | None
    repo_watchers: int
    repo_forks: int
    repo_description: str
    participants: list[str]
    commits_over_52: list[int]
    last_updated: datetime | None
    pypi_version: str | None
    # From the refresh state (see PackageRefresh).
    fetched_repo_url: str | None
    fetched_pypi_url: str | None
    etag_owner: str | None
    repo_etag: str | None
    contributors_etag: str | None
    activity_etag: str | None
    commits_etag: str | None
    pypi_etag: str | None
    pushed_at: datetime | None
    contributors_fetched: datetime | None
    activity_week: datetime | None
    activity_pending: bool

    def v4_stats(self) -> dict[str, Any]:
        """The stored value of every field an outcome may set, to tell what changed."""
        return {name: getattr(self, name) for name in STATS_FIELDS}


STATS_FIELDS = (
    "repo_watchers",
    "repo_forks",
    "repo_description",
    "participants",
    "commits_over_52",
    "last_updated",
    "pypi_version",
    "documentation_url",
)


@dataclass
class Outcome:
    """What one source (a repository host, or PyPI) learned about one package.

    ``values`` holds only fields for which a good answer arrived; ``state`` the PackageRefresh columns
    to record. ``error`` marks the fetch failed (the values that did arrive are still kept).
    """

    values: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    skipped: str | None = None
    retry_soon: bool = False  # an answer is being computed upstream (GitHub's 202): ask again shortly


class RepoHost(Protocol):
    name: str

    def handles(self, repo_url: str) -> bool: ...

    async def refresh(self, jobs: list[Job]) -> dict[int, Outcome]: ...


GITHUB_REPO = re.compile(
    r"^https?://(?:www\.)?github\.com/([A-Za-z0-9-]+)/([A-Za-z0-9._-]+?)(?:\.git)?(?:/.*)?$"
)


def github_full_name(repo_url: str) -> str | None:
    """``owner/name`` of a GitHub repository URL, or None."""
    match = GITHUB_REPO.match(repo_url.strip())
    return f"{match[1]}/{match[2]}" if match else None


def unsupported_reason(repo_url: str) -> str:
    host = urlsplit(repo_url).hostname or repo_url
    return f"repository host {host} is not supported yet"
