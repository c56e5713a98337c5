"""Graceful shutdown of a real `pkgindex serve` on PostgreSQL: on SIGTERM a request in flight finishes
and its write lands whole, new connections are refused, and the process exits.

The background refresher giving back its leases on SIGTERM, mid-refresh against a slow upstream, is
covered in tests/refresh/test_commands.py, by
test_serve_refreshes_in_the_background_and_gives_leases_back_on_stop.
"""

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from tests.conftest import free_port

PKGINDEX = [sys.executable, "-m", "pkgindex"]
TOKEN = re.compile(r"pki_[A-Za-z0-9_-]{43}")
SLUG = "django-dbsettings-new"


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PKGINDEX_", "PROMETHEUS_"))}
    return {**env, "PKGINDEX_DATABASE_URL": database_url, "COLUMNS": "200", **extra}


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*PKGINDEX, *args], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def prepare(env: dict[str, str]) -> dict[str, str]:
    """Migrate, import the sample, and make a write token; the headers that carry it."""
    run(["migrate"], env)
    run(["import", "--sample", "--if-empty"], env)
    token = run(["token", "create", "--name", "ops-test", "--scope", "write"], env).stdout.strip()
    assert TOKEN.fullmatch(token)
    return {"Authorization": f"Bearer {token}"}


class Server:
    """A `pkgindex serve` subprocess on a free loopback port, its stderr in a file."""

    def __init__(self, process: subprocess.Popen[bytes], base: str, log: Path) -> None:
        self.process = process
        self.base = base
        self.log = log

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, within: float = 30) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"the server did not start: {self.log_text()}")
            time.sleep(0.1)


@contextlib.contextmanager
def serving(env: dict[str, str], tmp_path: Path, *args: str) -> Iterator[Server]:
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*PKGINDEX, "serve", "--port", str(port), *args],
            env=env,
            stdout=out,
            stderr=out,
            start_new_session=True,  # a group of its own: the cleanup reaches every worker
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        server.wait_ready()
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # any worker left behind
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)


def exited_cleanly(process: subprocess.Popen[bytes]) -> bool:
    # uvicorn shuts down gracefully, then re-raises the signal it caught: status 0 or -SIGTERM.
    return process.returncode in (0, -signal.SIGTERM)


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_sigterm_lets_a_write_in_flight_finish_whole(
    backend: str, fresh_database_url: str, tmp_path: Path
) -> None:
    env = cli_env(fresh_database_url)
    headers = await asyncio.to_thread(prepare, env)
    engine = create_async_engine(fresh_database_url, poolclass=NullPool)
    try:
        with serving(env, tmp_path) as server:
            async with (
                engine.connect() as locker,
                httpx.AsyncClient(base_url=server.base, timeout=30) as client,
            ):
                # Another transaction holds the package's row: the PATCH will wait on it, mid-write.
                await locker.execute(text("BEGIN"))
                await locker.execute(text("SELECT id FROM package WHERE slug = :s FOR UPDATE"), {"s": SLUG})
                patch = asyncio.create_task(
                    client.patch(
                        f"/api/v4/packages/{SLUG}/",
                        json={"title": "Changed during shutdown"},
                        headers=headers,
                    )
                )
                await _until_blocked(engine, patch)

                server.process.send_signal(signal.SIGTERM)
                await _until_refusing(server.base)  # it stopped accepting ...
                assert server.process.poll() is None  # ... but waits for the request in flight
                assert not patch.done()

                await locker.execute(text("COMMIT"))  # let the PATCH through
                response = await asyncio.wait_for(patch, 20)
                assert response.status_code == 200, response.text
                assert response.json()["title"] == "Changed during shutdown"

            await asyncio.to_thread(server.process.wait, 20)
            assert exited_cleanly(server.process), server.log_text()
            assert "Application shutdown complete" in server.log_text()

        async with engine.connect() as conn:
            stored = await conn.scalar(text("SELECT title FROM package WHERE slug = :s"), {"s": SLUG})
        assert stored == "Changed during shutdown"
    finally:
        await engine.dispose()


async def _until_blocked(
    engine: AsyncEngine, patch: "asyncio.Task[httpx.Response]", within: float = 10
) -> None:
    """Until some session waits for a lock (the PATCH, on the locked row). Asked on a connection of
    its own each time: within a transaction pg_stat_activity does not change."""
    deadline = time.monotonic() + within
    while True:
        async with engine.connect() as conn:
            waiting = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock'"
                )
            )
        if waiting:
            return
        if patch.done():
            pytest.fail(f"the PATCH did not wait for the row: {patch.result().text}")
        if time.monotonic() > deadline:
            pytest.fail("the PATCH never reached the locked row")
        await asyncio.sleep(0.05)


async def _until_refusing(base: str, within: float = 10) -> None:
    """Until a new connection is refused (the listening socket is closed)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=base, timeout=2) as fresh:
        while True:
            try:
                await fresh.get("/healthz")
            except httpx.ConnectError:
                return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("the server still accepts connections after SIGTERM")
            await asyncio.sleep(0.05)
