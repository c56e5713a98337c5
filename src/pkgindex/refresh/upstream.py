"""One upstream exchange: gate, send, follow redirects, classify the answer, retry transient faults.

Callers get back a response whose status they asked to handle, or an exception:
- ``UpstreamError`` after the retries of a transient fault (timeout, broken connection, 5xx, a body
  that does not parse) ran out, or for an answer nobody expected;
- rate-limit answers never reach callers: the host is paused and the request sent again afterwards.
"""

import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urljoin, urlsplit

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from pkgindex import __version__
from pkgindex.ops.metrics import UPSTREAM_REQUESTS
from pkgindex.refresh.gate import HostGate

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_AGENT = f"pkgindex/{__version__} (+https://github.com/pkgindex/pkgindex)"
MAX_REDIRECTS = 3


class UpstreamError(Exception):
    """A fetch that failed for good; its message is recorded on the package."""


class Transient(UpstreamError):
    """A fault worth retrying."""


@dataclass
class Traffic:
    """What a run sent upstream, for the summary and the metrics."""

    requests: Counter[tuple[str, int]] = field(default_factory=Counter)  # (host, status) -> count
    not_modified: int = 0
    units: Counter[str] = field(default_factory=Counter)  # quota resource -> units spent
    retries: int = 0
    rate_limited: int = 0


class Upstream:
    """An httpx client bound to one host's gate. ``resource`` names the quota a request spends."""

    def __init__(
        self,
        gate: HostGate,
        traffic: Traffic,
        *,
        timeout: float,
        retries: int,
        backoff: float,
        headers: Mapping[str, str] | None = None,
        is_rate_limited: Callable[[httpx.Response], bool] = lambda response: response.status_code == 429,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.gate = gate
        self.traffic = traffic
        self.retries = retries
        self.backoff = backoff
        self.is_rate_limited = is_rate_limited
        self.client = client or httpx.AsyncClient(
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, **(headers or {})},
            follow_redirects=False,  # by hand, so every hop passes the gate
        )

    async def aclose(self) -> None:
        await self.client.aclose()

    async def fetch(
        self,
        method: str,
        url: str,
        read: Callable[[httpx.Response], T],
        *,
        resource: str,
        cost: int = 1,
        etag: str | None = None,
        json: Any = None,
        charge: Callable[[httpx.Response], int] | None = None,
    ) -> T:
        """Send until an answer ``read`` accepts; ``read`` raises ``Transient`` for a malformed body."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Transient),
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_random_exponential(multiplier=self.backoff, max=60),
            before_sleep=self._count_retry,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                response = await self._send(method, url, resource, cost, etag, json, charge)
                return read(response)
        raise AssertionError("unreachable: tenacity re-raises the last error")

    def _count_retry(self, _state: object) -> None:
        self.traffic.retries += 1

    async def _send(
        self,
        method: str,
        url: str,
        resource: str,
        cost: int,
        etag: str | None,
        json: Any,
        charge: Callable[[httpx.Response], int] | None,
    ) -> httpx.Response:
        hops = 0
        while True:
            headers = {"If-None-Match": etag} if etag else {}
            async with self.gate.slot(resource, cost):
                try:
                    response = await self.client.request(method, url, headers=headers, json=json)
                    await response.aread()
                except httpx.TimeoutException as exc:
                    raise Transient(f"{self.gate.name}: timed out ({url})") from exc
                except httpx.TransportError as exc:
                    raise Transient(f"{self.gate.name}: {type(exc).__name__} ({url})") from exc
            self._account(response, resource, charge)
            if self.is_rate_limited(response):
                self.traffic.rate_limited += 1
                until = self.gate.pause(resource, response.headers)
                log.warning("%s rate limit: paused until %.0f", self.gate.name, until)
                continue
            self.gate.observe(resource, response.headers)
            if response.status_code >= 500:
                raise Transient(f"{self.gate.name}: HTTP {response.status_code} ({url})")
            if response.status_code in (301, 302, 307, 308) and hops < MAX_REDIRECTS:
                url = self._redirect_target(url, response)
                hops += 1
                continue
            return response

    def _redirect_target(self, url: str, response: httpx.Response) -> str:
        target = urljoin(url, str(response.headers.get("location", "")))
        # Never carry credentials to another origin.
        if urlsplit(target)[:2] != urlsplit(url)[:2]:
            raise UpstreamError(f"{self.gate.name}: redirect to another host ({target})")
        return target

    def _account(
        self, response: httpx.Response, resource: str, charge: Callable[[httpx.Response], int] | None
    ) -> None:
        self.traffic.requests[(self.gate.name, response.status_code)] += 1
        UPSTREAM_REQUESTS.labels(self.gate.name, str(response.status_code)).inc()
        if response.status_code == 304:
            self.traffic.not_modified += 1
        self.traffic.units[resource] += charge(response) if charge else 0
