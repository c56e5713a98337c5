"""`pkgindex serve` over real HTTP, on a database prepared the way `make run` prepares it."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import free_port

PKGINDEX = [sys.executable, "-m", "pkgindex"]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PKGINDEX, *args], env=env, capture_output=True, text=True, timeout=120, check=True
    )


@pytest.fixture
def served(fresh_database_url: str, tmp_path: Path) -> Iterator[str]:
    """The sample data served by a real uvicorn on a free loopback port; yields its base URL."""
    env = {**os.environ, "PKGINDEX_DATABASE_URL": fresh_database_url, "PKGINDEX_TIMEZONE": "America/New_York"}
    run(["migrate"], env)
    run(["import", "--sample", "--if-empty"], env)
    port = free_port()
    log = (tmp_path / "serve.log").open("w")
    server = subprocess.Popen([*PKGINDEX, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base}/api/v4/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"server did not start: {(tmp_path / 'serve.log').read_text()}")
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()


def test_serve_answers_with_the_sample_data(served: str) -> None:
    root = httpx.get(f"{served}/api/v4/").json()
    assert root["packages"] == f"{served}/api/v4/packages/"

    page = httpx.get(root["packages"], params={"limit": 100}).json()
    assert page["count"] >= 30
    record = httpx.get(f"{served}/api/v4/packages/django-dbsettings-new/").json()
    assert record["id"] == 1686
    assert record["category"] == f"{served}/api/v4/categories/1/"
    assert record["grids"] == [f"{served}/api/v4/grids/55/"]
    # The original's own timestamp strings come back under PKGINDEX_TIMEZONE=America/New_York.
    assert record["last_updated"] == "2026-01-28T16:20:56-05:00"
    assert record["last_fetched"] == "2026-02-15T19:01:29.443217-05:00"


def test_import_if_empty_leaves_a_loaded_database_alone(served: str, fresh_database_url: str) -> None:
    env = {**os.environ, "PKGINDEX_DATABASE_URL": fresh_database_url}
    before = httpx.get(f"{served}/api/v4/packages/").json()["count"]
    result = run(["import", "--sample", "--if-empty"], env)
    assert "nothing imported" in result.stderr
    assert httpx.get(f"{served}/api/v4/packages/").json()["count"] == before
