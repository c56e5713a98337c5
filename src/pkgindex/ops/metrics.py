"""Prometheus metrics, all defined here, served at ``/metrics``.

With several worker processes (``pkgindex serve --workers N``) each process writes its samples to
``PROMETHEUS_MULTIPROC_DIR`` (set by ``serve``) and a scrape of any worker sums them all.
"""

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

HTTP_REQUESTS = Counter(
    "pkgindex_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "pkgindex_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RESPONSE_CACHE = Counter(
    "pkgindex_response_cache_total",
    "GET answers by what the response cache did: hit (served from it), miss (built, stored), bypass"
    " (built, not storable).",
    ["result"],
)
DB_POOL_CHECKED_OUT = Gauge(
    "pkgindex_db_pool_checked_out",
    "Database connections in use.",
    multiprocess_mode="livesum",
)
DB_POOL_OPEN = Gauge(
    "pkgindex_db_pool_open",
    "Database connections open (in use or idle in the pool).",
    multiprocess_mode="livesum",
)
REFRESHED_PACKAGES = Counter(
    "pkgindex_refresh_packages_total",
    "Packages the refresher finished, by outcome (updated, unchanged, failed, skipped).",
    ["outcome"],
)
UPSTREAM_REQUESTS = Counter(
    "pkgindex_upstream_requests_total",
    "Requests the refresher sent upstream, by host and HTTP status (304: not modified).",
    ["host", "status"],
)
UPSTREAM_QUOTA_REMAINING = Gauge(
    "pkgindex_upstream_quota_remaining",
    "Rate-limit units left, as the host last reported, by host and resource.",
    ["host", "resource"],
    multiprocess_mode="livemin",
)


def exposition() -> tuple[bytes, str]:
    """The current samples in the text format, of this process or of every worker."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST


def instrument_pool(engine: AsyncEngine) -> None:
    """Keep the pool gauges current from the pool's own events.

    The gauges are set from the connections each event names, not counted up and down: when the
    database is down, a checkout that fails still sends ``checkin`` (never ``checkout``), and an
    invalidated connection sends ``close``; counting would drift below zero through an outage."""
    pool = engine.sync_engine.pool
    opened: set[int] = set()
    checked_out: set[int] = set()

    def update() -> None:
        DB_POOL_OPEN.set(len(opened))
        DB_POOL_CHECKED_OUT.set(len(checked_out))

    def on_connect(_dbapi: Any, record: Any) -> None:
        opened.add(id(record))
        update()

    def on_close(_dbapi: Any, record: Any) -> None:
        opened.discard(id(record))
        update()

    def on_detach(_dbapi: Any, record: Any) -> None:
        opened.discard(id(record))
        checked_out.discard(id(record))
        update()

    def on_checkout(_dbapi: Any, record: Any, _proxy: Any) -> None:
        checked_out.add(id(record))
        update()

    def on_checkin(_dbapi: Any, record: Any) -> None:
        checked_out.discard(id(record))
        update()

    event.listen(pool, "connect", on_connect)
    event.listen(pool, "close", on_close)
    event.listen(pool, "detach", on_detach)
    event.listen(pool, "checkout", on_checkout)
    event.listen(pool, "checkin", on_checkin)
