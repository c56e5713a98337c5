#!/usr/bin/env python3
"""Per-request cost of pkgindex endpoints, in process: requests go straight into the ASGI app (no HTTP,
no load generator), one after another, so the CPU time per request is the app's own.

Run by hand, against a database you have imported (``pkgindex migrate`` and ``pkgindex import``):

    PKGINDEX_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/DB \\
        .venv/bin/python bench/profile_requests.py /api/v4/packages/1686/ '/api/v4/packages/?offset=1000'

For each path: 200 warm-up requests, then ``--requests`` more in three rounds; it prints the median
wall and CPU microseconds per request. ``--baseline`` measures bench/baseline_app.py's package detail
the same way (its ``/packages/{id}``, on ``BASELINE_DATABASE_URL`` or the same database). ``--profile``
adds a pyinstrument profile of each path (``pip install pyinstrument`` into the virtualenv first);
``--flat`` lists functions by their own time instead of a call tree. Sequential requests pay the
database's round trips in full, so wall times are far above what a loaded server spends per request;
the CPU column is the one to compare.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WARM_UP = 200


async def call(app: Any, path: str) -> int:
    """One GET of ``path`` (with its query) into ``app``; the status it answered."""
    route, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": route,
        "raw_path": route.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope, receive, send)
    return int(messages[0]["status"])


async def measure(app: Any, path: str, requests: int, profile: bool, flat: bool) -> None:
    for _ in range(WARM_UP):
        status = await call(app, path)
    if status != 200:
        raise SystemExit(f"{path} answered {status}")
    profiler = None
    if profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0002, async_mode="disabled")
        profiler.start()
    walls, cpus = [], []
    per_round = max(1, requests // 3)
    for _ in range(3):
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(per_round):
            await call(app, path)
        walls.append((time.perf_counter() - wall) / per_round * 1e6)
        cpus.append((time.process_time() - cpu) / per_round * 1e6)
    print(
        f"{statistics.median(walls):8.0f} µs wall {statistics.median(cpus):8.0f} µs CPU  {path}", flush=True
    )
    if profiler is not None:
        profiler.stop()
        print(profiler.output_text(unicode=False, color=False, flat=flat))


async def main(args: argparse.Namespace) -> None:
    os.environ.setdefault("PKGINDEX_LOG_LEVEL", "warning")
    if args.baseline:
        sys.path.insert(0, str(ROOT / "bench"))
        url = os.environ.get("PKGINDEX_DATABASE_URL", "").replace("postgresql+asyncpg", "postgresql")
        os.environ.setdefault("BASELINE_DATABASE_URL", url)
        import baseline_app

        async with baseline_app.app.router.lifespan_context(baseline_app.app):
            for path in args.paths:
                await measure(baseline_app.app, path, args.requests, args.profile, args.flat)
        return
    from pkgindex.main import create_app

    app = create_app()
    async with app.router.lifespan_context(app):
        for path in args.paths:
            await measure(app, path, args.requests, args.profile, args.flat)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("paths", nargs="+", help="paths with their query, e.g. '/api/v4/packages/?limit=20'")
    parser.add_argument("--requests", type=int, default=1500, help="requests per path after the warm-up")
    parser.add_argument("--baseline", action="store_true", help="measure bench/baseline_app.py instead")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of each path")
    parser.add_argument("--flat", action="store_true", help="with --profile: functions by own time")
    return parser.parse_args()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main(parse_args()))
