"""A database outage, for real: a PostgreSQL of the test's own is stopped under a running `pkgindex serve`
and started again. Meanwhile the service answers 503 at once (no hang, no crash) and stays alive; once
the database is back it serves, reads and writes, by itself, without a restart."""

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI
from tests.ops.test_shutdown import cli_env, free_port, prepare, serving

PG_BIN = Path(os.environ.get("PKGINDEX_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
PROBLEM = "application/problem+json"
SLUG = "django-dbsettings-new"


def as_postgres(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL binary as the postgres user (initdb and pg_ctl refuse root)."""
    command = [str(arg) for arg in args]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


class Cluster:
    def __init__(self, root: Path, port: int) -> None:
        self.data = root / "data"
        self.logfile = root / "postgres.log"
        self.port = port
        self.url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.data.parent}"
        )
        as_postgres(
            PG_BIN / "pg_ctl", "-D", self.data, "-l", self.logfile, "-o", options, "-w", "-t", "30", "start"
        )

    def stop(self) -> None:
        as_postgres(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "-t", "30", "stop")

    def running(self) -> bool:
        status = subprocess.run(
            ["runuser", "-u", "postgres", "--", str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"]
            if os.geteuid() == 0
            else [str(PG_BIN / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            timeout=30,
        )
        return status.returncode == 0


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    """A throw-away PostgreSQL on a free loopback port, trust auth, in a temporary directory."""
    missing = [name for name in ("initdb", "pg_ctl") if not (PG_BIN / name).exists()]
    if missing or (os.geteuid() == 0 and shutil.which("runuser") is None):
        message = f"PostgreSQL binaries missing in {PG_BIN}: {missing or 'runuser'}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="pkgindex-outage-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    cluster = Cluster(root, free_port())
    try:
        as_postgres(PG_BIN / "initdb", "-D", cluster.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
        cluster.start()
        yield cluster
    finally:
        if cluster.data.exists() and cluster.running():
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


async def timed_get(client: httpx.AsyncClient, path: str, within: float) -> httpx.Response:
    started = time.monotonic()
    response = await asyncio.wait_for(client.get(path), within + 5)
    elapsed = time.monotonic() - started
    assert elapsed < within, f"GET {path} took {elapsed:.1f} s"
    return response


def assert_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"].isdigit()
    assert response.json()["status"] == 503


async def test_the_service_answers_503_through_an_outage_and_recovers_by_itself(
    cluster: Cluster, tmp_path: Path
) -> None:
    env = cli_env(cluster.url, PKGINDEX_DB_CONNECT_TIMEOUT="2")
    headers = await asyncio.to_thread(prepare, env)
    with serving(env, tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.base, timeout=15) as client:
            ok = await timed_get(client, f"/api/v4/packages/{SLUG}/", 5)
            assert ok.status_code == 200, ok.text
            assert (await timed_get(client, "/readyz", 5)).status_code == 200

            await asyncio.to_thread(cluster.stop)
            for _ in range(2):  # the pool's connections are dead, then there is nothing to connect to
                for path in ("/api/v4/packages/", f"/api/v4/packages/{SLUG}/"):
                    assert_unavailable(await timed_get(client, path, 5))
                ready = await timed_get(client, "/readyz", 5)
                assert_unavailable(ready)
                assert "unreachable" in ready.json()["detail"]
                write = await asyncio.wait_for(
                    client.patch(f"/api/v4/packages/{SLUG}/", json={"title": "Lost"}, headers=headers), 10
                )
                assert_unavailable(write)
                health = await timed_get(client, "/healthz", 2)
                assert health.status_code == 200
            assert server.process.poll() is None, server.log_text()

            await asyncio.to_thread(cluster.start)
            deadline = time.monotonic() + 10
            while (await timed_get(client, f"/api/v4/packages/{SLUG}/", 5)).status_code != 200:
                assert time.monotonic() < deadline, "the service did not recover within 10 s"
                await asyncio.sleep(0.2)
            assert (await timed_get(client, "/readyz", 5)).status_code == 200
            response = await client.patch(
                f"/api/v4/packages/{SLUG}/", json={"title": "Back again"}, headers=headers
            )
            assert response.status_code == 200, response.text
            assert (await client.get(f"/api/v4/packages/{SLUG}/")).json()["title"] == "Back again"
            page = await client.get("/api/v4/packages/")
            assert page.status_code == 200
            assert page.json()["count"] >= 30
            assert server.process.poll() is None
            # The pool gauges did not drift through the failed checkouts of the outage.
            metrics = (await client.get("/metrics")).text
            gauges = {
                line.split()[0]: float(line.split()[1])
                for line in metrics.splitlines()
                if line.startswith("pkgindex_db_pool_")
            }
            assert gauges["pkgindex_db_pool_checked_out"] >= 0, gauges
            assert gauges["pkgindex_db_pool_open"] >= 1, gauges
    assert "Traceback" not in server.log_text()
