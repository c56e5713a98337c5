"""Faults and limits, end to end: the refresher against the fake GitHub/PyPI with injected faults and
small quotas. Stored stats must survive every fault; no request may be sent while a limit holds."""

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from pkgindex.db import unit_of_work
from pkgindex.models import PackageRefresh
from pkgindex.refresh.runner import Summary
from tests.fakeupstream import RequestRecord
from tests.refresh.conftest import NOW, World, commits

RETRIES = 1  # upstream_retries in these tests: two attempts per request
BACKOFF = 1000.0  # refresh_error_backoff
TIMEOUT = 0.5  # upstream_timeout; a "timeout" fault hangs a little longer
SETTINGS: dict[str, Any] = {
    "upstream_retries": RETRIES,
    "upstream_timeout": TIMEOUT,
    "refresh_error_backoff": BACKOFF,
}
KINDS = ["500", "502", "503", "timeout", "reset", "malformed"]

# Endpoint kind -> (the fake's name for it, the path of one package's requests to it)
ENDPOINTS = {
    "graphql": ("graphql", r"^/github/graphql$"),
    "contributors": ("contributors", r"^/github/repos/acme/{name}/contributors$"),
    "commit_activity": ("commit_activity", r"^/github/repos/acme/{name}/stats/commit_activity$"),
    "pypi": ("pypi_project", r"^/pypi/pypi/{name}/json$"),
}
# One GraphQL query serves every repository of a batch: its faults are tested alone. The others hit one
# package each, so three packages, one per endpoint, are tested in one world.
GROUPS = {"graphql": ["graphql"], "rest+pypi": ["contributors", "commit_activity", "pypi"]}


@dataclass
class Stored:
    """A package whose stats were fetched once, successfully; a fault will hit one of its endpoints."""

    endpoint: str
    name: str
    id: int
    before: dict[str, Any]  # its v4 representation after that fetch
    field: str = ""  # the v4 field the endpoint's changed answer changes
    new_value: Any = None

    @property
    def pattern(self) -> str:
        return ENDPOINTS[self.endpoint][1].format(name=self.name)

    def asked(self, world: World) -> list[RequestRecord]:
        return [r for r in world.state.log() if re.search(self.pattern, r.path)]

    def faulted(self, world: World) -> list[RequestRecord]:
        return [r for r in self.asked(world) if r.fault]

    def value(self, package: dict[str, Any]) -> Any:
        return sum(package[self.field]) if self.field == "commits_over_52" else package[self.field]


def when(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


def seconds_between(start: str | None, end: str | None) -> float:
    return (when(end) - when(start)).total_seconds()


def busy_year() -> list[datetime]:
    """More than 100 commits in the last year: weekly counts come from REST commit_activity."""
    return commits(*(1 + i * 2.5 for i in range(120)))


async def stored_packages(world: World, endpoints: list[str]) -> list[Stored]:
    """One package per endpoint kind, fetched once from every endpoint; upstream then changes what that
    endpoint kind reports, and the refresher is made to believe in a push, so it asks again."""
    names = {endpoint: "w-" + endpoint.replace("_", "-") for endpoint in endpoints}
    ids = {}
    for endpoint, name in names.items():
        world.github(f"acme/{name}", stars=10, contributors=["ann", "bob"], commits=busy_year())
        world.pypi(name, "1.0")
        ids[endpoint] = await world.add_package(
            name, repo_url=f"https://github.com/acme/{name}", pypi_url=f"https://pypi.org/project/{name}/"
        )
    # GitHub answers the first commit_activity with 202: it is asked again in the same pass.
    summary = await world.refresh(**SETTINGS, activity_retry_delay=0.05)
    assert summary.outcomes["failed"] == 0, summary.lines()
    stored = []
    for endpoint, name in names.items():
        package = await world.package(ids[endpoint])
        assert (package["repo_watchers"], package["participants"]) == (10, ["ann", "bob"])
        assert (package["pypi_version"], sum(package["commits_over_52"])) == ("1.0", 120)
        assert package["last_fetched"] is not None
        one = Stored(endpoint, name, ids[endpoint], package)
        one.field, one.new_value = change_upstream(world, name, endpoint)
        await seen_push(world, one.id)
        stored.append(one)
    world.state.reset_log()
    return stored


async def seen_push(world: World, pid: int) -> None:
    """Make the stored push time older than upstream's: the refresher believes a push happened and asks
    for contributors and weekly activity again (GraphQL's own fields stay as they are upstream)."""
    row = await world.row(pid)
    assert row is not None
    assert row.pushed_at is not None
    async with unit_of_work(world.factory) as session:
        await session.execute(
            update(PackageRefresh)
            .where(PackageRefresh.package_id == pid)
            .values(pushed_at=row.pushed_at - timedelta(days=1))
        )


def change_upstream(world: World, name: str, endpoint: str) -> tuple[str, Any]:
    """Change what exactly one endpoint kind reports; returns the v4 field and its new value."""
    repo = world.state.repo(f"acme/{name}")
    with world.state.lock:
        if endpoint == "graphql":
            repo.stars = 99
            return "repo_watchers", 99
        if endpoint == "contributors":
            repo.contributors = ["ann", "bob", "cy"]
            return "participants", ["ann", "bob", "cy"]
        if endpoint == "commit_activity":
            # Older than the newest commit: GraphQL's last commit and push date stay as they are.
            repo.commits.extend(NOW - timedelta(days=30, minutes=i) for i in range(3))
            return "commits_over_52", 123
    world.pypi(name, "1.0", "2.0")
    return "pypi_version", "2.0"


def settings_for(kind: str) -> dict[str, Any]:
    # A short timeout only where a timeout is the fault: normal answers must never run into it.
    return {**SETTINGS, "upstream_timeout": TIMEOUT if kind == "timeout" else 10.0}


async def fail_once(world: World, stored: list[Stored], kind: str) -> list[dict[str, Any]]:
    """One pass during which each package's endpoint fails with ``kind`` on every attempt; their
    refresh states."""
    world.state.reset_log()
    world.state.hang = TIMEOUT + 0.5
    for one in stored:
        world.state.inject(one.pattern, kind, times=RETRIES + 1)
    await world.refresh(every=True, **settings_for(kind))
    for one in stored:
        assert len(one.faulted(world)) == RETRIES + 1, one  # every attempt was made, and no more
    return [await world.refresh_state(one.id) for one in stored]


@pytest.mark.parametrize("group", list(GROUPS))
@pytest.mark.parametrize("kind", KINDS)
async def test_stats_survive_a_fault_that_outlasts_the_retries(world: World, kind: str, group: str) -> None:
    stored = await stored_packages(world, GROUPS[group])
    first = [await world.refresh_state(one.id) for one in stored]

    # Nothing stored changes, field by field; the error is recorded and the package backs off.
    states = await fail_once(world, stored, kind)
    for one, state, earlier in zip(stored, states, first, strict=True):
        assert await world.package(one.id) == one.before, one.endpoint
        assert state["last_error"], one.endpoint
        assert state["error_count"] == 1
        assert when(state["last_error_at"]) > when(earlier["last_success"])
        assert state["last_success"] == earlier["last_success"]
        assert seconds_between(state["last_error_at"], state["next_due"]) == pytest.approx(BACKOFF, abs=5)
        assert state["due"] is False

    # The fault is over: the next pass fetches what changed (it was not forgotten) and clears the errors.
    world.state.reset_log()
    await world.refresh(every=True, **SETTINGS)
    for one in stored:
        assert not one.faulted(world)
        after = await world.package(one.id)
        assert one.value(after) == one.new_value, one.endpoint
        assert when(after["last_fetched"]) > when(one.before["last_fetched"])
        state = await world.refresh_state(one.id)
        assert state["error_count"] == 0
        assert when(state["last_success"]) > when(state["last_error_at"])
        assert seconds_between(state["last_success"], state["next_due"]) > 23 * 3600
    assert not world.state.violations


@pytest.mark.parametrize(("group", "kind"), [("graphql", "reset"), ("rest+pypi", "503")])
async def test_consecutive_failures_double_the_backoff(world: World, group: str, kind: str) -> None:
    stored = await stored_packages(world, GROUPS[group])
    waits: list[list[float]] = []
    for count in (1, 2, 3):
        states = await fail_once(world, stored, kind)
        assert [state["error_count"] for state in states] == [count] * len(stored)
        waits.append([seconds_between(state["last_error_at"], state["next_due"]) for state in states])
        for one in stored:
            assert await world.package(one.id) == one.before
    for one_wait, expected in zip(waits, [BACKOFF, 2 * BACKOFF, 4 * BACKOFF], strict=True):
        assert one_wait == pytest.approx([expected] * len(stored), abs=5)

    await world.refresh(every=True, **SETTINGS)
    for one in stored:
        assert one.value(await world.package(one.id)) == one.new_value
        state = await world.refresh_state(one.id)
        assert state["error_count"] == 0
        assert when(state["last_success"]) > when(state["last_error_at"])


@pytest.mark.parametrize(
    ("group", "kind"),
    [("graphql", "timeout"), ("graphql", "502"), ("rest+pypi", "reset"), ("rest+pypi", "malformed")],
)
async def test_transient_faults_that_clear_within_the_retries(world: World, group: str, kind: str) -> None:
    stored = await stored_packages(world, GROUPS[group])
    world.state.hang = TIMEOUT + 0.5
    for one in stored:
        world.state.inject(one.pattern, kind, times=2)

    summary = await world.refresh(every=True, **{**settings_for(kind), "upstream_retries": 2})

    assert summary.outcomes["updated"] == len(stored), summary.lines()
    assert summary.traffic.retries == 2 * len(stored)
    for one in stored:
        assert one.value(await world.package(one.id)) == one.new_value
        state = await world.refresh_state(one.id)
        assert state["error_count"] == 0
        assert state["last_error"] is None
        # Two failed attempts, then the good one.
        assert [r.fault for r in one.asked(world)] == [kind, kind, None], one.endpoint


@pytest.mark.parametrize(
    ("failing", "pattern", "updated", "kept"),
    [
        ("pypi", r"^/pypi/", ("repo_watchers", 99), ("pypi_version", "1.0")),
        ("github", r"^/github/", ("pypi_version", "2.0"), ("repo_watchers", 10)),
    ],
)
async def test_a_partial_fetch_keeps_what_did_not_arrive(
    world: World, failing: str, pattern: str, updated: tuple[str, Any], kept: tuple[str, Any]
) -> None:
    (one,) = await stored_packages(world, ["graphql"])  # upstream has 99 stars now
    change_upstream(world, one.name, "pypi")  # and version 2.0
    world.state.inject(pattern, "503", times=10)

    await world.refresh(every=True, **SETTINGS)

    after = await world.package(one.id)
    assert after[updated[0]] == updated[1]  # the source that answered is taken
    assert after[kept[0]] == kept[1]  # the one that failed leaves its fields alone
    assert after["last_fetched"] == one.before["last_fetched"]  # not a complete fetch
    unchanged = {name: value for name, value in after.items() if name not in (updated[0], "modified")}
    assert unchanged == {
        name: value for name, value in one.before.items() if name not in (updated[0], "modified")
    }
    state = await world.refresh_state(one.id)
    assert state["error_count"] == 1
    assert failing in state["last_error"].lower()


# --- limits ------------------------------------------------------------------------------------------


async def repositories(world: World, n: int, *, pypi: bool = False) -> list[int]:
    """``n`` packages, never fetched, each with a GitHub repository (a few commits, one contributor)."""
    ids = []
    for i in range(n):
        world.github(f"org/repo{i}", stars=i, contributors=[f"dev{i}"], commits=commits(1, 3))
        if pypi:
            world.pypi(f"repo{i}", "1.0")
        ids.append(
            await world.add_package(
                f"repo{i}",
                repo_url=f"https://github.com/org/repo{i}",
                pypi_url=f"https://pypi.org/project/repo{i}/" if pypi else "",
            )
        )
    return ids


async def assert_all_fetched(world: World, ids: list[int], summary: Summary) -> None:
    # A package whose weekly activity GitHub was still computing (202) is finished in a second round.
    assert summary.outcomes["updated"] >= len(ids), summary.lines()
    assert summary.outcomes["failed"] == summary.outcomes["skipped"] == 0, summary.lines()
    for i in {0, len(ids) - 1}:  # the first and the last, through the API
        package = await world.package(ids[i])
        assert package["participants"] == [f"dev{i}"], package
        state = await world.refresh_state(ids[i])
        assert state["error_count"] == 0, state
        assert state["last_success"] is not None, state


def spent_windows(records: list[RequestRecord], limit: int, window: float) -> list[tuple[RequestRecord, int]]:
    """The answers that spent a window's last unit, with the reset (epoch seconds) they announced —
    the fake's fixed windows: one starts at the first charged request and lasts ``window``."""
    spent, used, reset = [], 0, 0
    for record in records:
        if record.units and (not reset or record.wall >= reset):
            used, reset = 0, 0
        if record.units:
            if not reset:
                reset = math.ceil(record.wall + window)
            used += record.units
            if used >= limit:
                spent.append((record, reset))
    return spent


def assert_quiet_until_reset(
    records: list[RequestRecord], limit: int, window: float, *, latency: float = 0.0
) -> int:
    """No request arrived after the client read "remaining 0" and before the window's reset."""
    spent = spent_windows(records, limit, window)
    for exhausted, reset in spent:
        told = exhausted.at + latency
        early = [r for r in records if r.at > told and r.wall < reset]
        assert not early, (exhausted, reset, early)
    return len(spent)


async def test_rest_quota_exhaustion_pauses_until_the_reset(world: World) -> None:
    ids = await repositories(world, 5)
    world.state.set_limits(rest=3, window=1)

    summary = await world.refresh(github_concurrency=1)

    await assert_all_fetched(world, ids, summary)
    assert not world.state.violations
    rest = [r for r in world.state.log() if r.api == "rest"]
    assert len(rest) == 5
    assert all(r.status == 200 for r in rest)
    assert assert_quiet_until_reset(rest, 3, 1) >= 1  # the quota ran out, and the refresher waited
    assert summary.traffic.rate_limited == 0


async def test_no_request_after_remaining_zero_even_with_concurrency(world: World) -> None:
    ids = await repositories(world, 6)
    world.state.latency = 0.1  # answers take a while: requests overlap
    world.state.set_limits(rest=3, window=1)

    summary = await world.refresh(github_concurrency=4)

    await assert_all_fetched(world, ids, summary)
    assert not world.state.violations
    rest = [r for r in world.state.log() if r.api == "rest"]
    assert assert_quiet_until_reset(rest, 3, 1, latency=0.1) == 2
    # The first answer tells the quota before more requests leave; from then on none is refused.
    assert all(r.status == 200 for r in rest)
    assert len(rest) == 6


async def test_graphql_points_exhaustion_pauses_until_the_reset(world: World) -> None:
    ids = await repositories(world, 101)  # two queries: 100 repositories (2 points), then 1 (1 point)
    world.state.set_limits(graphql=2, window=1)

    summary = await world.refresh()

    await assert_all_fetched(world, ids, summary)
    assert not world.state.violations
    graphql = [r for r in world.state.log() if r.api == "graphql"]
    assert [r.units for r in graphql if r.units] == [2, 1]
    assert assert_quiet_until_reset(graphql, 2, 1) == 1


async def test_secondary_limits_are_honoured(world: World) -> None:
    ids = await repositories(world, 2)
    world.state.inject(r"/contributors$", "secondary", retry_after=1)
    world.state.inject(r"/contributors$", "ratelimit429", retry_after=1)

    summary = await world.refresh(github_concurrency=1)

    await assert_all_fetched(world, ids, summary)
    assert not world.state.violations
    github = [r for r in world.state.log() if r.api in ("rest", "graphql")]
    limited = [i for i, r in enumerate(github) if r.fault in ("secondary", "ratelimit429")]
    assert [github[i].status for i in limited] == [403, 429]
    for i in limited:
        assert github[i + 1].at >= github[i].at + 1.0  # nothing before the time the answer named
    assert summary.traffic.rate_limited == 2
    assert summary.traffic.retries == 0  # a rate limit is waited out, not counted as a failed attempt


async def test_pypi_retry_after_is_honoured(world: World) -> None:
    ids = await repositories(world, 2, pypi=True)
    world.state.inject(r"^/pypi/", "ratelimit429", retry_after=1)

    await world.refresh(pypi_concurrency=1)

    for pid in ids:
        assert (await world.package(pid))["pypi_version"] == "1.0"
    assert not world.state.violations
    pypi = [r for r in world.state.log() if r.api == "pypi"]
    assert [r.status for r in pypi] == [429, 200, 200]
    assert pypi[1].at >= pypi[0].at + 1.0


async def test_anonymous_quota_is_never_overspent(world: World) -> None:
    ids = await repositories(world, 2)
    world.state.set_limits(anonymous=5, window=1)

    summary = await world.refresh(github_token=None, activity_retry_delay=0.05)

    await assert_all_fetched(world, ids, summary)
    assert not world.state.violations
    rest = [r for r in world.state.log() if r.api == "rest"]
    assert not [r for r in rest if r.status in (403, 429)]
    assert all(not r.authorized for r in rest)
    assert assert_quiet_until_reset(rest, 5, 1) >= 1
