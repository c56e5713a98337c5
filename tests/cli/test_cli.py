"""The ``pkgindex`` command end to end: migrate, import (files, --sample, --if-empty), errors, and a
default-size dump read back through the HTTP API record for record."""

import asyncio
import copy
import json
import os
import pty
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool
from tests.conftest import Databases, generate_dump
from typer.testing import CliRunner

from pkgindex import migrations
from pkgindex.cli import app, sample_path
from pkgindex.config import Settings, get_settings
from pkgindex.db import make_engine, make_session_factory
from pkgindex.main import create_app

PKGINDEX = [sys.executable, "-m", "pkgindex"]
SCRIPT = Path(sys.executable).parent / "pkgindex"
BASE = "https://djangopackages.org/api/v4/"
ANSI = re.compile(r"\x1b\[")
# Variables that would make rich colour or draw on a pipe.
TERMINAL_HINTS = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE")


def cli_env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TERMINAL_HINTS and not k.startswith("PKGINDEX_")}
    return {**env, "PKGINDEX_DATABASE_URL": database_url, "COLUMNS": "200", **extra}


def run(
    args: list[str], env: dict[str, str], cwd: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*PKGINDEX, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    assert not ANSI.search(result.stdout + result.stderr), "escape codes in captured output"
    return result


async def _snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_async_engine(database_url, poolclass=NullPool)
    tables = {
        "category": "id",
        "grid": "id",
        "package": "id",
        "grid_package": "grid_id, package_id",
    }
    try:
        async with engine.connect() as conn:
            return {
                table: [
                    tuple(row) for row in await conn.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))
                ]
                for table, key in tables.items()
            }
    finally:
        await engine.dispose()


def snapshot(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, for comparing a database before and after."""
    return asyncio.run(_snapshot(database_url))


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-dumps")


@pytest.fixture(scope="module")
def dump_300(dumps: Path) -> Path:
    return generate_dump(dumps, packages=300, grids=30)


# --- help --------------------------------------------------------------------------------------


def test_help_of_the_command_and_every_subcommand(tmp_path: Path) -> None:
    env = cli_env("sqlite+aiosqlite:///unused.db")
    top = subprocess.run([str(SCRIPT), "--help"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert top.returncode == 0, top.stderr
    for name in ("serve", "migrate", "import"):
        assert name in top.stdout
    for name in ("serve", "migrate", "import"):
        result = run([name, "--help"], env, tmp_path)
        assert "Usage:" in result.stdout
    assert "--sample" in result.stdout
    assert "--if-empty" in result.stdout


def test_import_without_files_is_a_usage_error(tmp_path: Path) -> None:
    result = run(["import"], cli_env("sqlite+aiosqlite:///unused.db"), tmp_path, check=False)
    assert result.returncode == 2
    assert "--sample" in result.stderr


# --- migrate, import, re-import ------------------------------------------------------------------


def test_migrate_import_and_idempotent_reimport(
    fresh_database_url: str, dump_300: Path, tmp_path: Path
) -> None:
    env = cli_env(fresh_database_url)
    run(["migrate"], env, tmp_path)
    first = run(["import", str(dump_300)], env, tmp_path)
    assert first.stdout.strip() == (
        "Imported 6 categories (6 new, 0 updated), 30 grids (30 new, 0 updated), "
        "300 packages (300 new, 0 updated)."
    )
    assert "importing" not in first.stderr  # no progress bar on a pipe
    before = snapshot(fresh_database_url)
    assert len(before["package"]) == 300

    again = run(["import", str(dump_300)], env, tmp_path)
    assert "300 packages (0 new, 300 updated)" in again.stdout
    assert snapshot(fresh_database_url) == before


def test_import_before_migrate_fails_cleanly(fresh_database_url: str, dump_300: Path, tmp_path: Path) -> None:
    result = run(["import", str(dump_300)], cli_env(fresh_database_url), tmp_path, check=False)
    assert result.returncode == 1
    assert "pkgindex migrate" in result.stderr
    assert "Traceback" not in result.stderr


def test_sample_if_empty(fresh_database_url: str, dump_300: Path, tmp_path: Path) -> None:
    env = cli_env(fresh_database_url)
    run(["migrate"], env, tmp_path)
    loaded = run(["import", "--sample", "--if-empty"], env, tmp_path)
    sample = json.loads(sample_path().read_text())
    assert f"{len(sample['packages'])} packages ({len(sample['packages'])} new" in loaded.stdout
    before = snapshot(fresh_database_url)

    skipped = run(["import", "--sample", "--if-empty"], env, tmp_path)
    assert skipped.stdout == ""
    assert "nothing imported" in skipped.stderr
    assert snapshot(fresh_database_url) == before


def test_if_empty_leaves_a_database_with_other_data_alone(
    fresh_database_url: str, dump_300: Path, tmp_path: Path
) -> None:
    env = cli_env(fresh_database_url)
    run(["migrate"], env, tmp_path)
    run(["import", str(dump_300)], env, tmp_path)
    before = snapshot(fresh_database_url)
    run(["import", "--sample", "--if-empty"], env, tmp_path)
    assert snapshot(fresh_database_url) == before


def test_several_files_in_one_command(fresh_database_url: str, dump_300: Path, tmp_path: Path) -> None:
    dump = json.loads(dump_300.read_text())
    # The original's shapes: a list page of categories, a list of grids, single package objects.
    page = {"count": len(dump["categories"]), "next": None, "previous": None, "results": dump["categories"]}
    files = [tmp_path / "categories.json", tmp_path / "grids.json"]
    files[0].write_text(json.dumps(page))
    files[1].write_text(json.dumps(dump["grids"]))
    for package in dump["packages"]:
        files.append(tmp_path / f"package-{package['id']}.json")
        files[-1].write_text(json.dumps(package))
    env = cli_env(fresh_database_url)
    run(["migrate"], env, tmp_path)
    result = run(["import", *map(str, files)], env, tmp_path)
    assert "6 categories (6 new" in result.stdout
    assert "300 packages (300 new" in result.stdout
    memberships = sum(len(grid["packages"]) for grid in dump["grids"])
    assert len(snapshot(fresh_database_url)["grid_package"]) == memberships


def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    env = cli_env(f"sqlite+aiosqlite:///{tmp_path / 'tty.db'}", TERM="xterm")
    run(["migrate"], env, tmp_path)
    main, secondary = pty.openpty()
    try:
        result = subprocess.run(
            [*PKGINDEX, "import", "--sample"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=secondary,
            text=True,
            timeout=120,
        )
        os.close(secondary)
        secondary = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(main)
        if secondary != -1:
            os.close(secondary)
    assert result.returncode == 0
    assert "importing" in drawn.decode(errors="replace")
    assert result.stdout.startswith("Imported ")  # counts on stdout stay plain
    assert not ANSI.search(result.stdout)


# --- errors ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def populated_url(backend: str, databases: Databases, dump_300: Path) -> str:
    """A migrated database holding the 300-package dump; every error test must leave it as it is."""
    url = databases.new(backend)
    migrations.upgrade(url)
    with cli_settings(url):
        result = CliRunner().invoke(app, ["import", str(dump_300)])
    assert result.exit_code == 0, result.output
    return url


class cli_settings:
    """Run the CLI in-process against ``url`` (settings are cached per process)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.saved = os.environ.get("PKGINDEX_DATABASE_URL")

    def __enter__(self) -> None:
        os.environ["PKGINDEX_DATABASE_URL"] = self.url
        get_settings.cache_clear()

    def __exit__(self, *_exc: object) -> None:
        if self.saved is None:
            os.environ.pop("PKGINDEX_DATABASE_URL", None)
        else:
            os.environ["PKGINDEX_DATABASE_URL"] = self.saved
        get_settings.cache_clear()


def _bad_records(dump: dict[str, Any], case: str) -> tuple[list[dict[str, Any]], str]:
    """A file's packages: a changed stored package, a valid new one and, third, a bad one."""
    stored = dump["packages"]
    changed = {**stored[0], "title": "changed by a failed import"}
    new = {
        **copy.deepcopy(stored[1]),
        "id": 90001,
        "slug": "brand-new",
        "repo_url": "https://example.org/new",
    }
    bad = {
        **copy.deepcopy(stored[2]),
        "id": 90002,
        "slug": "another-new",
        "repo_url": "https://example.org/bad",
    }
    field = case
    match case:
        case "slug":
            bad["slug"] = "not a slug!"
        case "title":
            bad["title"] = "x" * 101
        case "repo_description":
            bad["repo_description"] = "d" * 501
        case "repo_watchers":
            bad["repo_watchers"] = -1
        case "modified":
            bad["modified"] = "2020-01-01T12:00:00"
        case "category":
            bad["category"] = f"{BASE}categories/999/"
        case "grids":
            bad["grids"] = [f"{BASE}grids/99999/"]
        case "commits_over_52":
            bad["commits_over_52"] = [1] * 51
        case "duplicate slug":
            bad["slug"], field = new["slug"], "slug"
        case "stored slug":
            bad["slug"], field = stored[5]["slug"], "slug"
        case "stored repo_url":
            bad["repo_url"], field = stored[5]["repo_url"], "repo_url"
        case _:
            raise AssertionError(case)
    return [changed, new, bad], field


ERROR_CASES = [
    "slug",
    "title",
    "repo_description",
    "repo_watchers",
    "modified",
    "category",
    "grids",
    "commits_over_52",
    "duplicate slug",
    "stored slug",
    "stored repo_url",
]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_a_bad_record_names_file_record_and_field_and_changes_nothing(
    populated_url: str, dump_300: Path, tmp_path: Path, case: str
) -> None:
    dump = json.loads(dump_300.read_text())
    packages, field = _bad_records(dump, case)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"categories": dump["categories"][:1], "packages": packages}))
    before = snapshot(populated_url)
    with cli_settings(populated_url):
        result = CliRunner().invoke(app, ["import", str(path)])
    assert result.exit_code == 1, result.output
    message = " ".join(result.stderr.split())
    assert f"{path}: packages[2] (id 90002): field '{field}" in message
    assert "nothing was changed" in message
    assert snapshot(populated_url) == before


def test_a_bad_grid_reference_names_the_grid(populated_url: str, dump_300: Path, tmp_path: Path) -> None:
    grid = json.loads(dump_300.read_text())["grids"][3]
    grid["packages"] = [*grid["packages"], f"{BASE}packages/123456/"]
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(grid))
    before = snapshot(populated_url)
    with cli_settings(populated_url):
        result = CliRunner().invoke(app, ["import", str(path)])
    assert result.exit_code == 1
    assert f"{path}: grids[0] (id {grid['id']}): field 'packages': no package with id 123456" in result.stderr
    assert snapshot(populated_url) == before


def test_malformed_json_names_the_file(populated_url: str, dump_300: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"packages": [')
    before = snapshot(populated_url)
    with cli_settings(populated_url):
        # The good file first: nothing of it may be written either.
        result = CliRunner().invoke(app, ["import", str(dump_300), str(broken)])
    assert result.exit_code == 1
    assert f"{broken}: cannot read JSON" in result.stderr
    assert snapshot(populated_url) == before


def test_a_missing_file_is_an_error(populated_url: str, tmp_path: Path) -> None:
    with cli_settings(populated_url):
        result = CliRunner().invoke(app, ["import", str(tmp_path / "nope.json")])
    assert result.exit_code == 1
    assert "nope.json" in result.stderr


# --- the default-size dump, through the CLI and back through the API -------------------------------


@pytest.fixture(scope="module")
def default_dump(dumps: Path) -> Path:
    return generate_dump(dumps)


@pytest.fixture(scope="module")
def default_dump_records(default_dump: Path) -> dict[str, Any]:
    return dict(json.loads(default_dump.read_text()))


async def read_all(client: httpx.AsyncClient, resource: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    url: str | None = f"/api/v4/{resource}/?limit=100"
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["results"])
        url = page["next"]
    assert len(items) == page["count"]
    return items


@pytest.fixture
def imported_default(fresh_database_url: str, default_dump: Path, tmp_path: Path) -> str:
    env = cli_env(fresh_database_url)
    run(["migrate"], env, tmp_path)
    result = run(["import", str(default_dump)], env, tmp_path)
    assert "5300 packages (5300 new, 0 updated)" in result.stdout
    return fresh_database_url


async def test_default_dump_round_trips_through_the_api(
    imported_default: str, default_dump_records: dict[str, Any]
) -> None:
    dump = default_dump_records
    settings = Settings(database_url=imported_default, timezone="America/New_York")
    engine = make_engine(settings)
    app_ = create_app(settings, session_factory=make_session_factory(engine))
    transport = httpx.ASGITransport(app=app_)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="https://djangopackages.org") as client:
            for resource in ("categories", "grids", "packages"):
                served = {item["id"]: item for item in await read_all(client, resource)}
                expected = {item["id"]: item for item in dump[resource]}
                assert served.keys() == expected.keys(), resource
                mismatched = [i for i in expected if served[i] != expected[i]]
                assert not mismatched, (resource, expected[mismatched[0]], served[mismatched[0]])
    finally:
        await engine.dispose()
