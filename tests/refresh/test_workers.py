"""Several refresher workers on one database: each due package is fetched once per cycle, a killed
worker's lease expires and another takes the package over, a stopped worker gives its leases back, and
an API edit that lands during a refresh is kept.

Workers are real `pkgindex refresh` processes where the rule is about processes (PostgreSQL row leases
with FOR UPDATE SKIP LOCKED), and in-process ``Refresher`` instances elsewhere. Upstream is the fake
GitHub/PyPI over loopback; its ``latency`` keeps a fetch in flight long enough to act meanwhile."""

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select

from pkgindex.db import unit_of_work
from pkgindex.models import Package, PackageRefresh
from pkgindex.refresh import state
from pkgindex.refresh.runner import Refresher
from pkgindex.services import tokens
from pkgindex.services.tokens import Scope
from tests.refresh.conftest import World, commits

PKGINDEX = [sys.executable, "-m", "pkgindex"]
# Variables that would make rich draw or colour on a pipe.
TERMINAL_HINTS = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE")
T = TypeVar("T")


def require_postgres(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip(
            "several workers sharing the due packages relies on PostgreSQL row locks "
            "(FOR UPDATE SKIP LOCKED); on SQLite one process refreshes"
        )


# --- helpers ------------------------------------------------------------------------------------------


def cli_env(world: World, **extra: str) -> dict[str, str]:
    """The environment of a `pkgindex` process pointed at the world's database and fake upstream."""
    settings = world.settings()
    assert settings.github_token is not None
    env = {k: v for k, v in os.environ.items() if k not in TERMINAL_HINTS and not k.startswith("PKGINDEX_")}
    return {
        **env,
        "COLUMNS": "200",
        "PKGINDEX_DATABASE_URL": settings.database_url,
        "PKGINDEX_GITHUB_TOKEN": settings.github_token.get_secret_value(),
        "PKGINDEX_GITHUB_API_URL": settings.github_api_url,
        "PKGINDEX_GITHUB_GRAPHQL_URL": settings.github_graphql_url,
        "PKGINDEX_PYPI_URL": settings.pypi_url,
        "PKGINDEX_UPSTREAM_TIMEOUT": "10",
        "PKGINDEX_UPSTREAM_BACKOFF": "0.01",
        "PKGINDEX_ACTIVITY_RETRY_DELAY": "0.2",
        **extra,
    }


@contextlib.contextmanager
def spawned(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """A `pkgindex` process, killed on the way out if the test left it running."""
    process = subprocess.Popen(
        [*PKGINDEX, *args], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


async def finished(process: subprocess.Popen[str], seconds: float = 90) -> tuple[int, str, str]:
    """Wait (without blocking the event loop) for a process; its exit status, stdout and stderr."""
    out, err = await asyncio.to_thread(process.communicate, timeout=seconds)
    return process.returncode, out, err


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, seconds: float = 30) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        await asyncio.sleep(0.05)


async def refresh_rows(world: World) -> dict[int, PackageRefresh]:
    async with unit_of_work(world.factory) as session:
        return {row.package_id: row for row in await session.scalars(select(PackageRefresh))}


async def packages(world: World) -> dict[int, Package]:
    async with unit_of_work(world.factory) as session:
        return {row.id: row for row in await session.scalars(select(Package))}


async def leased(world: World) -> dict[int, PackageRefresh]:
    return {pid: row for pid, row in (await refresh_rows(world)).items() if row.lease_owner is not None}


async def write_token(world: World) -> dict[str, str]:
    async with unit_of_work(world.factory) as session:
        token = (await tokens.create_token(session, "editor", Scope.WRITE))[1]
    return {"Authorization": f"Bearer {token}"}


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def add_world_packages(world: World, n: int, prefix: str = "pkg") -> dict[int, str]:
    """``n`` packages, each with its own repository (two contributors) and PyPI project; id -> name."""
    made = {}
    for i in range(n):
        name = f"{prefix}-{i:02d}"
        world.github(
            f"org/{name}", stars=100 + i, forks=i, contributors=[f"dev{i}", "shared"], commits=commits(1, 8)
        )
        world.pypi(name, "1.0", f"1.{i}")
        pid = await world.add_package(
            name, repo_url=f"https://github.com/org/{name}", pypi_url=f"https://pypi.org/project/{name}/"
        )
        made[pid] = name
    return made


def fetched_once_each(world: World, names: dict[int, str]) -> None:
    """The fake saw exactly one contributors request per repository and one request per PyPI project."""
    log = world.state.log()
    contributors = Counter(r.path for r in log if r.endpoint == "contributors")
    projects = Counter(r.path for r in log if r.endpoint == "pypi_project")
    assert contributors == Counter(f"/github/repos/org/{name}/contributors" for name in names.values())
    assert projects == Counter(f"/pypi/pypi/{name}/json" for name in names.values())
    assert not world.state.violations


async def all_refreshed(world: World, names: dict[int, str]) -> None:
    """Every package holds its own repository's and project's stats, and no lease is left."""
    rows, stored = await refresh_rows(world), await packages(world)
    for pid, name in names.items():
        i = int(name.rsplit("-", 1)[1])
        package = stored[pid]
        assert package.last_fetched is not None, name
        assert (package.repo_watchers, package.repo_forks) == (100 + i, i), name
        assert package.participants == [f"dev{i}", "shared"], name
        assert package.pypi_version == f"1.{i}", name
        assert (rows[pid].lease_owner, rows[pid].lease_expires) == (None, None), name
        assert rows[pid].last_success is not None, name
        assert rows[pid].error_count == 0, name


REFRESHED = re.compile(r"^Refreshed (\d+) packages", re.MULTILINE)
GITHUB_REQUESTS = re.compile(r"^Requests to github: (\d+) ", re.MULTILINE)
PYPI_REQUESTS = re.compile(r"^Requests to pypi: (\d+) ", re.MULTILINE)


def count(pattern: re.Pattern[str], text: str) -> int:
    match = pattern.search(text)
    return int(match[1]) if match else 0


# --- several workers on one PostgreSQL ----------------------------------------------------------------


async def test_two_refresher_processes_fetch_each_package_once(
    world: World, backend: str, tmp_path: Path
) -> None:
    require_postgres(backend)
    names = await add_world_packages(world, 40)
    world.state.latency = 0.2  # long enough that both workers are claiming while the other works
    env = cli_env(world, PKGINDEX_REFRESH_BATCH_SIZE="5")
    with spawned(["refresh"], env, tmp_path) as first, spawned(["refresh"], env, tmp_path) as second:
        (rc1, out1, err1), (rc2, out2, err2) = await asyncio.gather(finished(first), finished(second))
    assert (rc1, rc2) == (0, 0), err1 + err2
    fetched_once_each(world, names)
    await all_refreshed(world, names)
    # The two shared the work: each refreshed some, together every package, once.
    done = (count(REFRESHED, out1), count(REFRESHED, out2))
    assert sum(done) == 40, out1 + out2
    assert min(done) > 0, f"one worker did everything: {out1}{out2}"
    # What they say they sent is what the fake received.
    log = world.state.log()
    assert count(GITHUB_REQUESTS, out1) + count(GITHUB_REQUESTS, out2) == sum(
        1 for r in log if r.api in ("rest", "graphql")
    )
    assert count(PYPI_REQUESTS, out1) + count(PYPI_REQUESTS, out2) == sum(1 for r in log if r.api == "pypi")


async def test_two_refreshers_in_one_process_fetch_each_package_once(world: World, backend: str) -> None:
    require_postgres(backend)
    names = await add_world_packages(world, 40)
    world.state.latency = 0.2  # long enough that both workers are claiming while the other works
    workers = [Refresher(world.settings(refresh_batch_size=5), world.factory) for _ in range(2)]
    try:
        summaries = await asyncio.wait_for(asyncio.gather(*(w.run_pass() for w in workers)), 120)
    finally:
        for worker in workers:
            await worker.aclose()
    assert min(s.packages for s in summaries) > 0, "one worker did everything"
    assert sum(s.packages for s in summaries) == 40
    assert sum(s.outcomes["updated"] for s in summaries) == 40
    fetched_once_each(world, names)
    await all_refreshed(world, names)


async def test_a_killed_workers_lease_expires_and_another_worker_takes_over(
    world: World, tmp_path: Path
) -> None:
    lease = 3.0
    names = await add_world_packages(world, 6)
    world.state.latency = 5.0  # the first answers arrive long after the kill
    env = cli_env(world, PKGINDEX_REFRESH_LEASE_SECONDS=str(lease))
    with spawned(["refresh"], env, tmp_path) as victim:

        async def all_leased() -> dict[int, PackageRefresh] | None:
            if victim.poll() is not None:
                pytest.fail(f"the worker exited early: {victim.communicate()}")
            rows = await leased(world)
            return rows if set(rows) == set(names) else None

        claimed = await eventually(all_leased, "the worker to lease every package")
        victim.send_signal(signal.SIGKILL)
        await finished(victim, seconds=10)
    killed_at = datetime.now(UTC)
    world.state.latency = 0.0
    world.state.reset_log()
    (owner,) = {row.lease_owner for row in claimed.values()}
    rows = await leased(world)
    assert set(rows) == set(names), "a killed worker cannot give its leases back"
    assert {row.lease_owner for row in rows.values()} == {owner}
    assert all(row.lease_expires is not None and row.lease_expires > killed_at for row in rows.values())
    assert all(package.last_fetched is None for package in (await packages(world)).values())
    shown = await world.refresh_state(next(iter(names)))
    assert shown["due"] is False
    assert shown["leased_until"] is not None

    # Before the lease expires, another worker finds nothing it may take.
    early = await world.refresh()
    assert early.packages == 0
    assert world.state.log() == []
    assert datetime.now(UTC) < min(row.lease_expires for row in rows.values() if row.lease_expires), (
        "the pass ran after the leases had expired; the premise of this test did not hold"
    )
    assert set(await leased(world)) == set(names)

    # After it expires, the packages are taken over and refreshed.
    expires = max(row.lease_expires for row in rows.values() if row.lease_expires)
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.2)
    late = await world.refresh()
    assert late.packages == 6
    assert late.outcomes["updated"] == 6
    fetched_once_each(world, names)
    await all_refreshed(world, names)


async def test_a_cancelled_worker_gives_its_leases_back(world: World) -> None:
    names = await add_world_packages(world, 4)
    world.state.latency = 5.0
    refresher = Refresher(world.settings(refresh_poll_interval=60), world.factory)
    stop = asyncio.Event()
    task = asyncio.create_task(refresher.run_forever(stop))
    try:

        async def mine() -> bool:
            rows = await leased(world)
            return set(rows) == set(names) and {r.lease_owner for r in rows.values()} == {refresher.owner}

        await eventually(mine, "the worker to lease every package")
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)
    finally:
        task.cancel()
        await refresher.aclose()
    assert await leased(world) == {}
    # Nothing was fetched, and the packages are due at once: no waiting for a lease to expire.
    assert all(package.last_fetched is None for package in (await packages(world)).values())
    for pid in names:
        assert (await world.refresh_state(pid))["due"] is True
    world.state.latency = 0.0
    world.state.reset_log()
    summary = await world.refresh()
    assert summary.packages == 4
    await all_refreshed(world, names)


async def test_a_stopped_worker_takes_no_new_work_and_leaves_no_lease(world: World) -> None:
    names = await add_world_packages(world, 30)
    world.state.latency = 1.0  # a whole pass, 15 batches of 2, two at a time: 15 s or more
    refresher = Refresher(world.settings(refresh_poll_interval=60, refresh_batch_size=2), world.factory)
    stop = asyncio.Event()
    task = asyncio.create_task(refresher.run_forever(stop))
    try:
        await eventually(lambda: leased(world), "the worker to lease packages")
        stop.set()  # mid-pass: the batches in flight may finish, no new ones are taken
        started = time.monotonic()
        await asyncio.wait_for(task, 60)
        stopped_after = time.monotonic() - started
    finally:
        task.cancel()
        await refresher.aclose()
    assert stopped_after < 6, f"the worker kept refreshing for {stopped_after:.1f} s after it was stopped"
    assert await leased(world) == {}
    # Whatever the stop left undone is due for the next worker, not stranded.
    rows, stored = await refresh_rows(world), await packages(world)
    now = datetime.now(UTC)
    undone = [pid for pid in names if stored[pid].last_fetched is None]
    assert undone
    for pid in undone:
        assert rows[pid].next_due <= now

    # Idle (nothing due), the loop sleeps its poll interval, but a stop ends it at once.
    world.state.latency = 0.0
    idle = Refresher(world.settings(refresh_poll_interval=60), world.factory)
    stop = asyncio.Event()
    task = asyncio.create_task(idle.run_forever(stop))
    try:
        await eventually(lambda: _all_fetched(world, names), "the loop to refresh every package", seconds=30)
        await asyncio.sleep(0.2)
        stop.set()
        started = time.monotonic()
        await asyncio.wait_for(task, 5)
        assert time.monotonic() - started < 5
    finally:
        task.cancel()
        await idle.aclose()
    assert await leased(world) == {}
    await all_refreshed(world, names)


async def _all_fetched(world: World, names: dict[int, str]) -> bool:
    stored = await packages(world)
    return all(stored[pid].last_fetched is not None for pid in names)


# --- once per cycle -----------------------------------------------------------------------------------


async def test_a_second_pass_right_after_the_first_fetches_nothing(world: World) -> None:
    names = await add_world_packages(world, 5)
    refresher = Refresher(world.settings(refresh_batch_size=2), world.factory)
    try:
        first = await refresher.run_pass()
        assert first.packages == 5
        assert first.outcomes["updated"] == 5
        fetched_once_each(world, names)
        sent = len(world.state.log())
        second = await refresher.run_pass()  # the summary is this worker's running total
        assert second.packages == 5
        assert len(world.state.log()) == sent
    finally:
        await refresher.aclose()
    # Nor does another worker find anything due.
    other = await world.refresh()
    assert other.packages == 0
    assert len(world.state.log()) == sent
    await all_refreshed(world, names)
    for pid in names:
        shown = await world.refresh_state(pid)
        assert shown["due"] is False
        assert parse_time(shown["next_due"]) > datetime.now(UTC) + timedelta(hours=23)


# --- API edits during a refresh ----------------------------------------------------------------------


async def _refresh_in_flight(world: World) -> asyncio.Task[Any]:
    """Start a refresh and return once its first upstream request is on its way (and slow)."""
    world.state.latency = 0.5
    task = asyncio.create_task(world.refresh())
    await eventually(lambda: _some_request(world), "the refresher's first upstream request")
    return task


async def _some_request(world: World) -> bool:
    return bool(world.state.log())


async def test_an_api_edit_during_a_refresh_is_kept_and_the_stats_are_written(world: World) -> None:
    world.github("acme/widgets", stars=10, forks=2, contributors=["ann", "bob"], commits=commits(1, 3))
    world.pypi("widgets", "1.9", "2.0", project_urls={"Documentation": "https://pypi-docs.example/"})
    pid = await world.add_package(
        "widgets", repo_url="https://github.com/acme/widgets", pypi_url="https://pypi.org/project/widgets/"
    )
    headers = await write_token(world)
    task = await _refresh_in_flight(world)
    try:
        async with world.client() as client:
            response = await client.patch(
                f"/api/v4/packages/{pid}/",
                json={"title": "Widgets (edited)", "documentation_url": "https://mine.example/docs/"},
                headers=headers,
            )
        assert response.status_code == 200, response.text
        assert not task.done(), "the edit must land while the refresh is fetching"
        summary = await asyncio.wait_for(task, 30)
    finally:
        task.cancel()
    assert summary.outcomes["updated"] == 1
    package = await world.package(pid)
    # The edit is kept ...
    assert package["title"] == "Widgets (edited)"
    assert package["documentation_url"] == "https://mine.example/docs/"  # a person's link beats PyPI's
    # ... and the stats were written.
    assert (package["repo_watchers"], package["repo_forks"]) == (10, 2)
    assert package["participants"] == ["ann", "bob"]
    assert package["pypi_version"] == "2.0"
    assert package["last_fetched"] is not None
    assert (await leased(world)) == {}


async def test_stats_fetched_for_a_repo_url_changed_during_the_refresh_are_dropped(world: World) -> None:
    world.github("acme/old", stars=111, forks=11, contributors=["old-dev"], commits=commits(1, 3))
    world.github("acme/new", stars=222, forks=22, contributors=["new-dev"], commits=commits(2))
    world.pypi("widgets", "2.0")
    pid = await world.add_package(
        "widgets", repo_url="https://github.com/acme/old", pypi_url="https://pypi.org/project/widgets/"
    )
    headers = await write_token(world)
    task = await _refresh_in_flight(world)
    try:
        async with world.client() as client:
            response = await client.patch(
                f"/api/v4/packages/{pid}/", json={"repo_url": "https://github.com/acme/new"}, headers=headers
            )
        assert response.status_code == 200, response.text
        assert not task.done(), "the edit must land while the refresh is fetching"

        # The fetch for the old URL ends, its result is dropped and the package is due again at once:
        # the same pass takes it again, for the new URL. Look while that second fetch is in flight.
        async def new_repo_asked() -> bool:
            return any(r.path == "/github/repos/acme/new/contributors" for r in world.state.log())

        await eventually(new_repo_asked, "the refresher to fetch the new repository")
        assert any(r.path == "/github/repos/acme/old/contributors" for r in world.state.log())
        package = (await packages(world))[pid]
        row = (await refresh_rows(world))[pid]
        assert package.repo_url == "https://github.com/acme/new"
        # Nothing fetched for the old URL was written, not even the PyPI stats fetched with it.
        assert (package.repo_watchers, package.repo_forks, package.participants) == (0, 0, [])
        assert package.last_fetched is None
        assert package.pypi_version is None
        assert row.last_attempt is not None
        assert row.last_success is None
        assert row.next_due <= row.last_attempt + timedelta(seconds=1)  # due again right away
        assert row.lease_owner is not None  # taken again, in the same pass
        await asyncio.wait_for(task, 30)
    finally:
        task.cancel()
    package_read = await world.package(pid)
    assert (package_read["repo_watchers"], package_read["repo_forks"]) == (222, 22)
    assert package_read["participants"] == ["new-dev"]
    assert package_read["pypi_version"] == "2.0"
    assert package_read["last_fetched"] is not None


async def test_stats_for_a_repo_url_changed_during_a_fetch_leave_the_package_due(world: World) -> None:
    """The same, seen from the refresh state: a worker whose fetch was overtaken by an edit leaves the
    package due now (and the stats it fetched unwritten), for whichever worker comes next."""
    world.github("acme/old", stars=111, contributors=["old-dev"], commits=commits(1, 3))
    world.github("acme/new", stars=222, contributors=["new-dev"], commits=commits(2))
    pid = await world.add_package("widgets", repo_url="https://github.com/acme/old")
    headers = await write_token(world)
    world.state.latency = 0.5
    refresher = Refresher(world.settings(), world.factory)
    try:
        (job,) = await state.claim(refresher.factory, refresher.owner, 10, 60)
        fetch = asyncio.create_task(refresher.github.refresh([job]))
        await eventually(lambda: _some_request(world), "the fetch to start")
        async with world.client() as client:
            response = await client.patch(
                f"/api/v4/packages/{pid}/", json={"repo_url": "https://github.com/acme/new"}, headers=headers
            )
        assert response.status_code == 200, response.text
        assert not fetch.done()
        outcomes = await asyncio.wait_for(fetch, 30)
        assert outcomes[pid].values["repo_watchers"] == 111  # what was fetched, for the old URL
        before = datetime.now(UTC)
        changed = await state.finish(
            refresher.factory,
            refresher.owner,
            job,
            [outcomes[pid]],
            next_due=before + timedelta(days=1),
            error_backoff=60,
            max_backoff=600,
        )
    finally:
        await refresher.aclose()
    assert changed is False
    package = await world.package(pid)
    assert (package["repo_watchers"], package["participants"], package["last_fetched"]) == (0, [], None)
    refresh_state = await world.refresh_state(pid)
    assert refresh_state["due"] is True
    assert refresh_state["leased_until"] is None
    assert abs(parse_time(refresh_state["next_due"]) - before) < timedelta(seconds=5)
    assert refresh_state["last_success"] is None
