"""Metrics and logs: Prometheus samples by route template and status, the database pool, the refresher's
counters; one JSON access line per request with its request id; `serve --workers N` counting every
worker's requests in one scrape and stopping them all on SIGTERM."""

import asyncio
import json
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pkgindex.config import Settings
from pkgindex.db import make_engine
from tests.conftest import ClientFactory
from tests.fakeupstream import FakeState, FakeUpstream
from tests.ops.test_shutdown import cli_env, exited_cleanly, prepare, serving
from tests.refresh.conftest import World, commits

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
SLUG = "django-dbsettings-new"


def parse(exposition: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every sample of ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, got), v in samples.items() if n == name and want <= got)


async def scrape(client: httpx.AsyncClient) -> Samples:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


# --------------------------------------------------------------------------- in process


async def test_http_metrics_use_the_route_template_and_status(
    make_client: ClientFactory, loaded: dict[str, Any]
) -> None:
    requests = "pkgindex_http_requests_total"
    package = {"method": "GET", "route": "/api/v4/packages/{ref}/", "status": "200"}
    missing = {"method": "GET", "route": "/api/v4/packages/{ref}/", "status": "404"}
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    async with make_client() as client:
        before = await scrape(client)
        slugs = [p["slug"] for p in loaded["packages"][:3]] if "packages" in loaded else [SLUG]
        for slug in slugs:
            assert (await client.get(f"/api/v4/packages/{slug}/")).status_code == 200
        assert (await client.get("/api/v4/packages/no-such-package/")).status_code == 404
        assert (await client.get("/no/such/path")).status_code == 404
        after = await scrape(client)

    assert value(after, requests, **package) - value(before, requests, **package) == len(slugs)
    assert value(after, requests, **missing) - value(before, requests, **missing) == 1
    assert value(after, requests, **unmatched) - value(before, requests, **unmatched) == 1
    # Never a concrete path as a label: the label set stays small.
    assert not any(
        dict(labels).get("route", "").endswith(f"/{slug}/") for (_, labels) in after for slug in slugs
    )
    duration = "pkgindex_http_request_duration_seconds"
    count = value(after, f"{duration}_count", **package) - value(before, f"{duration}_count", **package)
    assert count == len(slugs)
    buckets = {dict(labels)["le"] for (name, labels) in after if name == f"{duration}_bucket"}
    assert {"0.005", "0.1", "1.0", "+Inf"} <= buckets
    inf = value(after, f"{duration}_bucket", **package, le="+Inf")
    assert inf == value(after, f"{duration}_count", **package)
    # The pool gauges are there from the start.
    assert ("pkgindex_db_pool_checked_out", frozenset()) in after
    assert ("pkgindex_db_pool_open", frozenset()) in after


@pytest.fixture
async def world(committed_database_url: str) -> AsyncIterator[World]:
    with FakeUpstream(FakeState()) as fake:
        engine = make_engine(Settings(database_url=committed_database_url))
        try:
            yield World(committed_database_url, fake, engine)
        finally:
            await engine.dispose()


async def test_refresher_counters(world: World) -> None:
    world.github("acme/alpha", stars=11, forks=1, contributors=["ann"], commits=commits(1, 2))
    world.github("acme/beta", stars=22, forks=2, contributors=["bob"], commits=commits(3))
    world.pypi("alpha", "1.0")
    await world.add_package(
        "alpha", repo_url="https://github.com/acme/alpha", pypi_url="https://pypi.org/project/alpha/"
    )
    await world.add_package(
        "beta", repo_url="https://github.com/acme/beta", pypi_url="https://pypi.org/project/beta-gone/"
    )
    await world.add_package("nothing-to-fetch")
    world.github("acme/gamma", stars=33, forks=3, contributors=["dee"], commits=commits(4))
    await world.add_package(
        "gamma", repo_url="https://github.com/acme/gamma", pypi_url="https://pypi.org/project/gone/"
    )
    world.state.inject(r"beta", "500", times=100)

    async with world.client() as client:
        before = await scrape(client)
        first = await world.refresh(every=True)
        second = await world.refresh(every=True)  # the same answers again: ETags give 304s
        after = await scrape(client)

    outcomes = "pkgindex_refresh_packages_total"
    for outcome in ("updated", "unchanged", "failed", "skipped"):
        expected = first.outcomes[outcome] + second.outcomes[outcome]
        got = value(after, outcomes, outcome=outcome) - value(before, outcomes, outcome=outcome)
        assert got == expected, (outcome, first.outcomes, second.outcomes)
    assert first.outcomes["updated"] >= 1
    assert first.outcomes["failed"] + second.outcomes["failed"] >= 1

    upstream = "pkgindex_upstream_requests_total"

    def delta(**labels: str) -> float:
        return total(after, upstream, **labels) - total(before, upstream, **labels)

    assert delta(host="github", status="200") >= 1
    assert delta(host="pypi", status="304") >= 1
    assert delta(status="500") >= 1, [(r.host, r.path, r.status) for r in world.state.log()]
    assert delta(host="pypi", status="200") >= 1
    assert delta(host="pypi", status="404") >= 1
    assert delta() == sum(n for counts in (first, second) for n in counts.traffic.requests.values())

    quota = [
        (dict(labels), v)
        for (name, labels), v in after.items()
        if name == "pkgindex_upstream_quota_remaining"
    ]
    github = [v for labels, v in quota if labels["host"] == "github"]
    assert github, quota
    assert all(0 <= v < 5000 for v in github)


# --------------------------------------------------------------------------- a real server

ACCESS_FIELDS = {"method", "route", "path", "status", "duration_ms", "request_id", "client"}


def json_lines(log: str) -> list[dict[str, Any]]:
    lines = [line for line in log.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON log line: {line!r}")
    return parsed


def access_lines(log: str) -> list[dict[str, Any]]:
    return [line for line in json_lines(log) if line.get("logger") == "pkgindex.access"]


@pytest.fixture
def pg_env(fresh_database_url: str) -> dict[str, str]:
    env = cli_env(fresh_database_url, PKGINDEX_LOG_LEVEL="info")
    prepare(env)
    return env


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_json_logs_and_request_ids(backend: str, pg_env: dict[str, str], tmp_path: Path) -> None:
    given = "req-2024.abc:def/42"
    bad_ids = ["x" * 300, "has spaces in it", "two\tparts", ""]
    with serving(pg_env, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base, timeout=10) as client:
            kept = await client.get(f"/api/v4/packages/{SLUG}/", headers={"X-Request-ID": given})
            assert kept.status_code == 200
            assert kept.headers["x-request-id"] == given
            made = []
            for bad in bad_ids:
                response = await client.get("/api/v4/", headers={"X-Request-ID": bad})
                assert response.status_code == 200
                assert response.headers["x-request-id"] != bad
                assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
                made.append(response.headers["x-request-id"])
            plain = await client.get("/nowhere")
            assert plain.status_code == 404
            made.append(plain.headers["x-request-id"])
            assert len(set(made)) == len(made)
            requests_made = 2 + len(bad_ids)
            # Pool gauges, in a real process on PostgreSQL.
            samples = await scrape(client)
            assert value(samples, "pkgindex_db_pool_open") >= 1
            assert value(samples, "pkgindex_db_pool_checked_out") >= 0
        server.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.process.wait, 20)
        assert exited_cleanly(server.process), server.log_text()

    log = server.log_text()
    lines = json_lines(log)  # every line of stderr is JSON
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines)
    access = [line for line in access_lines(log) if line["route"] not in ("/healthz", "/metrics")]
    assert len(access) == requests_made, access
    for line in access:
        assert ACCESS_FIELDS <= line.keys(), line
        assert {"time", "level", "message"} <= line.keys()
        assert isinstance(line["duration_ms"], int | float)
        assert line["duration_ms"] >= 0
        assert line["client"] == "127.0.0.1"
    first = access[0]
    assert first["request_id"] == given
    assert first["method"] == "GET"
    assert first["route"] == "/api/v4/packages/{ref}/"
    assert first["path"] == f"/api/v4/packages/{SLUG}/"
    assert first["status"] == 200
    assert [line["request_id"] for line in access[1:]] == made
    assert access[-1]["route"] == "unmatched"
    assert access[-1]["status"] == 404
    assert "x" * 300 not in log


def worker_pids(pid: int) -> set[int]:
    """The worker processes of a `serve --workers N` supervisor (not multiprocessing's helpers)."""
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"resource_tracker" not in cmdline and b"semaphore_tracker" not in cmdline:
                found.add(int(child))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone in all but name.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def multiproc_dir(tmp_path: Path) -> Path:
    path = tmp_path / "metrics"
    path.mkdir()
    return path


def metric_writers(directory: Path) -> set[int]:
    """The processes that wrote multiprocess metric files (named ``<kind>_<pid>.db``)."""
    return {int(m.group(1)) for f in directory.iterdir() if (m := re.search(r"_(\d+)\.db$", f.name))}


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_serve_with_two_workers(
    backend: str, pg_env: dict[str, str], tmp_path: Path, multiproc_dir: Path
) -> None:
    env = {**pg_env, "PROMETHEUS_MULTIPROC_DIR": str(multiproc_dir)}
    n = 60
    with serving(env, tmp_path, "--workers", "2") as server:
        deadline = time.monotonic() + 30
        while len(workers := worker_pids(server.process.pid)) < 2:
            assert time.monotonic() < deadline, "two workers did not start"
            await asyncio.sleep(0.1)
        # A new connection per request, so the kernel spreads them over both workers.
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=server.base, timeout=10, limits=limits) as client:
            before = await scrape(client)
            statuses = await asyncio.gather(
                *(client.get(f"/api/v4/packages/{SLUG}/") for _ in range(n)), return_exceptions=False
            )
            assert [r.status_code for r in statuses] == [200] * n
            labels = {"method": "GET", "route": "/api/v4/packages/{ref}/", "status": "200"}
            # Any one worker's scrape counts every worker's requests.
            for _ in range(4):
                samples = await scrape(client)
                got = value(samples, "pkgindex_http_requests_total", **labels)
                assert got - value(before, "pkgindex_http_requests_total", **labels) == n
        writers = metric_writers(multiproc_dir)
        assert workers <= writers, (writers, workers)  # both workers answered some

        server.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(server.process.wait, 30)
        assert exited_cleanly(server.process), server.log_text()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "a worker outlived the server"
        await asyncio.sleep(0.1)
    json_lines(server.log_text())
