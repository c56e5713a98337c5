"""Seed a FakeState from a Django Packages API v4 dump (``/work/shared/tools/gen_dataset.py`` output).

The aim is that a correct refresher, run against the fake while "now" is in the week of a package's
``last_fetched``, reads back the dump's own values: stars, forks, description, participants,
``last_updated`` and (for the Sunday-aligned weeks of ``/stats/commit_activity``) ``commits_over_52``.
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .state import FakeProject, FakeRepo, normalize_project_name, version_key

if TYPE_CHECKING:
    from .state import FakeState

GITHUB_URL = re.compile(r"https://github\.com/([^/\s]+)/([^/\s]+?)/?")
PYPI_URLS = (
    re.compile(r"https?://pypi\.python\.org/pypi/([^/\s]+)/?"),
    re.compile(r"https://pypi\.org/project/([^/\s]+)/?"),
)
WEEK = timedelta(days=7)


def week_start(moment: datetime) -> datetime:
    """Midnight UTC of the Sunday starting the week that holds ``moment`` (GitHub's stats weeks)."""
    moment = moment.astimezone(UTC)
    days_since_sunday = (moment.weekday() + 1) % 7  # Monday is 0 in Python
    return (moment - timedelta(days=days_since_sunday)).replace(hour=0, minute=0, second=0, microsecond=0)


def spread_commits(
    full_name: str,
    weekly: list[int],
    anchor: datetime,
    last_updated: datetime | None,
    now: datetime,
) -> list[datetime]:
    """Commit dates whose Sunday-aligned weekly counts are ``weekly`` (oldest first, the last week
    holding ``anchor``), the newest of them being ``last_updated`` when given. Deterministic."""
    rng = random.Random(full_name)  # str seeds hash with sha512: stable across runs and processes
    last_week = week_start(anchor)
    commits: list[datetime] = []
    for index, count in enumerate(weekly):
        start = last_week - (len(weekly) - 1 - index) * WEEK
        span = (min(start + WEEK, now) - start).total_seconds()
        # Whole seconds, like git timestamps; a week cut short by "now" still gets its commits.
        commits.extend(start + timedelta(seconds=int(rng.random() * max(span, 1))) for _ in range(count))
    commits.sort()
    if last_updated is None:
        return commits
    # The dump can contradict itself (generated data may have commits after last_updated, or weeks that
    # do not line up with last_updated): last_updated wins, moving as few commits as possible.
    later = [c for c in commits if c > last_updated]
    commits = [c for c in commits if c <= last_updated]
    commits.extend(last_updated - timedelta(seconds=i + 1) for i in range(len(later)))
    commits.sort()
    if commits and week_start(commits[-1]) == week_start(last_updated):
        commits[-1] = last_updated  # same week: counts stay exact
    elif not commits or commits[-1] != last_updated:
        commits.append(last_updated)
    return sorted(commits)


def _older_release(version: str) -> tuple[str, bool] | None:
    """An older release to sit next to the dump's version, and whether it is yanked.

    When the dump's version is a pre-release the older (final) one is yanked, so that PyPI's rule
    (newest non-yanked final release wins) still makes the dump's version ``info.version``."""
    v = version_key(version)
    major = v.release[0]
    minor = v.release[1] if len(v.release) > 1 else 0
    candidates = [
        f"{major - 1}.0" if major > 0 else "",
        f"0.{minor - 1}.0" if minor > 0 else "",
        "0.0.1.dev0",
    ]
    for candidate in filter(None, candidates):
        if version_key(candidate) < v:
            return candidate, v.is_prerelease
    return None


def _parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(UTC) if value else None


def populate(state: FakeState, dump: dict[str, Any], *, now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    packages = dump.get("packages", [])
    fetched = [t for p in packages if (t := _parse_time(p.get("last_fetched")))]
    newest_fetch = max(fetched) if fetched else now
    seen_projects: set[str] = set()
    for package in packages:
        match = GITHUB_URL.fullmatch(package.get("repo_url") or "")
        if match:
            owner, name = match[1], match[2].removesuffix(".git")
            full_name = f"{owner}/{name}"
            last_updated = _parse_time(package.get("last_updated"))
            weekly = package.get("commits_over_52") or [0] * 52
            anchor = _parse_time(package.get("last_fetched")) or newest_fetch
            commits = spread_commits(full_name, weekly, anchor, last_updated, now)
            state.add_repo(
                FakeRepo(
                    id=10_000_000 + int(package["id"]),
                    full_name=full_name,
                    description=package.get("repo_description") or None,
                    stars=package.get("repo_watchers") or 0,
                    forks=package.get("repo_forks") or 0,
                    contributors=list(package.get("participants") or []),
                    commits=commits,
                    pushed_at=commits[-1] if commits else None,
                )
            )
        pypi_url = package.get("pypi_url") or ""
        pypi_match = next((m for rx in PYPI_URLS if (m := rx.fullmatch(pypi_url))), None)
        if pypi_match is None or normalize_project_name(pypi_match[1]) in seen_projects:
            continue
        seen_projects.add(normalize_project_name(pypi_match[1]))
        # A listed project without a known version still exists on PyPI: give it a first release.
        version = package.get("pypi_version") or "0.1.0"
        releases = {version: False}
        if older := _older_release(version):
            releases[older[0]] = older[1]
        urls = {"Homepage": package["repo_url"]} if package.get("repo_url") else {}
        if (docs := package.get("documentation_url") or "").startswith("http"):
            urls["Documentation"] = docs
        state.add_project(FakeProject(name=pypi_match[1], releases=releases, project_urls=urls or None))
