"""Passes over the due packages, and the loop that keeps refreshing what falls due."""

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pkgindex.config import Settings
from pkgindex.db import SessionFactory, unit_of_work
from pkgindex.ops.metrics import REFRESHED_PACKAGES
from pkgindex.refresh import state
from pkgindex.refresh.github import GitHub
from pkgindex.refresh.hosts import Job, Outcome, RepoHost, unsupported_reason
from pkgindex.refresh.pypi import PyPI
from pkgindex.refresh.upstream import Traffic

log = logging.getLogger(__name__)

BATCHES_IN_FLIGHT = 2  # fetch one batch while the previous one's results are written
RETRY_MARGIN = 0.1  # seconds past a retry's due time, so the claim surely finds it due


@dataclass
class Summary:
    outcomes: Counter[str] = field(default_factory=Counter)  # updated / unchanged / failed / skipped
    traffic: Traffic = field(default_factory=Traffic)
    seconds: float = 0.0

    @property
    def packages(self) -> int:
        return sum(self.outcomes.values())

    def lines(self, github: GitHub | None = None) -> list[str]:
        counts = ", ".join(
            f"{self.outcomes[kind]} {kind}" for kind in ("updated", "unchanged", "failed", "skipped")
        )
        lines = [f"Refreshed {self.packages} packages in {self.seconds:.1f} s: {counts}."]
        by_host: dict[str, Counter[int]] = {}
        for (host, status), n in sorted(self.traffic.requests.items()):
            by_host.setdefault(host, Counter())[status] += n
        for host, statuses in by_host.items():
            detail = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
            lines.append(f"Requests to {host}: {statuses.total()} ({detail})")
        lines.append(
            f"Not modified (304): {self.traffic.not_modified}; retries: {self.traffic.retries};"
            f" rate-limit answers: {self.traffic.rate_limited}"
        )
        units = self.traffic.units
        lines.append(
            f"GitHub quota spent: {units['core'] + units['graphql']} units"
            f" (REST {units['core']}, GraphQL {units['graphql']} points)"
        )
        if github is not None:
            for resource in ("core", "graphql"):
                quota = github.gate.quotas.get(resource)
                if quota is not None and quota.remaining is not None:
                    resets = (
                        datetime.fromtimestamp(quota.reset_at, UTC).strftime("%H:%M:%S UTC")
                        if quota.reset_at
                        else "?"
                    )
                    lines.append(
                        f"GitHub {resource} quota left: {quota.remaining} of {quota.limit} (resets {resets})"
                    )
            if github.gate.waited:
                lines.append(f"Held back by GitHub's limits: {github.gate.waited:.1f} s")
        return lines


Progress = Callable[[int], None]


class Refresher:
    """One worker. Several (processes or replicas) may run against one PostgreSQL."""

    def __init__(self, settings: Settings, factory: SessionFactory) -> None:
        self.settings = settings
        self.factory = factory
        self.owner = state.worker_name()
        self.summary = Summary()
        self.github = GitHub(settings, self.summary.traffic)
        self.pypi = PyPI(settings, self.summary.traffic)
        self.hosts: list[RepoHost] = [self.github]
        self._awaiting_retry: dict[int, str] = {}  # package id -> how its first fetch was counted

    async def aclose(self) -> None:
        await self.github.aclose()
        await self.pypi.aclose()

    async def make_due(self, *, every: bool = False, package_ids: Sequence[int] | None = None) -> int:
        async with unit_of_work(self.factory) as session:
            return await state.make_all_due(session, state.now_utc(), None if every else package_ids)

    async def count_due(self) -> int:
        async with unit_of_work(self.factory) as session:
            await state.ensure_rows(session, state.now_utc())
            return await state.count_due(session, state.now_utc())

    async def run_pass(
        self,
        *,
        only: Sequence[int] | None = None,
        progress: Progress | None = None,
        stop: asyncio.Event | None = None,
    ) -> Summary:
        """Refresh what is due now, until nothing is; returns the running totals of this worker.
        Once ``stop`` is set, no new batch is taken: the batches in flight finish, then the pass ends."""
        started = time.monotonic()
        running: set[asyncio.Task[None]] = set()
        self._retry_at: float | None = None
        try:
            while True:
                while len(running) >= BATCHES_IN_FLIGHT:
                    _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                if stop is not None and stop.is_set():
                    if running:
                        _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                        continue
                    break
                jobs = await state.claim(
                    self.factory,
                    self.owner,
                    self.settings.refresh_batch_size,
                    self.settings.refresh_lease_seconds,
                    only,
                )
                if jobs:
                    running.add(asyncio.create_task(self._batch(jobs, progress)))
                    continue
                if running:
                    _, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                if self._retry_at is None:
                    break
                # Some answers were still being computed upstream (202): wait for them, once.
                await asyncio.sleep(max(0.0, self._retry_at - time.monotonic()) + RETRY_MARGIN)
                self._retry_at = None
            for task in running:
                task.result()
        finally:
            for task in running:
                task.cancel()
            self.summary.seconds += time.monotonic() - started
        return self.summary

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Refresh what falls due until ``stop`` is set; leases are given back on the way out."""
        try:
            while not stop.is_set():
                try:
                    before = self.summary.packages
                    await self.run_pass(stop=stop)
                    if self.summary.packages > before:
                        log.info("refresh pass: %s", " ".join(self.summary.lines(self.github)[:1]))
                except Exception:  # a database outage must not end the loop
                    log.exception("refresh pass failed; retrying after the poll interval")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.refresh_poll_interval)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(state.release(self.factory, self.owner))

    async def _batch(self, jobs: list[Job], progress: Progress | None) -> None:
        renewal = asyncio.create_task(self._keep_leases([job.id for job in jobs]))
        try:
            repo_outcomes, pypi_outcomes = await asyncio.gather(self._repositories(jobs), self._pypi(jobs))
            for job in jobs:
                outcomes = [
                    o for o in (repo_outcomes.get(job.id), pypi_outcomes.get(job.id)) if o is not None
                ]
                await self._finish(job, outcomes or [Outcome(skipped="no repository or PyPI URL")])
                if progress:
                    progress(1)
        finally:
            renewal.cancel()

    async def _repositories(self, jobs: list[Job]) -> dict[int, Outcome]:
        outcomes: dict[int, Outcome] = {}
        assigned: dict[int, list[Job]] = {}
        for job in jobs:
            if not job.repo_url:
                continue
            host = next((i for i, host in enumerate(self.hosts) if host.handles(job.repo_url)), None)
            if host is None:
                outcomes[job.id] = Outcome(skipped=unsupported_reason(job.repo_url))
            else:
                assigned.setdefault(host, []).append(job)
        for answers in await asyncio.gather(*(self.hosts[i].refresh(group) for i, group in assigned.items())):
            outcomes.update(answers)
        return outcomes

    async def _pypi(self, jobs: list[Job]) -> dict[int, Outcome]:
        wanted = [job for job in jobs if job.pypi_url]
        answers = await asyncio.gather(*(self.pypi.refresh(job) for job in wanted))
        return {job.id: outcome for job, outcome in zip(wanted, answers, strict=True)}

    async def _finish(self, job: Job, outcomes: list[Outcome]) -> None:
        now = datetime.now(UTC)
        retry_soon = any(outcome.retry_soon for outcome in outcomes)
        delay = self.settings.activity_retry_delay if retry_soon else self.settings.refresh_interval
        changed = await state.finish(
            self.factory,
            self.owner,
            job,
            outcomes,
            next_due=now + timedelta(seconds=delay),
            error_backoff=self.settings.refresh_error_backoff,
            max_backoff=self.settings.refresh_max_backoff,
        )
        if retry_soon:
            due = time.monotonic() + delay
            self._retry_at = max(self._retry_at or 0.0, due)
        if any(outcome.error for outcome in outcomes):
            kind = "failed"
        elif all(outcome.skipped for outcome in outcomes):
            kind = "skipped"
        else:
            kind = "updated" if changed else "unchanged"
        # A package asked again after a 202 counts once: as updated if either fetch updated it.
        if (earlier := self._awaiting_retry.pop(job.id, None)) is not None:
            self.summary.outcomes[earlier] -= 1
            if earlier == "updated" and kind == "unchanged":
                kind = "updated"
        if retry_soon:
            self._awaiting_retry[job.id] = kind
        self.summary.outcomes[kind] += 1
        REFRESHED_PACKAGES.labels(kind).inc()

    async def _keep_leases(self, ids: list[int]) -> None:
        interval = self.settings.refresh_lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                await state.renew(self.factory, self.owner, ids, self.settings.refresh_lease_seconds)
            except Exception:  # the next renewal may succeed; a lost lease only means a second fetch
                log.exception("could not renew refresh leases")
