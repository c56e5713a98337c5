"""The fake upstream's world: repositories, PyPI projects, quotas, injected faults and the request log.

Everything here is plain Python guarded by one lock, because the HTTP server runs in another thread
(see ``server.py``) while the test mutates the world and reads the log from the main thread. The
protocol code (``app.py``, ``github.py``, ``graphql_api.py``, ``pypi.py``) reads and writes this state
only while holding ``FakeState.lock``.
"""

from __future__ import annotations

import math
import random
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from packaging.version import InvalidVersion, Version

FAULT_KINDS = frozenset(
    {"500", "502", "503", "timeout", "reset", "malformed", "secondary", "ratelimit429", "202"}
)


@dataclass
class FakeRepo:
    id: int
    full_name: str  # "owner/name" (canonical, case preserved)
    description: str | None = None
    stars: int = 0
    forks: int = 0
    archived: bool = False
    default_branch: str = "main"
    contributors: list[str] = field(default_factory=list)  # logins, most commits first
    commits: list[datetime] = field(default_factory=list)  # committer dates, aware UTC, default branch
    pushed_at: datetime | None = None

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]

    def commits_newest_first(self) -> list[datetime]:
        return sorted(self.commits, reverse=True)


@dataclass
class FakeProject:  # PyPI
    name: str  # display name
    releases: dict[str, bool]  # version -> yanked? (all files of that version yanked)
    project_urls: dict[str, str] | None = None
    docs_url: str | None = None


@dataclass(frozen=True)
class RequestRecord:
    at: float  # time.monotonic() at arrival
    wall: float  # time.time() at arrival
    api: str  # "rest" | "graphql" | "pypi"
    # "repo" | "contributors" | "commit_activity" | "commits" | "graphql" | "pypi_project" | "other"
    endpoint: str
    method: str
    path: str
    status: int
    authorized: bool
    units: int  # quota units charged (REST 1, GraphQL the query cost, 0 for a free 304 and for PyPI)
    violation: bool
    query: str = ""  # raw query string, for debugging failed assertions
    fault: str | None = None  # the injected fault kind that shaped this answer, if any


def normalize_project_name(name: str) -> str:
    """PEP 503 normalization, as PyPI applies it to project names."""
    return re.sub(r"[-_.]+", "-", name).lower()


def version_key(version: str) -> Version:
    # Unparseable (legacy) versions sort below every valid one, as they would on a modern index.
    try:
        return Version(version)
    except InvalidVersion:
        return Version("0.dev0")


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    kind: str
    remaining: int
    retry_after: float | None


@dataclass
class _Window:
    """One fixed rate-limit window for one (resource, quota key)."""

    limit: int
    used: int = 0
    reset: int = 0  # epoch seconds when the window ends; 0 = no window started yet
    # monotonic instant from which the client knows remaining is 0 (the answer saying so has arrived)
    told_zero_at: float | None = None


@dataclass
class _RepoSlot:
    repo: FakeRepo
    created_seq: int
    stats_ready: bool = False  # commit-activity cache; False -> the next ask answers 202
    deleted: bool = False


class FakeState:
    def __init__(
        self,
        *,
        rest_limit: int = 5000,
        anonymous_limit: int = 60,
        graphql_limit: int = 5000,
        window: float = 3600.0,
        latency: float = 0.0,
        rate_limit_status: int = 403,
    ) -> None:
        # One re-entrant lock: protocol code takes it once per request and may call the public
        # helpers below while holding it.
        self.lock = threading.RLock()
        self.rest_limit = rest_limit
        self.anonymous_limit = anonymous_limit
        self.graphql_limit = graphql_limit
        self.window = window
        self.latency = latency
        self.rate_limit_status = rate_limit_status
        self.hang = 30.0  # seconds a "timeout" fault waits before answering
        self.token_required = False  # when True, anonymous REST requests get 401 (benchmark option)
        # The fake's "now" for commit activity weeks and default push dates; replaceable in tests.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

        self._slots: dict[str, _RepoSlot] = {}  # lower-case canonical full_name -> slot
        self._by_id: dict[int, _RepoSlot] = {}
        self._renamed: dict[str, int] = {}  # lower-case old full_name -> repo id
        self._projects: dict[str, FakeProject] = {}  # normalized name -> project
        self._serials: dict[str, int] = {}  # normalized name -> last_serial
        self._seq = 0
        self._faults: list[_Fault] = []
        self._windows: dict[tuple[str, str], _Window] = {}
        self._blocked_until: dict[str, float] = {}  # host -> monotonic end of an announced retry-after
        self._requests: list[RequestRecord] = []

    # ------------------------------------------------------------------ content: GitHub
    def add_repo(self, repo: FakeRepo) -> FakeRepo:
        with self.lock:
            self._seq += 1
            slot = _RepoSlot(repo, self._seq)
            self._slots[repo.full_name.lower()] = slot
            self._by_id[repo.id] = slot
            self._renamed.pop(repo.full_name.lower(), None)
            if repo.pushed_at is None and repo.commits:
                repo.pushed_at = max(repo.commits)
            return repo

    def repo(self, full_name: str) -> FakeRepo:
        with self.lock:
            return self._slots[full_name.lower()].repo

    def repos(self) -> list[FakeRepo]:
        with self.lock:
            return [s.repo for s in self._slots.values()]

    def push(self, full_name: str, n_commits: int = 1, when: datetime | None = None) -> None:
        with self.lock:
            slot = self._slots[full_name.lower()]
            when = when or self.clock()
            # Distinct instants, so several commits of one push keep a stable newest-first order.
            slot.repo.commits.extend(when - timedelta(seconds=i) for i in reversed(range(n_commits)))
            slot.repo.pushed_at = max(slot.repo.pushed_at or when, when)
            # GitHub caches statistics by the default branch's SHA: a push makes them stale again.
            slot.stats_ready = False

    def rename(self, old_full_name: str, new_full_name: str) -> None:
        with self.lock:
            slot = self._slots.pop(old_full_name.lower())
            slot.repo.full_name = new_full_name
            self._slots[new_full_name.lower()] = slot
            self._renamed.pop(new_full_name.lower(), None)
            for old, rid in list(self._renamed.items()):  # earlier old names now lead to the new one
                if rid == slot.repo.id:
                    self._renamed[old] = rid
            self._renamed[old_full_name.lower()] = slot.repo.id

    def delete(self, full_name: str) -> None:
        with self.lock:
            slot = self._slots.pop(full_name.lower())
            slot.deleted = True
            self._by_id.pop(slot.repo.id, None)
            self._renamed = {k: v for k, v in self._renamed.items() if v != slot.repo.id}

    # Lookups used by the protocol code (caller holds the lock).
    def _slot_by_name(self, full_name: str) -> _RepoSlot | None:
        return self._slots.get(full_name.lower())

    def _slot_by_old_name(self, full_name: str) -> _RepoSlot | None:
        rid = self._renamed.get(full_name.lower())
        return self._by_id.get(rid) if rid is not None else None

    def _slot_by_id(self, repo_id: int) -> _RepoSlot | None:
        return self._by_id.get(repo_id)

    # ------------------------------------------------------------------ content: PyPI
    def add_project(self, project: FakeProject) -> FakeProject:
        with self.lock:
            key = normalize_project_name(project.name)
            self._projects[key] = project
            # A serial that is stable for a given name and grows on every change, like PyPI's.
            base = self._serials.get(key) or 10_000_000 + sum(map(ord, key)) * 997
            self._serials[key] = base + 1
            return project

    def project(self, name: str) -> FakeProject:
        with self.lock:
            return self._projects[normalize_project_name(name)]

    def remove_project(self, name: str) -> None:
        with self.lock:
            self._projects.pop(normalize_project_name(name))

    def _project(self, normalized: str) -> tuple[FakeProject, int] | None:
        project = self._projects.get(normalized)
        return (project, self._serials[normalized]) if project else None

    # ------------------------------------------------------------------ faults
    def inject(
        self, path_pattern: str, kind: str, times: int = 1, *, retry_after: float | None = None
    ) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        with self.lock:
            self._faults.append(_Fault(re.compile(path_pattern), kind, times, retry_after))

    def clear_faults(self) -> None:
        with self.lock:
            self._faults.clear()

    def _take_fault(self, path: str) -> _Fault | None:
        for fault in self._faults:
            if fault.remaining > 0 and fault.pattern.search(path):
                fault.remaining -= 1
                return fault
        return None

    # ------------------------------------------------------------------ quotas
    def set_limits(
        self,
        *,
        rest: int | None = None,
        graphql: int | None = None,
        anonymous: int | None = None,
        window: float | None = None,
    ) -> None:
        """Reconfigure quotas; every quota starts a fresh window."""
        with self.lock:
            self.rest_limit = rest if rest is not None else self.rest_limit
            self.graphql_limit = graphql if graphql is not None else self.graphql_limit
            self.anonymous_limit = anonymous if anonymous is not None else self.anonymous_limit
            self.window = window if window is not None else self.window
            self._windows.clear()
            self._blocked_until.clear()

    def _window_for(self, resource: str, key: str, wall: float) -> _Window:
        if resource == "graphql":
            limit = self.graphql_limit
        else:
            limit = self.anonymous_limit if key == "anonymous" else self.rest_limit
        win = self._windows.get((resource, key))
        if win is None or (win.reset and wall >= win.reset):
            # GitHub's windows are fixed: the first counted request after the reset instant starts
            # a new full window (it is not a sliding window).
            win = self._windows[(resource, key)] = _Window(limit)
        win.limit = limit
        return win

    def _charge(self, win: _Window, units: int, wall: float) -> None:
        if units and not win.reset:
            win.reset = math.ceil(wall + self.window)
        win.used += units

    def _rate_headers(
        self, win: _Window, resource: str, wall: float, arrived: float
    ) -> list[tuple[str, str]]:
        remaining = max(0, win.limit - win.used)
        if remaining == 0:
            # The client learns "remaining 0" when this answer reaches it.
            told = arrived + self.latency
            win.told_zero_at = told if win.told_zero_at is None else min(win.told_zero_at, told)
        reset = win.reset or math.ceil(wall + self.window)
        return [
            ("x-ratelimit-limit", str(win.limit)),
            ("x-ratelimit-remaining", str(remaining)),
            ("x-ratelimit-reset", str(reset)),
            ("x-ratelimit-used", str(win.used)),
            ("x-ratelimit-resource", resource),
        ]

    # ------------------------------------------------------------------ observation
    def _record(self, record: RequestRecord) -> None:
        self._requests.append(record)

    @property
    def requests(self) -> list[RequestRecord]:
        return self.log()

    @property
    def violations(self) -> list[RequestRecord]:
        with self.lock:
            return [r for r in self._requests if r.violation]

    def log(self) -> list[RequestRecord]:
        with self.lock:
            return list(self._requests)

    def count(self, *, api: str | None = None, endpoint: str | None = None, status: int | None = None) -> int:
        with self.lock:
            return sum(
                1
                for r in self._requests
                if (api is None or r.api == api)
                and (endpoint is None or r.endpoint == endpoint)
                and (status is None or r.status == status)
            )

    def units(self) -> int:
        with self.lock:
            return sum(r.units for r in self._requests if r.api in ("rest", "graphql"))

    def reset_log(self) -> None:
        with self.lock:
            self._requests.clear()

    def stats(self) -> dict[str, Any]:
        """Summary for ``GET /_fake/stats`` and for benchmark reports."""
        with self.lock:
            by: dict[str, dict[str, dict[str, int]]] = {}
            for r in self._requests:
                per_status = by.setdefault(r.api, {}).setdefault(r.endpoint, {})
                per_status[str(r.status)] = per_status.get(str(r.status), 0) + 1
            return {
                "requests": len(self._requests),
                "by_api": {api: sum(sum(s.values()) for s in eps.values()) for api, eps in by.items()},
                "by_endpoint": by,
                "units": self.units(),
                "units_by_api": {
                    api: sum(r.units for r in self._requests if r.api == api) for api in ("rest", "graphql")
                },
                "violations": sum(1 for r in self._requests if r.violation),
                "not_modified": sum(1 for r in self._requests if r.status == 304),
                "faults": sum(1 for r in self._requests if r.fault),
            }

    def push_fraction(self, fraction: float, seed: int = 1) -> list[str]:
        """Push one commit to ``fraction`` of the live repositories, chosen deterministically."""
        with self.lock:
            names = sorted((s.repo.id, s.repo.full_name) for s in self._slots.values())
            chosen = random.Random(seed).sample(names, round(len(names) * fraction))
            for _, name in chosen:
                self.push(name)
            return [name for _, name in sorted(chosen)]

    # ------------------------------------------------------------------ seeding
    @classmethod
    def from_dump(cls, dump: dict[str, Any], *, now: datetime | None = None, **kwargs: Any) -> FakeState:
        """A world consistent with a Django Packages v4 dump (see ``dump.py``)."""
        from .dump import populate  # local import: dump.py builds on this module

        state = cls(**kwargs)
        populate(state, dump, now=now)
        return state
