#!/usr/bin/env python3
"""Refresher benchmark: `pkgindex refresh --all` against the fake GitHub and PyPI, on PostgreSQL.

Run by hand, never in CI (it takes minutes; the binding-quota scenario takes ten or more):

    .venv/bin/python bench/refresh_bench.py [--packages 5300] [--latency 0.1] [--skip-binding]
        [--repeat 3] [--set GITHUB_CONCURRENCY=8] ...

What it does, all in a temporary directory and throw-away databases that are dropped at the end:

1. Generates the v4 dump with gen_dataset.py, creates a template database, `pkgindex migrate`,
   `pkgindex import` (timed).
2. Starts `python -m tests.fakeupstream` as a separate process, seeded from the same dump.
3. Runs the scenarios, each as a `pkgindex refresh --all` subprocess (the real CLI), on a database
   copied from the template, reading the fake's `/_fake/stats` around each run:
     a. first full pass after the import, quota not binding;
     b. the same first pass with a binding quota (500 REST + 500 GraphQL units per 60 s window);
     c. a second full pass with nothing changed upstream (after a);
     d. `POST /_fake/push?fraction=0.1`, then a full pass.
4. Prints a table (ours next to the modelled original Django Packages updater) and a diagnosis.

The bench needs the project's virtualenv (asyncpg, pkgindex); run with another interpreter, it
re-executes itself with `.venv/bin/python`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from processes import kill_group

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"

try:
    import asyncpg  # type: ignore[import-untyped]

    sys.path.insert(0, str(ROOT / "src"))
    from pkgindex.config import Settings
    from pkgindex.refresh.hosts import github_full_name
    from pkgindex.refresh.pypi import project_name
except ImportError:
    if VENV_PYTHON.exists() and Path(sys.executable).resolve() != VENV_PYTHON.resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(Path(__file__).resolve()), *sys.argv[1:]])
    raise

DEFAULT_GEN_DATASET = Path("/work/shared/tools/gen_dataset.py")
DEFAULT_PACKAGES = 5300  # gen_dataset.py's default size
DEFAULT_GRIDS = 370
TOKEN = "ghp_bench_token_0000000000000000000000"  # any token: the fake accepts every Bearer token
BIG_QUOTA = 1_000_000

# The original Django Packages updater (package_updater): per package, sequentially, GitHub repository,
# contributors, last commit and weekly participation (4 REST requests), then PyPI (1); at best one
# package per 0.5 s. A personal token has 5000 REST requests an hour.
BASELINE_GITHUB_PER_PACKAGE = 4
BASELINE_SECONDS_PER_PACKAGE = 0.5
BASELINE_HOURLY_QUOTA = 5000

ENDPOINT_NAMES = {
    "graphql": "graphql",
    "repo": "repo",
    "contributors": "contributors",
    "commit_activity": "activity",
    "commits": "commits",
    "other": "other",
}

SCENARIOS = {
    "a": "a. first pass",
    "b": "b. first pass, binding quota",
    "c": "c. second pass, no change",
    "d": "d. after push to 10 %",
}


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------- results
@dataclass
class Run:
    """One `pkgindex refresh --all` and what the fake saw meanwhile."""

    scenario: str
    wall: float  # seconds, around the subprocess (includes interpreter start and make_due)
    stats: dict[str, Any]  # the fake's /_fake/stats for this run only
    summary: list[str]  # the lines `pkgindex refresh` printed
    packages: int
    changed_repos: int | None = None  # scenario d: repositories pushed to
    refresher: dict[str, float] = field(default_factory=dict)  # figures parsed from the summary
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds: refresher, fake; load average

    def endpoint_counts(self, api: str) -> dict[str, dict[str, int]]:
        return dict(self.stats.get("by_endpoint", {}).get(api, {}))

    def github_requests(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for api in ("graphql", "rest"):
            for endpoint, statuses in self.endpoint_counts(api).items():
                name = ENDPOINT_NAMES.get(endpoint, endpoint)
                counts[name] = counts.get(name, 0) + sum(statuses.values())
        return counts

    def requests(self, api: str) -> int:
        return sum(sum(statuses.values()) for statuses in self.endpoint_counts(api).values())

    def not_modified(self, *apis: str) -> int:
        return sum(statuses.get("304", 0) for api in apis for statuses in self.endpoint_counts(api).values())

    def limited_answers(self) -> int:
        """REST answers 403/429 (the fake's quota or secondary limits)."""
        return sum(
            statuses.get("403", 0) + statuses.get("429", 0)
            for statuses in self.endpoint_counts("rest").values()
        )

    @property
    def units(self) -> int:
        return int(self.stats.get("units", 0))

    @property
    def violations(self) -> int:
        return int(self.stats.get("violations", 0))

    @property
    def units_per_package(self) -> float:
        return self.units / self.packages if self.packages else math.nan


SUMMARY_PATTERNS: dict[str, re.Pattern[str]] = {
    "refreshed": re.compile(r"Refreshed (\d+) packages in ([\d.]+) s"),
    "updated": re.compile(r"(\d+) updated"),
    "unchanged": re.compile(r"(\d+) unchanged"),
    "failed": re.compile(r"(\d+) failed"),
    "skipped": re.compile(r"(\d+) skipped"),
    "retries": re.compile(r"retries: (\d+)"),
    "rate_limited": re.compile(r"rate-limit answers: (\d+)"),
    "units": re.compile(r"GitHub quota spent: (\d+) units"),
    "held_back": re.compile(r"Held back by GitHub's limits: ([\d.]+) s"),
}


def parse_summary(lines: list[str]) -> dict[str, float]:
    text = "\n".join(lines)
    figures: dict[str, float] = {}
    for name, pattern in SUMMARY_PATTERNS.items():
        if match := pattern.search(text):
            figures[name] = float(match[1])
            if name == "refreshed":
                figures["seconds"] = float(match[2])
    figures.setdefault("held_back", 0.0)
    return figures


# --------------------------------------------------------------------------------------- processes
def http(method: str, url: str, timeout: float = 60.0) -> Any:
    request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


class Fake:
    """`python -m tests.fakeupstream` in its own process group."""

    def __init__(self, python: str, dump: Path, workdir: Path, *, latency: float) -> None:
        self.python, self.dump, self.workdir, self.latency = python, dump, workdir, latency
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.starts = 0

    def start(self, *, rest: int, graphql: int, window: float, timeout: float = 120.0) -> None:
        self.stop()
        self.starts += 1
        log_path = self.workdir / f"fake-{self.starts}.log"
        with log_path.open("wb") as log_file:
            self.proc = subprocess.Popen(
                [
                    self.python,
                    "-m",
                    "tests.fakeupstream",
                    "--dump",
                    str(self.dump),
                    "--port",
                    "0",
                    "--latency",
                    str(self.latency),
                    "--rest-limit",
                    str(rest),
                    "--graphql-limit",
                    str(graphql),
                    "--window",
                    str(window),
                ],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.url:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"the fake upstream did not start; see {log_path}:\n{tail(log_path)}")
            if match := re.search(
                r"fake upstream on (http://\S+?):? ", log_path.read_text("utf-8", "replace")
            ):
                self.url = match[1]
            else:
                time.sleep(0.2)
        while True:  # the URL is printed once the port is bound, before uvicorn listens
            try:
                self.stats()
                break
            except (OSError, urllib.error.URLError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"the fake upstream does not answer; see {log_path}") from None
                time.sleep(0.2)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the fake process so far (Linux /proc; NaN elsewhere)."""
        try:
            fields = Path(f"/proc/{self.proc.pid if self.proc else 0}/stat").read_text().rsplit(")", 1)[1]
            utime, stime = fields.split()[11:13]
            return (int(utime) + int(stime)) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return math.nan

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            raise BenchError(f"the fake upstream has exited; see {self.workdir}/fake-{self.starts}.log")

    def stop(self) -> None:
        if self.proc is not None:
            kill_group(self.proc)
        self.proc, self.url = None, ""

    def stats(self) -> dict[str, Any]:
        return dict(http("GET", f"{self.url}/_fake/stats"))

    def reset_log(self) -> None:
        http("POST", f"{self.url}/_fake/reset-log")

    def push(self, fraction: float, seed: int) -> int:
        return int(http("POST", f"{self.url}/_fake/push?fraction={fraction}&seed={seed}")["pushed"])

    def env(self) -> dict[str, str]:
        return {
            "PKGINDEX_GITHUB_API_URL": f"{self.url}/github",
            "PKGINDEX_GITHUB_GRAPHQL_URL": f"{self.url}/github/graphql",
            "PKGINDEX_PYPI_URL": f"{self.url}/pypi",
        }


def tail(path: Path, lines: int = 20) -> str:
    with suppress(OSError):
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])
    return ""


# --------------------------------------------------------------------------------------- databases
class Databases:
    """Throw-away databases on the server of the admin DSN; every one created is dropped by close()."""

    def __init__(self, admin_dsn: str) -> None:
        self.admin_dsn = admin_dsn
        self.created: list[str] = []

    def _execute(self, *statements: str) -> None:
        async def run() -> None:
            conn = await asyncpg.connect(self.admin_dsn, timeout=30)
            try:
                for statement in statements:
                    await conn.execute(statement, timeout=600)
            finally:
                await conn.close()

        asyncio.run(run())

    def create(self, name: str, template: str | None = None) -> None:
        self.drop(name)
        self.created.append(name)
        self._execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))

    def drop(self, name: str) -> None:
        self._execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def url(self, name: str) -> str:
        """The application's SQLAlchemy URL for database ``name``."""
        parts = urlsplit(self.admin_dsn)
        return urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", parts.query, ""))

    def close(self) -> None:
        for name in reversed(self.created):
            try:
                self.drop(name)
            except Exception as exc:
                log(f"could not drop database {name}: {exc}")
        self.created.clear()


# --------------------------------------------------------------------------------------- the bench
@dataclass
class Dataset:
    packages: int
    github: int  # packages whose repo_url the refresher's GitHub adapter handles
    pypi: int  # packages with a PyPI project URL


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.python = args.python
        self.workdir = Path(tempfile.mkdtemp(prefix="pkgindex-bench-"))
        self.dbs = Databases(args.pg)
        tag = uuid.uuid4().hex[:8]
        self.template_db = f"pkgindex_bench_{tag}_template"
        self.run_db = f"pkgindex_bench_{tag}"
        self.dump = self.workdir / "dump.json"
        self.fake = Fake(self.python, self.dump, self.workdir, latency=args.latency)
        self.child: subprocess.Popen[str] | None = None
        self.child_cpu = 0.0  # CPU seconds of the last `pkgindex` subprocess
        self.timings: dict[str, float] = {}
        self.runs: dict[str, list[Run]] = {key: [] for key in SCENARIOS}
        self.dataset = Dataset(0, 0, 0)

    def close(self) -> None:
        if self.child is not None:
            kill_group(self.child)
        self.fake.stop()
        self.dbs.close()
        if self.args.keep:
            log(f"kept {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # --- helpers ---------------------------------------------------------------------------------------
    def env(self, database: str) -> dict[str, str]:
        # The caller's PKGINDEX_* settings (and a .env in the repository) must not skew the figures.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PKGINDEX_")}
        env.update(
            PKGINDEX_DATABASE_URL=self.dbs.url(database),
            PKGINDEX_GITHUB_TOKEN=TOKEN,
            PYTHONUNBUFFERED="1",
            **self.fake.env(),
        )
        for assignment in self.args.set:
            key, _, value = assignment.partition("=")
            env[f"PKGINDEX_{key.upper().removeprefix('PKGINDEX_')}"] = value
        return env

    def pkgindex(self, *argv: str, database: str, timeout: float, name: str) -> list[str]:
        """Run the real CLI in the work directory (no .env there); its stdout lines."""
        err_path = self.workdir / f"{name}.stderr"
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        with err_path.open("w") as err:
            self.child = subprocess.Popen(
                [self.python, "-m", "pkgindex", *argv],
                cwd=self.workdir,
                env=self.env(database),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
            )
            try:
                out, _ = self.child.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(self.child)
                self.child = None
                raise BenchError(f"`pkgindex {' '.join(argv)}` ({name}) took over {timeout:.0f} s") from None
            # Left set on any other exception (Ctrl-C), for close() to stop it.
            code, self.child = self.child.returncode, None
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.child_cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
        if code != 0:
            raise BenchError(f"`pkgindex {' '.join(argv)}` ({name}) exited {code}:\n{tail(err_path)}")
        return out.splitlines()

    @contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        yield
        self.timings[name] = time.monotonic() - started

    # --- set-up ------------------------------------------------------------------------------------------
    def prepare(self) -> None:
        grids = self.args.grids
        if grids is None:
            grids = max(1, round(DEFAULT_GRIDS * self.args.packages / DEFAULT_PACKAGES))
        log(f"generating {self.args.packages} packages into {self.dump}")
        with self.timed("generate"):
            subprocess.run(
                [
                    self.python,
                    str(self.args.gen_dataset),
                    "--packages",
                    str(self.args.packages),
                    "--grids",
                    str(grids),
                    "--out",
                    str(self.dump),
                ],
                check=True,
                timeout=600,
            )
        packages = json.loads(self.dump.read_text("utf-8"))["packages"]
        self.dataset = Dataset(
            packages=len(packages),
            github=sum(1 for p in packages if github_full_name(p.get("repo_url") or "")),
            pypi=sum(1 for p in packages if project_name(p.get("pypi_url") or "")),
        )
        log(
            f"dataset: {self.dataset.packages} packages, {self.dataset.github} on GitHub,"
            f" {self.dataset.pypi} on PyPI"
        )
        self.dbs.create(self.template_db)
        with self.timed("migrate"):
            self.pkgindex("migrate", database=self.template_db, timeout=600, name="migrate")
        with self.timed("import"):
            lines = self.pkgindex(
                "import", str(self.dump), database=self.template_db, timeout=1800, name="import"
            )
        log(f"import: {' '.join(lines)} in {self.timings['import']:.1f} s")

    def fresh_state(self, *, rest: int, graphql: int, window: float) -> None:
        """The database as right after the import, and a fake seeded anew from the dump."""
        self.fake.stop()
        self.dbs.create(self.run_db, template=self.template_db)
        self.fake.start(rest=rest, graphql=graphql, window=window)
        log(f"fake upstream at {self.fake.url} (REST {rest}, GraphQL {graphql} per {window:.0f} s)")

    # --- scenarios ---------------------------------------------------------------------------------------
    def refresh(self, scenario: str, *, timeout: float, changed: int | None = None) -> Run:
        log(f"scenario {SCENARIOS[scenario]}: pkgindex refresh --all (timeout {timeout:.0f} s)")
        self.fake.reset_log()
        before = self.fake.stats()
        fake_cpu = self.fake.cpu_seconds()
        started = time.monotonic()
        lines = self.pkgindex(
            "refresh", "--all", database=self.run_db, timeout=timeout, name=f"refresh-{scenario}"
        )
        wall = time.monotonic() - started
        self.fake.check_alive()
        stats = subtract(self.fake.stats(), before)
        run = Run(scenario, wall, stats, lines, self.dataset.packages, changed, parse_summary(lines))
        run.cpu = {
            "refresher": self.child_cpu,
            "fake": self.fake.cpu_seconds() - fake_cpu,
            "load": os.getloadavg()[0],
        }
        self.runs[scenario].append(run)
        for line in lines:
            log(f"  | {line}")
        log(
            f"  wall {wall:.1f} s; fake saw {stats.get('requests', 0)} requests, {run.units} units,"
            f" {run.violations} violations"
        )
        if run.refresher.get("units") is not None and run.refresher["units"] != run.units:
            log(f"  note: the refresher counted {run.refresher['units']:.0f} units, the fake {run.units}")
        return run

    def run(self) -> None:
        self.prepare()
        for round_ in range(1, self.args.repeat + 1):
            log(f"--- round {round_} of {self.args.repeat}")
            self.fresh_state(rest=BIG_QUOTA, graphql=BIG_QUOTA, window=3600)
            first = self.refresh("a", timeout=self.args.timeout)
            self.refresh("c", timeout=self.args.timeout)
            pushed = self.fake.push(self.args.push_fraction, self.args.seed)
            log(f"pushed one commit to {pushed} repositories")
            self.refresh("d", timeout=self.args.timeout, changed=pushed)
            if self.args.skip_binding:
                continue
            self.fresh_state(rest=self.args.binding_limit, graphql=self.args.binding_limit, window=60)
            expected = binding_floor(first.units, self.args.binding_limit, 60) + first.wall
            self.refresh("b", timeout=max(self.args.timeout, 2 * expected + 300))
        self.fake.stop()


def subtract(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """The fake's (nested) counters of ``after`` minus those of ``before``."""
    result: dict[str, Any] = {}
    for key, value in after.items():
        if isinstance(value, dict):
            result[key] = subtract(value, before.get(key) or {})
        elif isinstance(value, int | float):
            result[key] = value - (before.get(key) or 0)
        else:
            result[key] = value
    return result


def binding_floor(units: int, limit: int, window: float) -> float:
    """Least wall time to spend ``units`` at ``limit`` per fixed window (all windows but the last)."""
    return max(0, math.ceil(units / limit) - 1) * window


# --------------------------------------------------------------------------------------- report
@dataclass
class Row:
    scenario: str
    runs: list[Run]

    def median(self, value: Callable[[Run], float]) -> float:
        return float(statistics.median(value(run) for run in self.runs))

    @property
    def typical(self) -> Run:
        """The run of median wall time (its per-endpoint counts are shown)."""
        ordered = sorted(self.runs, key=lambda run: run.wall)
        return ordered[(len(ordered) - 1) // 2]


def fmt(value: float, digits: int = 1) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}" if digits else f"{value:,.0f}"


def endpoints_text(run: Run) -> str:
    counts = run.github_requests()
    order = ["graphql", "repo", "contributors", "activity", "commits"]
    names = [n for n in order if counts.get(n)] + sorted(n for n in counts if n not in order and counts[n])
    return " · ".join(f"{name} {counts[name]:,}" for name in names) or "none"


def judge(scenario: str, row: Row, first: Row | None, limit: int) -> tuple[str, bool | None]:
    """(target text, met?) for one scenario; None when there is no numeric target."""
    violations_ok = max(run.violations for run in row.runs) == 0
    wall = row.median(lambda run: run.wall)
    upp = row.median(lambda run: run.units_per_package)
    if scenario == "a":
        return "< 300 s, < 1.2 u/pkg, 0 viol.", violations_ok and wall < 300 and upp < 1.2
    if scenario == "c":
        return "< 60 s, < 0.05 u/pkg, 0 viol.", violations_ok and wall < 60 and upp < 0.05
    if scenario == "b":
        units = row.median(lambda run: run.units)
        failed = row.median(lambda run: run.refresher.get("failed", math.nan))
        failed_first = first.median(lambda run: run.refresher.get("failed", math.nan)) if first else 0.0
        paused = units <= limit or row.median(lambda run: run.refresher["held_back"]) > 0
        return "pause+resume, all done, 0 viol.", violations_ok and paused and failed <= failed_first
    return "0 viol. (per-repo: report)", violations_ok


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(line[i]) for line in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def baseline(dataset: Dataset, scenario: str, limit: int) -> tuple[str, int]:
    """(least wall time as text, GitHub units) of the original updater for one scenario's pass."""
    units = BASELINE_GITHUB_PER_PACKAGE * dataset.github
    seconds = BASELINE_SECONDS_PER_PACKAGE * dataset.packages
    if scenario == "b":
        return f"≥ {max(seconds, binding_floor(units, limit, 60)):,.0f}", units
    quota_bound = binding_floor(units, BASELINE_HOURLY_QUOTA, 3600)
    if quota_bound > seconds:
        return f"≥ {seconds:,.0f} (≥ {quota_bound:,.0f} at {BASELINE_HOURLY_QUOTA}/h)", units
    return f"≥ {seconds:,.0f}", units


def report(bench: Bench) -> None:
    args, data = bench.args, bench.dataset
    rows = {key: Row(key, runs) for key, runs in bench.runs.items() if runs}
    print()
    print(
        f"pkgindex refresher benchmark: {data.packages:,} packages ({data.github:,} on GitHub,"
        f" {data.pypi:,} on PyPI); fake upstream latency {args.latency * 1000:.0f} ms per request;"
        f" {args.repeat} run(s) per scenario{' (medians)' if args.repeat > 1 else ''}"
    )
    print(
        f"set-up: generate {bench.timings.get('generate', 0):.1f} s, migrate"
        f" {bench.timings.get('migrate', 0):.1f} s, import {bench.timings.get('import', 0):.1f} s"
    )
    overrides = ", ".join(args.set) or "none (defaults)"
    print(f"refresher settings overridden: {overrides}")
    print()
    headers = [
        "scenario",
        "wall s",
        "GitHub requests by endpoint",
        "PyPI req.",
        "304s GitHub/PyPI",
        "units",
        "units/package",
        "rate-limit answers",
        "violations",
        "target",
        "met?",
        "baseline wall s",
        "baseline units (u/pkg)",
    ]
    lines: list[list[str]] = []
    for key in ("a", "b", "c", "d"):
        if key not in rows:
            continue
        row = rows[key]
        run = row.typical
        target, met = judge(key, row, rows.get("a"), args.binding_limit)
        upp = fmt(row.median(lambda r: r.units_per_package), 3)
        if key == "d":
            per_repo = row.median(lambda r: r.units / r.changed_repos if r.changed_repos else math.nan)
            upp += f" ({fmt(per_repo, 2)}/changed repo)"
        base_wall, base_units = baseline(data, key, args.binding_limit)
        base_units_text = f"{base_units:,} ({base_units / data.packages:.2f})"
        if key == "d" and run.changed_repos:
            base_units_text += f", {base_units / run.changed_repos:.0f}/changed repo"
        lines.append(
            [
                SCENARIOS[key],
                fmt(row.median(lambda r: r.wall)),
                endpoints_text(run),
                fmt(row.median(lambda r: r.requests("pypi")), 0),
                f"{fmt(row.median(lambda r: r.not_modified('rest', 'graphql')), 0)}"
                f" / {fmt(row.median(lambda r: r.not_modified('pypi')), 0)}",
                fmt(row.median(lambda r: r.units), 0),
                upp,
                fmt(row.median(lambda r: r.refresher.get("rate_limited", math.nan)), 0),
                str(max(r.violations for r in row.runs)),
                target,
                "-" if met is None else ("yes" if met else "NO"),
                base_wall,
                base_units_text,
            ]
        )
    print(table(headers, lines))
    print()
    hours = BASELINE_GITHUB_PER_PACKAGE * data.github / BASELINE_HOURLY_QUOTA
    quota_hours = binding_floor(BASELINE_GITHUB_PER_PACKAGE * data.github, BASELINE_HOURLY_QUOTA, 3600) / 3600
    print(
        f"baseline (original Django Packages updater, modelled): {BASELINE_GITHUB_PER_PACKAGE} GitHub"
        f" requests per GitHub package + 1 PyPI request, sequential, ≥ {BASELINE_SECONDS_PER_PACKAGE} s per"
        f" package: {BASELINE_GITHUB_PER_PACKAGE * data.github:,} units and {data.pypi:,} PyPI requests"
        f" per pass, ≥ {BASELINE_SECONDS_PER_PACKAGE * data.packages:,.0f} s; that is {hours:.1f} h of a"
        f" {BASELINE_HOURLY_QUOTA}/h token's quota, so ≥ {quota_hours:.0f} h"
        f" of wall time once the quota binds. Every pass costs the same: it sends no conditional requests."
    )
    print()
    print("details (the run of median wall time):")
    for key in ("a", "b", "c", "d"):
        if key in rows:
            for text in diagnose(bench, rows[key].typical):
                print(text)
    print()


def diagnose(bench: Bench, run: Run) -> list[str]:
    """Per-endpoint statuses, the refresher's own figures, and the time floor each host sets."""
    args = bench.args
    env = bench.env(bench.run_db)
    defaults = Settings.model_fields
    gh_conc = int(env.get("PKGINDEX_GITHUB_CONCURRENCY", defaults["github_concurrency"].default))
    pypi_conc = int(env.get("PKGINDEX_PYPI_CONCURRENCY", defaults["pypi_concurrency"].default))
    rest, gql, pypi = run.requests("rest"), run.requests("graphql"), run.requests("pypi")
    floors = {
        f"GitHub REST+GraphQL ({rest + gql:,} req. / {gh_conc} in flight)": (rest + gql)
        * args.latency
        / gh_conc,
        f"PyPI ({pypi:,} req. / {pypi_conc} in flight)": pypi * args.latency / pypi_conc,
    }
    bound = max(floors, key=lambda name: floors[name])
    statuses = []
    for api in ("graphql", "rest", "pypi"):
        for endpoint, counts in sorted(run.endpoint_counts(api).items()):
            detail = ", ".join(f"{status}: {n:,}" for status, n in sorted(counts.items()))
            statuses.append(f"{ENDPOINT_NAMES.get(endpoint, endpoint)} ({detail})")
    units_by_api = run.stats.get("units_by_api", {})
    figures = run.refresher
    out = [
        f"  {SCENARIOS[run.scenario]}: wall {run.wall:.1f} s"
        f" (refresher's own {figures.get('seconds', 0):.1f} s);"
        f" {figures.get('updated', 0):.0f} updated, {figures.get('unchanged', 0):.0f} unchanged,"
        f" {figures.get('failed', 0):.0f} failed, {figures.get('skipped', 0):.0f} skipped;"
        f" retries {figures.get('retries', 0):.0f}; held back by limits {figures['held_back']:.1f} s"
        " (summed over the requests waiting)",
        f"    requests: {'; '.join(statuses) or 'none'}",
        f"    units: REST {units_by_api.get('rest', 0):,}, GraphQL {units_by_api.get('graphql', 0):,}"
        f" (the refresher counted {figures.get('units', math.nan):.0f});"
        f" fake's REST 403/429 answers {run.limited_answers()}; violations {run.violations}",
        "    time floor at {:.0f} ms per request: {} → bound by {}".format(
            args.latency * 1000,
            ", ".join(f"{name} {seconds:.1f} s" for name, seconds in floors.items()),
            bound.split(" (")[0],
        ),
    ]
    own = figures.get("seconds", run.wall)
    out.append(
        f"    beyond that floor: {own - floors[bound]:.1f} s of the refresher's {own:.1f} s"
        " (database writes, CPU, waits between batches, 202 retries, quota pauses)"
    )
    if run.scenario == "b":
        floor = binding_floor(run.units, args.binding_limit, 60)
        out.append(
            f"    quota floor: {run.units:,} units at {args.binding_limit} per 60 s window → ≥ {floor:.0f} s"
            f" of waiting (windows needed: {math.ceil(run.units / args.binding_limit)});"
            f" the pass took {own - floor:.1f} s more than that"
        )
    if run.cpu:
        out.append(
            f"    CPU: refresher process {run.cpu['refresher']:.1f} s, fake upstream {run.cpu['fake']:.1f} s"
            f" (machine: {os.cpu_count()} CPUs, 1-min load average {run.cpu['load']:.1f} at the end)"
        )
    if run.changed_repos:
        out.append(f"    pushed repositories: {run.changed_repos:,}")
    out.append("    summary: " + " / ".join(run.summary))
    return out


# --------------------------------------------------------------------------------------- main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark `pkgindex refresh --all` against the fake GitHub and PyPI on PostgreSQL."
    )
    parser.add_argument("--packages", type=int, default=DEFAULT_PACKAGES, help="dump size (default 5300)")
    parser.add_argument("--grids", type=int, default=None, help="grids in the dump (default: scaled, 370)")
    parser.add_argument("--latency", type=float, default=0.1, help="fake's seconds per request (0.1)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario; medians are reported")
    parser.add_argument("--skip-binding", action="store_true", help="omit scenario b (takes minutes)")
    parser.add_argument(
        "--binding-limit", type=int, default=500, help="scenario b: units per 60 s window, REST and GraphQL"
    )
    parser.add_argument("--push-fraction", type=float, default=0.1, help="scenario d: repositories pushed")
    parser.add_argument("--seed", type=int, default=1, help="scenario d: which repositories are pushed")
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds allowed per refresh (b gets more, by its quota)"
    )
    parser.add_argument(
        "--pg",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="admin DSN of the PostgreSQL server (creates and drops the bench's databases)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a refresher setting for the runs, e.g. GITHUB_CONCURRENCY=8 (PKGINDEX_ prefix optional)",
    )
    parser.add_argument("--gen-dataset", type=Path, default=DEFAULT_GEN_DATASET, help="gen_dataset.py path")
    parser.add_argument("--python", default=sys.executable, help="interpreter with pkgindex installed")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (dump, logs)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.packages < 1 or args.binding_limit < 1:
        parser.error("--repeat, --packages and --binding-limit must be at least 1")
    if any("=" not in assignment for assignment in args.set):
        parser.error("--set takes KEY=VALUE")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM ends the bench like Ctrl-C does: through the finally below, which cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    bench = Bench(args)
    try:
        bench.run()
        report(bench)
    except BenchError as exc:
        log(f"bench failed: {exc}")
        if any(bench.runs.values()):
            report(bench)
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        bench.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
