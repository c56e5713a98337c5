#!/usr/bin/env python3
"""HTTP speed benchmark: `pkgindex serve` against a bare Starlette + asyncpg baseline, driven by wrk.

Run by hand, never in CI (`make bench`, or directly):

    .venv/bin/python bench/http_bench.py [--duration 15] [--runs 3] [--connections 16] [--quick]
        [--soak 300] [--cache-mb MB] [--keep-db]

What it does, in a temporary directory and a throw-away PostgreSQL database dropped at the end:

1. Generates the default-size v4 dump with gen_dataset.py (5,300 packages, 370 grids), creates a fresh
   database, runs `pkgindex migrate`, and times `pkgindex import DUMP`.
2. Starts `pkgindex serve --workers 2` (refresher off, log level warning) and the baseline
   (bench/baseline_app.py under uvicorn with the same settings: 2 workers, uvloop, httptools, no access
   log) on the same database, and waits until both are ready.
3. Warms every endpoint up with wrk for 3 s, then runs rounds: in each round the baseline once, then every
   pkgindex endpoint, each `wrk -t2 -cN -dDs --latency` (N = --connections, D = --duration), so that drift
   over time hits the baseline and the service alike.
4. Prints a table of medians over the rounds (req/s, p50, p99), the ratio to the baseline measured in the
   same run, the target and whether it is met; then the RSS of the uvicorn workers, the import time, and
   (with --soak S) the RSS growth during S seconds of load on the package detail.

A run in which wrk saw a non-2xx/3xx answer or a socket error is invalid, and flagged as such.

The bench needs the project's virtualenv (asyncpg, pkgindex, uvicorn); run with another interpreter, it
re-executes itself with `.venv/bin/python`. wrk comes from Debian (`apt-get install wrk`; `make bench`
installs it when missing).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from processes import kill_group

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

try:
    import asyncpg  # type: ignore[import-untyped]
except ImportError:
    if VENV_PYTHON.exists() and Path(sys.executable).resolve() != VENV_PYTHON.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])
    raise

DEFAULT_GEN_DATASET = Path("/work/shared/tools/gen_dataset.py")
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
WARMUP_SECONDS = 3
SOAK_SAMPLE_SECONDS = 30
IMPORT_TARGET_SECONDS = 10.0
RSS_TARGET_MB = 150.0
SEARCH_TERM = "django"


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ wrk
UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: str, unit: str) -> float:
    """A wrk time (e.g. ``812.00us``, ``3.21ms``, ``1.02s``, ``1.00m``) in milliseconds."""
    return float(value) * UNIT_SECONDS[unit] * 1000.0


@dataclass
class WrkResult:
    rps: float
    p50: float  # ms
    p99: float  # ms
    requests: int
    non_2xx: int
    socket_errors: dict[str, int]

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())

    @property
    def valid(self) -> bool:
        return self.errors == 0 and self.requests > 0


def parse_wrk(output: str) -> WrkResult:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    requests = re.search(r"^\s*(\d+) requests in ", output, re.M)
    percentiles = {
        int(m[1]): parse_duration(m[2], m[3])
        for m in re.finditer(r"^\s+(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M)
    }
    if not rps or not requests or 50 not in percentiles or 99 not in percentiles:
        raise BenchError(f"cannot parse wrk's output:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    socket_errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, sockets.groups()), strict=True))
        if sockets
        else {}
    )
    return WrkResult(
        rps=float(rps[1]),
        p50=percentiles[50],
        p99=percentiles[99],
        requests=int(requests[1]),
        non_2xx=int(non_2xx[1]) if non_2xx else 0,
        socket_errors={k: v for k, v in socket_errors.items() if v},
    )


# ------------------------------------------------------------------------------------------ endpoints
@dataclass
class Endpoint:
    key: str
    label: str
    url: str
    min_ratio: float | None = None  # of the baseline's req/s
    max_p99: float | None = None  # ms
    relative_to: str | None = None  # key of another endpoint: min_ratio applies to its req/s instead
    note: str = ""
    size: int = 0  # bytes of one answer
    runs: list[WrkResult] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return bool(self.runs) and all(run.valid for run in self.runs)

    def median(self, attribute: str) -> float:
        return statistics.median(getattr(run, attribute) for run in self.runs)

    def target(self) -> str:
        parts = []
        if self.min_ratio is not None:
            of = f"of {self.relative_to}" if self.relative_to else "of base"
            parts.append(f"≥ {self.min_ratio:.0%} {of}")
        if self.max_p99 is not None:
            parts.append(f"p99 < {self.max_p99:g} ms")
        return ", ".join(parts) or "—"


# ------------------------------------------------------------------------------------------ processes
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 30) -> str:
    with suppress(OSError):
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])
    return ""


def fetch(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def cmdline(pid: int) -> str:
    with suppress(OSError):
        return (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")).decode("utf-8", "replace")
    return ""


def rss_mb(pid: int) -> float:
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class Server:
    """A uvicorn server (pkgindex or the baseline) in its own process group."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], cwd: Path, log_path: Path) -> None:
        self.name, self.argv, self.env, self.cwd, self.log_path = name, argv, env, cwd, log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_path: str, workers: int, timeout: float = 90.0) -> None:
        with self.log_path.open("wb") as log_file:
            self.proc = subprocess.Popen(
                [*self.argv, "--port", str(self.port)],
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            with suppress(OSError):
                status, _ = fetch(self.url + ready_path, timeout=5)
                if status == 200:
                    break
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} is not ready after {timeout:.0f} s:\n{tail(self.log_path)}")
            time.sleep(0.3)
        # Every worker must be up (each one answers only once its own start-up is done).
        while len(self.workers()) < workers and time.monotonic() < deadline:
            time.sleep(0.3)

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError(f"{self.name} has exited:\n{tail(self.log_path)}")

    def workers(self) -> list[int]:
        """The uvicorn worker processes (multiprocessing spawn children of the supervisor)."""
        if self.proc is None:
            return []
        return [pid for pid in children(self.proc.pid) if "spawn_main" in cmdline(pid)]

    def rss(self) -> dict[int, float]:
        return {pid: rss_mb(pid) for pid in self.workers()}

    def stop(self) -> None:
        if self.proc is not None:
            kill_group(self.proc, grace=15.0)
            self.proc = None


# ------------------------------------------------------------------------------------------ databases
class Database:
    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.name = f"pkgindex_httpbench_{uuid.uuid4().hex[:8]}"
        self.created = False

    def _run(self, coroutine_factory: Any) -> Any:
        async def run() -> Any:
            connection = await asyncpg.connect(self.admin_dsn, timeout=10)
            try:
                return await coroutine_factory(connection)
            finally:
                await connection.close()

        return asyncio.run(run())

    def _dsn(self, scheme: str) -> str:
        parts = urlsplit(self.admin_dsn)
        return urlunsplit((scheme, parts.netloc, f"/{self.name}", parts.query, ""))

    @property
    def asyncpg_url(self) -> str:
        return self._dsn("postgresql")

    @property
    def sqlalchemy_url(self) -> str:
        return self._dsn("postgresql+asyncpg")

    def ensure_server(self) -> None:
        """Reach PostgreSQL; start the local cluster as .ci/run does if it is down (best effort)."""
        try:
            self._run(lambda c: c.fetchval("SELECT 1"))
            return
        except (OSError, asyncpg.PostgresError) as exc:
            first = exc
        clusters = Path("/etc/postgresql")
        if shutil.which("pg_ctlcluster") and clusters.is_dir() and any(clusters.iterdir()):
            version = sorted(p.name for p in clusters.iterdir())[-1]
            log(f"PostgreSQL does not answer ({first}); starting cluster {version}/main")
            subprocess.run(
                ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False
            )
            for _ in range(30):
                with suppress(OSError, asyncpg.PostgresError):
                    self._run(lambda c: c.fetchval("SELECT 1"))
                    return
                time.sleep(1)
        raise BenchError(f"cannot reach PostgreSQL at {self.admin_dsn}: {first}")

    def create(self) -> None:
        self._run(lambda c: c.execute(f'CREATE DATABASE "{self.name}"'))
        self.created = True

    def drop(self) -> None:
        if self.created:
            self._run(lambda c: c.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.created = False

    def query(self, sql: str) -> list[Any]:
        async def run() -> list[Any]:
            connection = await asyncpg.connect(self.asyncpg_url, timeout=10)
            try:
                return list(await connection.fetch(sql))
            finally:
                await connection.close()

        return asyncio.run(run())


# ------------------------------------------------------------------------------------------ the bench
class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.python = str(VENV_PYTHON if VENV_PYTHON.exists() else Path(sys.executable))
        self.workdir = Path(tempfile.mkdtemp(prefix="pkgindex-httpbench-"))
        self.dump = self.workdir / "dump.json"
        self.db = Database(args.pg)
        self.service: Server | None = None
        self.baseline: Server | None = None
        self.wrk_proc: subprocess.Popen[str] | None = None
        self.timings: dict[str, float] = {}
        self.import_summary = ""
        self.endpoints: list[Endpoint] = []
        self.base: Endpoint | None = None
        self.rss_service: dict[int, float] = {}
        self.rss_baseline: dict[int, float] = {}
        self.supervisor_rss = 0.0
        self.soak: list[tuple[float, dict[int, float]]] = []
        self.soak_result: WrkResult | None = None
        self.loadavg: list[str] = []  # 1-minute load average at the start and at the end of the runs

    # --- set-up ------------------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        # The caller's PKGINDEX_* settings (and a .env in the repository) must not skew the figures.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PKGINDEX_") and k != "PROMETHEUS_MULTIPROC_DIR"
        }
        env.update(
            PKGINDEX_DATABASE_URL=self.db.sqlalchemy_url,
            PKGINDEX_LOG_LEVEL="warning",
            PKGINDEX_REFRESH_ENABLED="false",
            PYTHONUNBUFFERED="1",
        )
        if self.args.cache_mb is not None:
            env["PKGINDEX_RESPONSE_CACHE_MB"] = str(self.args.cache_mb)
        return env

    def pkgindex(self, *argv: str, timeout: float) -> str:
        """Run the real CLI in the work directory (no .env there); its stdout."""
        name = argv[0]
        err_path = self.workdir / f"{name}.stderr"
        with err_path.open("w") as err:
            proc = subprocess.run(
                [self.python, "-m", "pkgindex", *argv],
                cwd=self.workdir,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                timeout=timeout,
                check=False,
            )
        if proc.returncode != 0:
            raise BenchError(f"`pkgindex {' '.join(argv)}` exited {proc.returncode}:\n{tail(err_path)}")
        return proc.stdout.strip()

    def prepare(self) -> None:
        log(f"generating the default-size dump into {self.dump}")
        subprocess.run(
            [self.python, str(self.args.gen_dataset), "--out", str(self.dump)], check=True, timeout=600
        )
        self.db.ensure_server()
        self.db.create()
        log(f"database {self.db.name}: migrate")
        started = time.monotonic()
        self.pkgindex("migrate", timeout=600)
        self.timings["migrate"] = time.monotonic() - started
        log("import")
        started = time.monotonic()
        self.import_summary = self.pkgindex("import", str(self.dump), timeout=1800).rstrip(".")
        self.timings["import"] = time.monotonic() - started
        log(f"import: {self.import_summary} in {self.timings['import']:.2f} s")
        # VACUUM ANALYZE: planner statistics and visibility map as a database in service would have them.
        asyncio.run(self._vacuum())

    async def _vacuum(self) -> None:
        connection = await asyncpg.connect(self.db.asyncpg_url, timeout=10)
        try:
            await connection.execute("VACUUM ANALYZE")
        finally:
            await connection.close()

    def start_servers(self) -> None:
        workers = str(self.args.workers)
        self.service = Server(
            "pkgindex",
            [self.python, "-m", "pkgindex", "serve", "--host", "127.0.0.1", "--workers", workers],
            self.env(),
            self.workdir,
            self.workdir / "pkgindex.log",
        )
        baseline_env = {k: v for k, v in self.env().items() if not k.startswith("PKGINDEX_")}
        baseline_env["BASELINE_DATABASE_URL"] = self.db.asyncpg_url
        self.baseline = Server(
            "baseline",
            [
                self.python,
                "-m",
                "uvicorn",
                "baseline_app:app",
                "--app-dir",
                str(ROOT / "bench"),
                "--host",
                "127.0.0.1",
                "--workers",
                workers,
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--no-server-header",
                "--log-level",
                "warning",
            ],
            baseline_env,
            self.workdir,
            self.workdir / "baseline.log",
        )
        log(f"starting pkgindex serve --workers {workers} on {self.service.url}")
        self.service.start("/readyz", self.args.workers)
        log(f"starting the baseline on {self.baseline.url}")
        self.baseline.start("/readyz", self.args.workers)
        log(f"pkgindex workers {self.service.workers()}, baseline workers {self.baseline.workers()}")

    def choose_endpoints(self) -> None:
        assert self.service is not None
        assert self.baseline is not None
        count = self.db.query("SELECT count(*) AS n FROM package")[0]["n"]
        package = self.db.query(f"SELECT id, slug FROM package ORDER BY id OFFSET {count // 2} LIMIT 1")[0]
        grid = self.db.query(
            "SELECT g.id, g.slug, count(*) AS n FROM grid g JOIN grid_package gp ON gp.grid_id = g.id"
            " GROUP BY g.id, g.slug ORDER BY count(*) DESC, abs(count(*) - 200), g.id LIMIT 1"
        )[0]
        api = self.service.url + "/api/v4"
        self.base = Endpoint(
            "baseline",
            "baseline: Starlette+asyncpg /packages/{id}",
            f"{self.baseline.url}/packages/{package['id']}",
        )
        self.endpoints = [
            Endpoint("detail-id", "package by id", f"{api}/packages/{package['id']}/", 0.60, 25),
            Endpoint("detail-slug", "package by slug", f"{api}/packages/{package['slug']}/", 0.60, 25),
            Endpoint("packages-page", "20 packages, offset=1000", f"{api}/packages/?limit=20&offset=1000",
                     0.40, 60),
            Endpoint("grids-page", "20 grids", f"{api}/grids/?limit=20", 0.40, 60),
            Endpoint(
                "grid-big", f"grid of {grid['n']} packages", f"{api}/grids/{grid['id']}/", 0.25,
                note=f"grid {grid['id']} ({grid['slug']}), the largest: {grid['n']} packages",
            ),
            Endpoint("search", f"search q={SEARCH_TERM}", f"{api}/search/?q={SEARCH_TERM}", 0.25),
            Endpoint("categories", "categories", f"{api}/categories/", 0.25),
            Endpoint("page-0", "20 packages, offset=0", f"{api}/packages/?limit=20&offset=0", 0.40, 60),
            Endpoint(
                "page-5000", "20 packages, offset=5000", f"{api}/packages/?limit=20&offset=5000", 0.80, 60,
                relative_to="page-0",
            ),
        ]  # fmt: skip
        for endpoint in [self.base, *self.endpoints]:
            status, body = fetch(endpoint.url)
            if status != 200:
                raise BenchError(f"GET {endpoint.url} answered {status}: {body[:500]!r}")
            endpoint.size = len(body)
            if endpoint.key == "search":
                endpoint.note = f"{len(json.loads(body))} hits for q={SEARCH_TERM}"
            if endpoint.key == "grid-big" and len(json.loads(body)["packages"]) != grid["n"]:
                raise BenchError(f"grid {grid['id']} lists {len(json.loads(body)['packages'])} packages")
        log(
            f"package {package['id']} ({package['slug']}); grid {grid['id']} with {grid['n']} packages;"
            f" {count} packages"
        )

    # --- load --------------------------------------------------------------------------------------
    def wrk(self, url: str, duration: float, *, timeout_extra: float = 60.0) -> WrkResult:
        argv = [
            self.args.wrk,
            "-t",
            str(min(2, self.args.connections)),
            "-c",
            str(self.args.connections),
            "-d",
            f"{duration:g}s",
            "--latency",
            url,
        ]
        self.wrk_proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = self.wrk_proc.communicate(timeout=duration + timeout_extra)
        except subprocess.TimeoutExpired:
            kill_group(self.wrk_proc)
            raise BenchError(f"wrk on {url} did not finish") from None
        code, self.wrk_proc = self.wrk_proc.returncode, None
        if code != 0:
            raise BenchError(f"wrk exited {code}:\n{out}")
        return parse_wrk(out)

    def check_servers(self) -> None:
        assert self.service is not None
        assert self.baseline is not None
        self.service.check_alive()
        self.baseline.check_alive()

    def measure(self) -> None:
        assert self.base is not None
        everything = [self.base, *self.endpoints]
        self.loadavg.append(loadavg())
        log(f"warm-up: {WARMUP_SECONDS} s per endpoint (load average {self.loadavg[0]})")
        for endpoint in everything:
            result = self.wrk(endpoint.url, WARMUP_SECONDS)
            if not result.valid:
                log(f"  warm-up {endpoint.key}: {result.non_2xx} non-2xx, {result.socket_errors}")
        self.check_servers()
        for round_no in range(1, self.args.runs + 1):
            log(f"round {round_no}/{self.args.runs}: {len(everything)} x {self.args.duration:g} s")
            for endpoint in everything:
                result = self.wrk(endpoint.url, self.args.duration)
                endpoint.runs.append(result)
                flag = "" if result.valid else f"  INVALID: {result.non_2xx} non-2xx, {result.socket_errors}"
                log(
                    f"  {endpoint.key:14} {result.rps:9.1f} req/s  p50 {result.p50:7.2f} ms"
                    f"  p99 {result.p99:7.2f} ms{flag}"
                )
            self.check_servers()
        assert self.service is not None
        assert self.baseline is not None
        self.loadavg.append(loadavg())
        self.rss_service = self.service.rss()
        self.rss_baseline = self.baseline.rss()
        if self.service.proc is not None:
            self.supervisor_rss = rss_mb(self.service.proc.pid)

    def run_soak(self) -> None:
        seconds = self.args.soak
        if seconds <= 0:
            return
        assert self.service is not None
        url = self.endpoints[0].url
        log(f"soak: {seconds:g} s on {url}, RSS every {SOAK_SAMPLE_SECONDS} s")
        argv = [
            self.args.wrk, "-t", str(min(2, self.args.connections)), "-c", str(self.args.connections),
            "-d", f"{seconds:g}s", "--latency", url,
        ]  # fmt: skip
        started = time.monotonic()
        self.soak.append((0.0, self.service.rss()))
        self.wrk_proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        next_sample = SOAK_SAMPLE_SECONDS
        while self.wrk_proc.poll() is None:
            time.sleep(1)
            elapsed = time.monotonic() - started
            if elapsed >= next_sample and elapsed < seconds:
                self.soak.append((elapsed, self.service.rss()))
                log(f"  {elapsed:5.0f} s  RSS {self._rss_text(self.soak[-1][1])}")
                next_sample += SOAK_SAMPLE_SECONDS
            if elapsed > seconds + 60:
                kill_group(self.wrk_proc)
                raise BenchError("the soak's wrk did not finish")
        out = self.wrk_proc.stdout.read() if self.wrk_proc.stdout else ""
        self.wrk_proc = None
        self.soak.append((time.monotonic() - started, self.service.rss()))
        self.soak_result = parse_wrk(out)
        self.service.check_alive()

    @staticmethod
    def _rss_text(rss: dict[int, float]) -> str:
        per = ", ".join(f"{mb:.1f}" for mb in rss.values())
        return f"sum {sum(rss.values()):.1f} MB ({per})"

    # --- report ------------------------------------------------------------------------------------
    def report(self) -> None:
        assert self.base is not None
        base_rps = self.base.median("rps")
        by_key = {e.key: e for e in self.endpoints}
        p = print
        p()
        p(
            f"pkgindex HTTP bench: {self.args.runs} run(s) x {self.args.duration:g} s per endpoint,"
            f" wrk -t{min(2, self.args.connections)} -c{self.args.connections}, {self.args.workers} workers"
            f" each, {os.cpu_count()} CPUs shared by wrk, the servers and PostgreSQL; {git_state()}"
        )
        cache = "the default size" if self.args.cache_mb is None else f"{self.args.cache_mb:g} MB"
        p(f"pkgindex response cache: {cache} (--cache-mb 0: every answer built from the database).")
        p("Medians over the runs; ratio = median req/s ÷ the baseline's median req/s in this run.")
        p(
            f"1-minute load average before the warm-up {self.loadavg[0]}, after the runs {self.loadavg[-1]}"
            " (above about 0.5 before the warm-up, something else was using the CPUs)."
        )
        p()
        header = ["endpoint", "req/s", "p50 ms", "p99 ms", "ratio to baseline", "target", "met?", "bytes"]
        rows = [
            [
                self.base.label,
                f"{base_rps:,.0f}",
                f"{self.base.median('p50'):.2f}",
                f"{self.base.median('p99'):.2f}",
                "1.00",
                "—",
                "—" if self.base.valid else "INVALID",
                f"{self.base.size:,}",
            ]
        ]
        for endpoint in self.endpoints:
            rps = endpoint.median("rps")
            p99 = endpoint.median("p99")
            ratio = rps / base_rps if base_rps else 0.0
            ratio_text = f"{ratio:.2f}"
            met = True
            if endpoint.min_ratio is not None:
                if endpoint.relative_to:
                    other = by_key[endpoint.relative_to].median("rps")
                    own = rps / other if other else 0.0
                    ratio_text += f" ({own:.2f} of {endpoint.relative_to})"
                    met = met and own >= endpoint.min_ratio
                else:
                    met = met and ratio >= endpoint.min_ratio
            if endpoint.max_p99 is not None:
                met = met and p99 < endpoint.max_p99
            verdict = ("yes" if met else "NO") if endpoint.valid else "INVALID"
            rows.append(
                [
                    endpoint.label,
                    f"{rps:,.0f}",
                    f"{endpoint.median('p50'):.2f}",
                    f"{p99:.2f}",
                    ratio_text,
                    endpoint.target(),
                    verdict,
                    f"{endpoint.size:,}",
                ]
            )
        print_table(header, rows)
        p()
        for endpoint in [self.base, *self.endpoints]:
            runs = " · ".join(f"{run.rps:,.0f}" for run in endpoint.runs)
            errors = [
                f"run {i}: {run.non_2xx} non-2xx, socket errors {run.socket_errors or 0}"
                for i, run in enumerate(endpoint.runs, 1)
                if not run.valid
            ]
            line = f"  {endpoint.key:14} req/s per run: {runs}"
            if endpoint.note:
                line += f"; {endpoint.note}"
            if errors:
                line += "; INVALID (" + "; ".join(errors) + ")"
            p(line)
        p(f"  URLs: {self.base.url}; " + ", ".join(e.url.split("/api/v4", 1)[1] for e in self.endpoints))
        invalid = [e.key for e in [self.base, *self.endpoints] if not e.valid]
        p(
            "  Non-2xx/3xx answers and socket errors: none."
            if not invalid
            else f"  INVALID runs (non-2xx/3xx answers or socket errors): {', '.join(invalid)}"
        )
        p()
        worst = max(self.rss_service.values(), default=0.0)
        p(
            f"RSS of the pkgindex workers after the runs: {self._rss_text(self.rss_service)};"
            f" target < {RSS_TARGET_MB:g} MB per worker: {'yes' if 0 < worst < RSS_TARGET_MB else 'NO'}"
            f" (uvicorn supervisor process: {self.supervisor_rss:.1f} MB)"
        )
        p(f"RSS of the baseline workers after the runs: {self._rss_text(self.rss_baseline)}")
        if self.soak:
            first, last = self.soak[0][1], self.soak[-1][1]
            growth = ", ".join(
                f"{pid}: {first.get(pid, 0):.1f} → {last.get(pid, 0):.1f} MB"
                f" ({last.get(pid, 0) - first.get(pid, 0):+.1f})"
                for pid in sorted(set(first) | set(last))
            )
            p(f"Soak, {self.args.soak:g} s of package detail: RSS {growth}")
            for elapsed, rss in self.soak:
                p(f"  {elapsed:6.0f} s  {self._rss_text(rss)}")
            if self.soak_result:
                r = self.soak_result
                validity = "" if r.valid else f"; INVALID: {r.non_2xx} non-2xx, {r.socket_errors}"
                p(f"  soak load: {r.rps:,.0f} req/s, p50 {r.p50:.2f} ms, p99 {r.p99:.2f} ms{validity}")
        imported = self.timings["import"]
        p(
            f"pkgindex import of the dump into a fresh database: {imported:.2f} s wall (CLI start-up"
            " included;"
            f" target < {IMPORT_TARGET_SECONDS:g} s: {'yes' if imported < IMPORT_TARGET_SECONDS else 'NO'});"
            f" {self.import_summary}; migrate {self.timings['migrate']:.2f} s"
        )

    # --- tear-down ---------------------------------------------------------------------------------
    def close(self) -> None:
        if self.wrk_proc is not None:
            kill_group(self.wrk_proc, grace=2)
        for server in (self.service, self.baseline):
            if server is not None:
                server.stop()
        if self.args.keep_db:
            log(f"kept database {self.db.name}")
        else:
            try:
                self.db.drop()
            except Exception as exc:
                log(f"could not drop database {self.db.name}: {exc}")
        shutil.rmtree(self.workdir, ignore_errors=True)

    def run(self) -> None:
        self.prepare()
        self.start_servers()
        self.choose_endpoints()
        self.measure()
        self.run_soak()
        self.report()


def loadavg() -> str:
    with suppress(OSError):
        return Path("/proc/loadavg").read_text().split()[0]
    return "?"


def git_state() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {head}" + (" with uncommitted changes in src/" if dirty else "")


def print_table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=15, help="seconds per wrk run (default 15)")
    parser.add_argument("--runs", type=int, default=3, help="rounds; medians are reported (default 3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    parser.add_argument("--quick", action="store_true", help="smoke test: --duration 5 --runs 1")
    parser.add_argument(
        "--soak", type=float, default=0, help="then load the package detail this many seconds, sampling RSS"
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of each server (default 2)")
    parser.add_argument(
        "--cache-mb",
        type=float,
        default=None,
        help="PKGINDEX_RESPONSE_CACHE_MB of the service (default: its default); 0 measures every"
        " request built from the database",
    )
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    parser.add_argument("--pg", default=DEFAULT_PG, help=f"admin DSN (default {DEFAULT_PG})")
    parser.add_argument("--gen-dataset", type=Path, default=DEFAULT_GEN_DATASET)
    parser.add_argument("--wrk", default=shutil.which("wrk") or "/usr/bin/wrk", help="the wrk binary")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.runs = 5, 1
    if args.runs < 1 or args.duration <= 0 or args.connections < 1:
        parser.error("--runs, --duration and --connections must be positive")
    if not Path(args.wrk).exists():
        parser.error(f"wrk not found ({args.wrk}): apt-get install wrk, or `make bench`")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_sigterm(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started with SIGINT ignored (&)
    bench = Bench(args)
    try:
        bench.run()
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
