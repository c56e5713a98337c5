"""Per-host gates: every upstream request waits at its host's gate until it may be sent.

A gate bounds the requests in flight, keeps the quota the host reported (``x-ratelimit-*``) and
refuses to send a request the remaining quota cannot cover, holding it until the window resets. A
rate-limit answer pauses the whole host until the time it named. Units are reserved before a request
leaves, so concurrent requests cannot overspend what the last answer said was left.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pkgindex.ops.metrics import UPSTREAM_QUOTA_REMAINING

# x-ratelimit-reset is in whole seconds; wait a little past it so the new window has surely begun.
RESET_MARGIN = 1.0
# GitHub: a secondary limit without retry-after or reset means "wait at least one minute".
DEFAULT_PAUSE = 60.0


@dataclass
class Quota:
    """One rate-limited resource of a host (GitHub's ``core`` and ``graphql`` are separate)."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None  # epoch seconds
    reserved: int = 0  # units of requests in flight
    answered: bool = False  # an answer has come back: until then one request at a time finds the quota

    def available(self) -> int | None:
        return None if self.remaining is None else self.remaining - self.reserved


class HostGate:
    def __init__(
        self,
        name: str,
        concurrency: int,
        *,
        pace: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.pace = pace  # spread requests evenly over the window (for small anonymous quotas)
        self.clock = clock
        self.paused_until = 0.0
        self.quotas: dict[str, Quota] = {}
        self.waited = 0.0  # seconds spent held back by quota or pauses, for the summary
        self._slots = asyncio.Semaphore(concurrency)
        self._next_send = 0.0

    def quota(self, resource: str) -> Quota:
        return self.quotas.setdefault(resource, Quota())

    @asynccontextmanager
    async def slot(self, resource: str, cost: int = 1) -> AsyncIterator[None]:
        """Hold a concurrency slot and ``cost`` units of ``resource`` while the request is in flight."""
        async with self._slots:
            await self._wait_turn(resource, cost)
            quota = self.quota(resource)
            quota.reserved += cost
            try:
                yield
            finally:
                quota.reserved -= cost

    async def _wait_turn(self, resource: str, cost: int) -> None:
        quota = self.quota(resource)
        while True:
            now = self.clock()
            delay = 0.0
            if now < self.paused_until:
                delay = self.paused_until - now
            elif quota.reset_at is not None and now >= quota.reset_at + RESET_MARGIN:
                # The window has reset: the quota is whole again.
                quota.remaining, quota.reset_at = quota.limit, None
                continue
            elif not quota.answered and quota.reserved:
                # Nothing known of this quota yet: let the first answer tell what is left.
                delay = 0.05
            elif (available := quota.available()) is not None and available < cost:
                # Not enough left: wait for the reset, or, if it is unknown, for answers in flight.
                delay = quota.reset_at + RESET_MARGIN - now if quota.reset_at is not None else 0.05
            elif self.pace and now < self._next_send:
                delay = self._next_send - now
            if delay <= 0:
                break
            self.waited += delay
            await asyncio.sleep(delay)
        if self.pace and quota.reset_at is not None and (available := quota.available()):
            self._next_send = now + max(0.0, quota.reset_at - now) / available

    def observe(self, resource: str, headers: Mapping[str, str]) -> None:
        """Take the quota an answer reports. Answers can arrive out of order: within one window the
        smallest ``remaining`` seen is the truth."""
        self.quota(resource).answered = True
        try:
            limit = int(headers["x-ratelimit-limit"])
            remaining = int(headers["x-ratelimit-remaining"])
            reset_at = float(headers["x-ratelimit-reset"])
        except (KeyError, ValueError):
            return
        quota = self.quota(resource)
        if quota.reset_at is not None and reset_at < quota.reset_at:
            return  # a late answer from a window already over: it would bring back its old quota
        if quota.reset_at == reset_at and quota.remaining is not None:
            remaining = min(remaining, quota.remaining)
        quota.limit, quota.remaining, quota.reset_at = limit, remaining, reset_at
        UPSTREAM_QUOTA_REMAINING.labels(self.name, resource).set(remaining)

    def pause(self, resource: str, headers: Mapping[str, str]) -> float:
        """A rate-limit answer: hold every request to this host until the time it named."""
        now = self.clock()
        self.observe(resource, headers)
        quota = self.quota(resource)
        if (retry_after := _seconds(headers.get("retry-after"))) is not None:
            until = now + retry_after
        elif headers.get("x-ratelimit-remaining") == "0" and quota.reset_at is not None:
            quota.remaining = 0
            until = quota.reset_at + RESET_MARGIN
        else:
            until = now + DEFAULT_PAUSE
        self.paused_until = max(self.paused_until, until)
        return self.paused_until


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
