"""The ways to run the refresher: `pkgindex refresh` (one pass, --all, --package, --loop), the refresh
resource of the API (GET the state, POST to make a package due), and the background refresher inside
`pkgindex serve`. Every command is run as a real process against the test's database and the fake
GitHub/PyPI."""

import asyncio
import contextlib
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.refresh.conftest import World, commits
from tests.refresh.test_workers import (
    PKGINDEX,
    add_world_packages,
    cli_env,
    eventually,
    finished,
    leased,
    packages,
    parse_time,
    refresh_rows,
    spawned,
    write_token,
)

PROBLEM = "application/problem+json"
BASE = "http://pkgindex.test/api/v4"
STATE_FIELDS = {
    "package",
    "due",
    "next_due",
    "leased_until",
    "last_attempt",
    "last_success",
    "last_error",
    "last_error_at",
    "error_count",
    "skipped_reason",
    "repo_archived",
    "repo_moved_to",
    "repo_missing",
    "pypi_missing",
    "pushed_at",
    "activity_pending",
}


async def run_refresh(world: World, cwd: Path, *args: str, **env: str) -> tuple[int, str, str]:
    with spawned(["refresh", *args], cli_env(world, **env), cwd) as process:
        return await finished(process)


async def four_packages(world: World) -> dict[str, int]:
    """Two that refresh cleanly, one whose PyPI project is gone, one with nothing to fetch."""
    world.github("acme/alpha", stars=11, forks=1, contributors=["ann"], commits=commits(1, 2))
    world.github("acme/beta", stars=22, forks=2, contributors=["bob", "cy"], commits=commits(3))
    world.github("acme/gamma", stars=33, forks=3, contributors=["dee"], commits=commits(4))
    world.pypi("alpha", "1.0")
    world.pypi("beta", "2.0", "2.1")
    return {
        "alpha": await world.add_package(
            "alpha", repo_url="https://github.com/acme/alpha", pypi_url="https://pypi.org/project/alpha/"
        ),
        "beta": await world.add_package(
            "beta", repo_url="https://github.com/acme/beta", pypi_url="https://pypi.org/project/beta/"
        ),
        "gamma": await world.add_package(
            "gamma", repo_url="https://github.com/acme/gamma", pypi_url="https://pypi.org/project/gone/"
        ),
        "delta": await world.add_package("delta"),
    }


SUMMARY = re.compile(
    r"^Refreshed (?P<n>\d+) packages in [\d.]+ s: (?P<updated>\d+) updated, (?P<unchanged>\d+) unchanged, "
    r"(?P<failed>\d+) failed, (?P<skipped>\d+) skipped\.$",
    re.MULTILINE,
)
NOT_MODIFIED = re.compile(r"^Not modified \(304\): (\d+); retries: (\d+); rate-limit answers: (\d+)$", re.M)
QUOTA_SPENT = re.compile(r"^GitHub quota spent: (\d+) units \(REST (\d+), GraphQL (\d+) points\)$", re.M)


def outcomes(out: str) -> tuple[int, int, int, int, int]:
    match = SUMMARY.search(out)
    assert match, out
    n, updated, unchanged, failed, skipped = (
        int(match[k]) for k in ("n", "updated", "unchanged", "failed", "skipped")
    )
    return n, updated, unchanged, failed, skipped


def requests_line(out: str, host: str) -> tuple[int, dict[int, int]] | None:
    """``Requests to HOST: N (200: a, 304: b)`` as (N, {status: count})."""
    match = re.search(rf"^Requests to {host}: (\d+) \((.*)\)$", out, re.MULTILINE)
    if match is None:
        return None
    statuses = dict(part.split(": ") for part in match[2].split(", "))
    return int(match[1]), {int(k): int(v) for k, v in statuses.items()}


def quota_left(out: str, resource: str) -> tuple[int, int] | None:
    match = re.search(rf"^GitHub {resource} quota left: (\d+) of (\d+) \(resets ", out, re.MULTILINE)
    return (int(match[1]), int(match[2])) if match else None


def seen_by_fake(world: World, apis: tuple[str, ...], since: int = 0) -> tuple[int, dict[int, int]]:
    log = [r for r in world.state.log()[since:] if r.api in apis]
    statuses: dict[int, int] = {}
    for record in log:
        statuses[record.status] = statuses.get(record.status, 0) + 1
    return len(log), statuses


# --- pkgindex refresh ---------------------------------------------------------------------------------


async def test_refresh_prints_a_summary_that_matches_what_upstream_saw(world: World, tmp_path: Path) -> None:
    ids = await four_packages(world)
    rc, out, err = await run_refresh(world, tmp_path)
    assert rc == 0, err
    assert outcomes(out) == (4, 2, 0, 1, 1)
    github, pypi = seen_by_fake(world, ("rest", "graphql")), seen_by_fake(world, ("pypi",))
    assert github == (4, {200: 4})  # one GraphQL query for the three repositories, three contributor lists
    assert pypi == (3, {200: 2, 404: 1})
    assert requests_line(out, "github") == github
    assert requests_line(out, "pypi") == pypi
    match = NOT_MODIFIED.search(out)
    assert match, out
    assert match.groups() == ("0", "0", "0")
    rest_units = sum(r.units for r in world.state.log() if r.api == "rest")
    graphql_units = sum(r.units for r in world.state.log() if r.api == "graphql")
    spent = QUOTA_SPENT.search(out)
    assert spent, out
    assert spent.groups() == (str(rest_units + graphql_units), str(rest_units), str(graphql_units))
    assert quota_left(out, "core") == (world.state.rest_limit - rest_units, world.state.rest_limit)
    assert quota_left(out, "graphql") == (
        world.state.graphql_limit - graphql_units,
        world.state.graphql_limit,
    )
    # The packages say the same.
    stored = await packages(world)
    assert (stored[ids["alpha"]].repo_watchers, stored[ids["alpha"]].pypi_version) == (11, "1.0")
    assert (stored[ids["beta"]].repo_watchers, stored[ids["beta"]].pypi_version) == (22, "2.1")
    assert stored[ids["gamma"]].repo_watchers == 33
    gamma = (await refresh_rows(world))[ids["gamma"]]
    assert gamma.error_count == 1
    assert gamma.pypi_missing is True
    assert "gone" in (gamma.last_error or "")

    # Nothing is due any more: a second run sends nothing.
    sent = len(world.state.log())
    rc, out, err = await run_refresh(world, tmp_path)
    assert rc == 0, err
    assert outcomes(out) == (0, 0, 0, 0, 0)
    assert len(world.state.log()) == sent
    assert requests_line(out, "github") is None

    # --all refreshes every package, due or not; unchanged answers are conditional 304s.
    rc, out, err = await run_refresh(world, tmp_path, "--all")
    assert rc == 0, err
    assert outcomes(out) == (4, 0, 2, 1, 1)
    github, pypi = seen_by_fake(world, ("rest", "graphql"), sent), seen_by_fake(world, ("pypi",), sent)
    assert requests_line(out, "github") == github == (1, {200: 1})  # no push: no contributors asked for
    assert requests_line(out, "pypi") == pypi == (3, {304: 2, 404: 1})
    match = NOT_MODIFIED.search(out)
    assert match, out
    assert match[1] == "2"
    assert sum(1 for r in world.state.log()[sent:] if r.status == 304) == 2
    graphql_units = sum(r.units for r in world.state.log() if r.api == "graphql")
    assert quota_left(out, "graphql") == (
        world.state.graphql_limit - graphql_units,
        world.state.graphql_limit,
    )
    assert not world.state.violations


async def test_refresh_package_refreshes_only_that_package(world: World, tmp_path: Path) -> None:
    ids = await four_packages(world)
    rc, out, err = await run_refresh(world, tmp_path, "--package", "alpha")
    assert rc == 0, err
    assert outcomes(out) == (1, 1, 0, 0, 0)
    paths = {r.path for r in world.state.log()}
    assert "/github/repos/acme/alpha/contributors" in paths
    assert "/pypi/pypi/alpha/json" in paths
    assert not [p for p in paths if "beta" in p or "gamma" in p or "gone" in p], paths
    stored = await packages(world)
    assert stored[ids["alpha"]].last_fetched is not None
    assert stored[ids["alpha"]].repo_watchers == 11
    for other in ("beta", "gamma", "delta"):
        assert stored[ids[other]].last_fetched is None
        assert stored[ids[other]].repo_watchers == 0
    rows = await refresh_rows(world)
    for other in ("beta", "gamma", "delta"):
        assert ids[other] not in rows or rows[ids[other]].last_attempt is None

    # By id as well; and a package that is not due is refreshed all the same.
    world.state.repo("acme/alpha").stars = 12
    sent = len(world.state.log())
    rc, out, err = await run_refresh(world, tmp_path, "--package", str(ids["alpha"]))
    assert rc == 0, err
    assert outcomes(out) == (1, 1, 0, 0, 0)
    assert (await packages(world))[ids["alpha"]].repo_watchers == 12
    assert all("beta" not in r.path for r in world.state.log()[sent:])

    # A package whose fetch fails: exit status 1.
    rc, out, err = await run_refresh(world, tmp_path, "--package", "gamma")
    assert rc == 1
    assert outcomes(out) == (1, 0, 0, 1, 0)


async def test_refresh_of_an_unknown_package_exits_1_with_a_message(world: World, tmp_path: Path) -> None:
    await four_packages(world)
    rc, out, err = await run_refresh(world, tmp_path, "--package", "no-such-package")
    assert rc == 1
    assert "no-such-package" in err
    assert "Traceback" not in err
    assert "Refreshed" not in out
    # With a known one beside it, nothing is refreshed either.
    rc, out, err = await run_refresh(world, tmp_path, "--package", "alpha", "--package", "nope")
    assert rc == 1
    assert "'nope'" in err
    assert "alpha" not in err
    assert world.state.log() == []
    assert all(package.last_fetched is None for package in (await packages(world)).values())


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_refresh_loop_keeps_going_and_stops_cleanly_on_a_signal(
    world: World, tmp_path: Path, signum: signal.Signals
) -> None:
    ids = await four_packages(world)
    headers = await write_token(world)
    env = cli_env(world, PKGINDEX_REFRESH_POLL_INTERVAL="0.2", PKGINDEX_REFRESH_BATCH_SIZE="2")
    with spawned(["refresh", "--loop"], env, tmp_path) as loop:

        async def fetched(name: str, stars: int) -> bool:
            if loop.poll() is not None:
                pytest.fail(f"the loop exited: {loop.communicate()}")
            return (await packages(world))[ids[name]].repo_watchers == stars

        await eventually(lambda: fetched("alpha", 11), "the first pass")
        await eventually(lambda: fetched("beta", 22), "the first pass")
        # It keeps going: a package made due later is refreshed by the same process.
        world.state.repo("acme/beta").stars = 23
        async with world.client() as client:
            response = await client.post(f"/api/v4/packages/{ids['beta']}/refresh/", headers=headers)
        assert response.status_code == 202, response.text
        await eventually(lambda: fetched("beta", 23), "the loop to refresh what fell due")
        assert loop.poll() is None

        # Stop it in the middle of a long pass: it takes no new work and exits soon.
        world.state.latency = 1.0  # 15 batches of 2, two at a time: 15 s or more for the whole pass
        more = await add_world_packages(world, 30, prefix="more")
        await eventually(lambda: leased(world), "the loop to take the new packages")
        loop.send_signal(signum)
        started = time.monotonic()
        rc, out, err = await finished(loop, 60)
        stopped_after = time.monotonic() - started
    assert rc == 0, err
    assert "Traceback" not in err
    assert stopped_after < 8, f"the loop kept refreshing for {stopped_after:.1f} s after {signum.name}"
    match = SUMMARY.search(out)
    assert match, out
    assert int(match["n"]) >= 5  # four packages, then beta again, then some of the new ones
    assert await leased(world) == {}
    rows, stored = await refresh_rows(world), await packages(world)
    undone = [pid for pid in more if stored[pid].last_fetched is None]
    assert undone
    now = datetime.now(UTC)
    assert all(rows[pid].next_due <= now for pid in undone if pid in rows)


# --- GET/POST /api/v4/packages/{ref}/refresh/ --------------------------------------------------------


async def test_get_refresh_state(world: World) -> None:
    ids = await four_packages(world)
    async with world.client() as client:
        for ref in ("no-such-package", "999999"):
            response = await client.get(f"/api/v4/packages/{ref}/refresh/")
            assert response.status_code == 404
            assert response.headers["content-type"] == PROBLEM
            assert response.json()["status"] == 404
            assert response.json()["detail"]

        # Never looked at: due, with nothing known yet.
        response = await client.get(f"/api/v4/packages/{ids['alpha']}/refresh/")
        assert response.status_code == 200
        never = response.json()
        assert set(never) == STATE_FIELDS
        assert never["package"] == f"{BASE}/packages/{ids['alpha']}/"
        assert never["due"] is True
        assert never["last_success"] is None
        assert never["error_count"] == 0
        assert never["leased_until"] is None

    before = datetime.now(UTC)
    await world.refresh()
    after = datetime.now(UTC)
    async with world.client() as client:
        by_id = await client.get(f"/api/v4/packages/{ids['alpha']}/refresh/")
        by_slug = await client.get("/api/v4/packages/alpha/refresh/")
        assert by_id.status_code == by_slug.status_code == 200
        assert by_id.json() == by_slug.json()
        alpha = by_id.json()
        assert set(alpha) == STATE_FIELDS
        assert alpha["due"] is False
        assert alpha["leased_until"] is None
        assert before <= parse_time(alpha["last_success"]) <= after
        assert parse_time(alpha["last_attempt"]) == parse_time(alpha["last_success"])
        next_due = parse_time(alpha["next_due"]) - parse_time(alpha["last_attempt"])
        assert abs(next_due - timedelta(days=1)) < timedelta(minutes=1)
        assert (alpha["last_error"], alpha["error_count"]) == (None, 0)
        assert (alpha["repo_missing"], alpha["pypi_missing"], alpha["repo_archived"]) == (False, False, False)
        assert alpha["pushed_at"] is not None

        gamma = (await client.get(f"/api/v4/packages/{ids['gamma']}/refresh/")).json()
        assert gamma["due"] is False
        assert gamma["pypi_missing"] is True
        assert gamma["error_count"] == 1
        assert "gone" in gamma["last_error"]
        assert gamma["last_error_at"] is not None
        assert gamma["last_success"] is None
        delta = (await client.get(f"/api/v4/packages/{ids['delta']}/refresh/")).json()
        assert delta["skipped_reason"]

        # ETag and conditional GET.
        etag = by_id.headers["etag"]
        assert etag
        assert by_slug.headers["etag"] == etag
        cached = await client.get(
            f"/api/v4/packages/{ids['alpha']}/refresh/", headers={"If-None-Match": etag}
        )
        assert cached.status_code == 304
        assert cached.content == b""
        assert cached.headers["etag"] == etag
        other = await client.get(
            f"/api/v4/packages/{ids['alpha']}/refresh/", headers={"If-None-Match": '"x"'}
        )
        assert other.status_code == 200
        # A changed state has another tag.
        headers = await write_token(world)
        assert (
            await client.post(f"/api/v4/packages/{ids['alpha']}/refresh/", headers=headers)
        ).status_code == 202
        changed = await client.get(
            f"/api/v4/packages/{ids['alpha']}/refresh/", headers={"If-None-Match": etag}
        )
        assert changed.status_code == 200
        assert changed.headers["etag"] != etag
        assert changed.json()["due"] is True


async def test_post_refresh_makes_the_package_due_and_the_next_pass_refreshes_it(world: World) -> None:
    ids = await four_packages(world)
    await world.refresh()
    headers = await write_token(world)
    world.state.repo("acme/alpha").stars = 99
    url = f"/api/v4/packages/{ids['alpha']}/refresh/"
    async with world.client() as client:
        package_before = await client.get(f"/api/v4/packages/{ids['alpha']}/")
        state_before = (await client.get(url)).json()
        assert state_before["due"] is False

        refused = await client.post(url)
        assert refused.status_code == 401
        assert refused.headers["content-type"] == PROBLEM
        bad = await client.post(url, headers={"Authorization": "Bearer not-a-token"})
        assert bad.status_code == 401
        assert (await client.get(url)).json() == state_before
        missing = await client.post("/api/v4/packages/no-such-package/refresh/", headers=headers)
        assert missing.status_code == 404
        assert missing.headers["content-type"] == PROBLEM

        response = await client.post("/api/v4/packages/alpha/refresh/", headers=headers)
        assert response.status_code == 202, response.text
        assert response.headers["location"] == f"{BASE}/packages/{ids['alpha']}/refresh/"
        body = response.json()
        assert set(body) == STATE_FIELDS
        assert body["due"] is True
        assert parse_time(body["next_due"]) <= datetime.now(UTC)
        assert body["last_success"] == state_before["last_success"]  # the history is kept
        polled = await client.get(response.headers["location"])
        assert polled.json()["due"] is True
        assert parse_time(polled.json()["next_due"]) <= datetime.now(UTC)
        # The v4 representation is not changed by asking for a refresh.
        package_after = await client.get(f"/api/v4/packages/{ids['alpha']}/")
        assert package_after.json() == package_before.json()
        assert package_after.headers["etag"] == package_before.headers["etag"]

    # The next pass refreshes it, and only it.
    sent = len(world.state.log())
    summary = await world.refresh()
    assert summary.packages == 1
    assert summary.outcomes["updated"] == 1
    assert (await world.package(ids["alpha"]))["repo_watchers"] == 99
    assert all("beta" not in r.path for r in world.state.log()[sent:])
    assert (await world.refresh_state(ids["alpha"]))["due"] is False


# --- pkgindex serve with the background refresher ----------------------------------------------------


@contextlib.contextmanager
def serving(port: int, env: dict[str, str], cwd: Path, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`pkgindex serve` on ``port``, its output in ``log_path``; killed on the way out if still running."""
    with (
        log_path.open("w") as log,
        subprocess.Popen(
            [*PKGINDEX, "serve", "--port", str(port)], env=env, cwd=cwd, stdout=log, stderr=log
        ) as server,
    ):
        try:
            yield server
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(10)


async def test_serve_refreshes_in_the_background_and_gives_leases_back_on_stop(
    world: World, tmp_path: Path
) -> None:
    ids = await four_packages(world)
    headers = await write_token(world)
    port = free_port()
    env = cli_env(world, PKGINDEX_REFRESH_ENABLED="true", PKGINDEX_REFRESH_POLL_INTERVAL="0.2")
    log_path = tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}/api/v4"
    with serving(port, env, tmp_path, log_path) as server:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:

            async def package_field(name: str, field: str) -> object:
                if server.poll() is not None:
                    pytest.fail(f"the server exited: {log_path.read_text()}")
                try:
                    response = await client.get(f"/packages/{ids[name]}/")
                except httpx.TransportError:
                    return None
                return response.json()[field] if response.status_code == 200 else None

            await eventually(lambda: package_field("alpha", "last_fetched"), "a background refresh", 60)
            assert await package_field("alpha", "repo_watchers") == 11
            assert await package_field("beta", "repo_watchers") == 22

            # Asked for, a package is refreshed again soon (its interval is a day).
            world.state.repo("acme/alpha").stars = 12
            response = await client.post(f"/packages/{ids['alpha']}/refresh/", headers=headers)
            assert response.status_code == 202, response.text

            async def refreshed_again() -> bool:
                return await package_field("alpha", "repo_watchers") == 12

            await eventually(refreshed_again, "the requested refresh", 30)

            # Stop the server while it refreshes: the lease is given back, the package stays due.
            world.state.latency = 3.0
            response = await client.post(f"/packages/{ids['beta']}/refresh/", headers=headers)
            assert response.status_code == 202, response.text
            taken = await eventually(lambda: leased(world), "the background refresher to take it")
            assert set(taken) == {ids["beta"]}
        server.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.wait, 30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught: exit status 0 or -SIGTERM.
    assert server.returncode in (0, -signal.SIGTERM), log_path.read_text()
    assert "Application shutdown complete" in log_path.read_text()
    assert await leased(world) == {}
    beta = (await refresh_rows(world))[ids["beta"]]
    assert beta.next_due <= datetime.now(UTC)
    assert (await world.refresh_state(ids["beta"]))["due"] is True
