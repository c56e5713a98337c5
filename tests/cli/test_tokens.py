"""``pkgindex token create | list | revoke`` end to end, in subprocesses on a fresh database: the
token is printed once and only its hash is stored; a revoked token stops authenticating."""

import asyncio
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from pkgindex.api.auth import WriterDep
from pkgindex.api.problems import install_problem_handlers
from pkgindex.config import Settings
from pkgindex.db import make_engine, make_session_factory

PKGINDEX = [sys.executable, "-m", "pkgindex"]
TOKEN = re.compile(r"pki_[A-Za-z0-9_-]{43}")
ANSI = re.compile(r"\x1b\[")
TERMINAL_HINTS = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE")


def cli_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TERMINAL_HINTS and not k.startswith("PKGINDEX_")}
    return {**env, "PKGINDEX_DATABASE_URL": database_url, "COLUMNS": "200"}


def run(args: list[str], env: dict[str, str], cwd: Path, status: int = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*PKGINDEX, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == status, result.stdout + result.stderr
    assert not ANSI.search(result.stdout + result.stderr)
    assert "Traceback" not in result.stderr
    return result


def create(name: str, scope: str, env: dict[str, str], cwd: Path) -> str:
    result = run(["token", "create", "--name", name, "--scope", scope], env, cwd)
    # stdout is the token and nothing else, so `TOKEN=$(pkgindex token create ...)` works.
    token = result.stdout.strip()
    assert TOKEN.fullmatch(token), result.stdout
    assert token not in result.stderr
    assert name in result.stderr
    return token


async def _rows(database_url: str) -> list[dict[str, Any]]:
    engine = make_engine(Settings(database_url=database_url))
    try:
        async with engine.connect() as conn:
            result = await conn.execute(text("SELECT * FROM api_token ORDER BY name"))
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


def token_rows(database_url: str) -> list[dict[str, Any]]:
    return asyncio.run(_rows(database_url))


async def _post(database_url: str, token: str) -> httpx.Response:
    """Call a route protected by ``WriterDep`` on an app over the database, as a server would."""
    engine = make_engine(Settings(database_url=database_url))
    app = FastAPI()
    app.state.session_factory = make_session_factory(engine)
    install_problem_handlers(app)

    @app.post("/write")
    async def write_something(caller: WriterDep) -> dict[str, str]:
        return {"token_name": caller.token_name}

    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://pkgindex.test") as client:
            return await client.post("/write", headers={"Authorization": f"Token {token}"})
    finally:
        await engine.dispose()


def post(database_url: str, token: str) -> httpx.Response:
    return asyncio.run(_post(database_url, token))


def test_create_list_use_revoke(fresh_database_url: str, tmp_path: Path) -> None:
    env = cli_env(fresh_database_url)
    run(["migrate"], env, tmp_path)
    writer = create("ci-writer", "write", env, tmp_path)
    admin = create("ops", "admin", env, tmp_path)
    assert writer != admin

    listed = run(["token", "list"], env, tmp_path).stdout
    lines = listed.splitlines()
    assert lines[0].split() == ["NAME", "SCOPE", "CREATED", "LAST", "USED", "REVOKED"]
    assert lines[1].split()[:2] == ["ci-writer", "write"]
    assert lines[1].split()[3:] == ["-", "-"]  # never used, not revoked
    assert lines[2].split()[:2] == ["ops", "admin"]
    assert not TOKEN.search(listed)

    response = post(fresh_database_url, writer)
    assert response.status_code == 200, response.text
    assert response.json() == {"token_name": "ci-writer"}
    used = run(["token", "list"], env, tmp_path).stdout.splitlines()[1].split()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", used[3])
    assert used[4] == "-"

    revoked = run(["token", "revoke", "ci-writer"], env, tmp_path)
    assert revoked.stdout.strip() == "Revoked token 'ci-writer'."
    response = post(fresh_database_url, writer)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="pkgindex", error="invalid_token"'
    assert writer not in response.text
    assert post(fresh_database_url, admin).status_code == 200

    after = run(["token", "list"], env, tmp_path).stdout.splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", after[1].split()[4])
    assert after[2].split()[4] == "-"

    again = run(["token", "revoke", "ci-writer"], env, tmp_path)
    assert again.stdout.strip() == "Token 'ci-writer' was already revoked."


def test_only_the_hash_is_stored(fresh_database_url: str, tmp_path: Path) -> None:
    env = cli_env(fresh_database_url)
    run(["migrate"], env, tmp_path)
    token = create("ci", "write", env, tmp_path)

    [row] = token_rows(fresh_database_url)
    assert row["token_hash"] == hashlib.sha256(token.encode()).hexdigest()
    stored = " ".join(str(value) for value in row.values())
    assert token not in stored
    assert token.removeprefix("pki_") not in stored
    assert set(row) == {"id", "name", "scope", "token_hash", "created", "last_used", "revoked"}


def test_errors_are_clear_and_change_nothing(fresh_database_url: str, tmp_path: Path) -> None:
    env = cli_env(fresh_database_url)
    run(["migrate"], env, tmp_path)
    create("ci", "write", env, tmp_path)
    before = token_rows(fresh_database_url)

    duplicate = run(["token", "create", "--name", "ci", "--scope", "admin"], env, tmp_path, status=1)
    assert duplicate.stdout == ""  # no token printed
    assert "a token named 'ci' already exists" in duplicate.stderr

    bad_name = run(["token", "create", "--name", "a b", "--scope", "write"], env, tmp_path, status=1)
    assert bad_name.stdout == ""
    assert "invalid token name 'a b'" in bad_name.stderr

    bad_scope = run(["token", "create", "--name", "x", "--scope", "root"], env, tmp_path, status=2)
    assert bad_scope.stdout == ""
    assert "--scope" in bad_scope.stderr

    unknown = run(["token", "revoke", "nobody"], env, tmp_path, status=1)
    assert "no token named 'nobody'" in unknown.stderr

    assert token_rows(fresh_database_url) == before


def test_token_commands_before_migrate_fail_cleanly(fresh_database_url: str, tmp_path: Path) -> None:
    env = cli_env(fresh_database_url)
    for args in (["token", "create", "--name", "ci", "--scope", "write"], ["token", "list"]):
        result = run(args, env, tmp_path, status=1)
        assert "pkgindex migrate" in result.stderr
        assert not TOKEN.search(result.stdout + result.stderr)


def test_help_lists_the_token_commands(tmp_path: Path) -> None:
    env = cli_env("sqlite+aiosqlite:///unused.db")
    top = run(["token", "--help"], env, tmp_path).stdout
    for name in ("create", "list", "revoke"):
        assert name in top
    assert "--scope" in run(["token", "create", "--help"], env, tmp_path).stdout
