"""HostGate on a fake clock: quota bookkeeping, reservations and pauses, without waiting for real."""

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace

import pytest

from pkgindex.refresh import gate as gate_module
from pkgindex.refresh.gate import DEFAULT_PAUSE, RESET_MARGIN, HostGate

START = 1_800_000_000.0
RESET = START + 30  # the current window's x-ratelimit-reset


class Clock:
    """Epoch seconds that move only when the test says; the gate's sleeps wait for them."""

    def __init__(self) -> None:
        self.now = START
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, future))
        await future

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        for wake, future in list(self._sleepers):
            if wake <= self.now:
                self._sleepers.remove((wake, future))
                future.set_result(None)
        await settle()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(
        gate_module, "asyncio", SimpleNamespace(Semaphore=asyncio.Semaphore, sleep=clock.sleep)
    )
    return clock


def rate(remaining: int, reset: float = RESET, limit: int = 10) -> dict[str, str]:
    return {
        "x-ratelimit-limit": str(limit),
        "x-ratelimit-remaining": str(remaining),
        "x-ratelimit-reset": str(int(reset)),
    }


class Requests:
    """Requests through one gate, each held in flight until the test lets it finish."""

    def __init__(self, gate: HostGate, clock: Clock) -> None:
        self.gate = gate
        self.clock = clock
        self.sent: list[tuple[str, float]] = []  # (name, clock time it left the gate)
        self._done: dict[str, asyncio.Event] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, name: str, resource: str = "core", cost: int = 1) -> None:
        self._done[name] = asyncio.Event()

        async def run() -> None:
            async with self.gate.slot(resource, cost):
                self.sent.append((name, self.clock()))
                await self._done[name].wait()

        self._tasks.append(asyncio.create_task(run()))

    async def answer(self, name: str, headers: dict[str, str] | None = None, resource: str = "core") -> None:
        """The request's answer arrives: the gate reads it, as Upstream does after the slot is left."""
        self._done[name].set()
        await settle()
        self.gate.observe(resource, headers or {})

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.sent]

    def cancel(self) -> None:
        for task in self._tasks:
            task.cancel()


@pytest.fixture
async def requests(clock: Clock) -> AsyncIterator[Requests]:
    requests = Requests(HostGate("github", 8, clock=clock), clock)
    yield requests
    requests.cancel()
    await settle()


async def test_out_of_order_answers_within_a_window_keep_the_smallest_remaining(clock: Clock) -> None:
    gate = HostGate("github", 4, clock=clock)
    gate.observe("core", rate(5))
    gate.observe("core", rate(8))  # sent earlier, answered later
    assert gate.quota("core").remaining == 5
    gate.observe("core", rate(3))
    assert gate.quota("core").remaining == 3
    gate.observe("core", rate(9, reset=RESET + 60))  # a new window
    assert (gate.quota("core").remaining, gate.quota("core").reset_at) == (9, RESET + 60)


async def test_a_late_answer_from_an_earlier_window_is_ignored(clock: Clock) -> None:
    gate = HostGate("github", 4, clock=clock)
    gate.observe("core", rate(1, reset=RESET + 60))
    gate.observe("core", rate(7, reset=RESET))  # sent before the reset, answered after
    assert (gate.quota("core").remaining, gate.quota("core").reset_at) == (1, RESET + 60)


async def test_resources_are_counted_apart(clock: Clock) -> None:
    gate = HostGate("github", 4, clock=clock)
    gate.observe("core", rate(0))
    gate.observe("graphql", rate(4000, limit=5000))
    assert gate.quota("core").remaining == 0
    assert gate.quota("graphql").remaining == 4000


async def test_reservations_stop_concurrent_requests_from_overspending(
    clock: Clock, requests: Requests
) -> None:
    requests.gate.observe("core", rate(2))
    for name in "abc":
        requests.start(name)
    await settle()
    assert requests.names == ["a", "b"]  # two units left, two requests in flight: c waits

    await requests.answer("a", rate(1))
    await requests.answer("b", rate(0))
    await clock.advance(RESET + RESET_MARGIN - clock.now - 0.1)
    assert requests.names == ["a", "b"]  # nothing left until the window resets

    await clock.advance(0.2)
    assert requests.names == ["a", "b", "c"]
    assert requests.sent[-1][1] >= RESET + RESET_MARGIN
    assert requests.gate.quota("core").remaining == 10  # the whole new window


async def test_reservations_count_the_cost_of_each_request(clock: Clock, requests: Requests) -> None:
    requests.gate.observe("graphql", rate(3, limit=5000))
    requests.start("first", "graphql", cost=2)
    requests.start("second", "graphql", cost=2)
    requests.start("cheap", "graphql", cost=1)
    await settle()
    assert requests.names == ["first", "cheap"]  # 2 + 1 units fit in 3; a second 2 does not


async def test_one_request_finds_out_an_unknown_quota_before_others_follow(
    clock: Clock, requests: Requests
) -> None:
    for name in "abcd":
        requests.start(name)
    await settle()
    assert requests.names == ["a"]
    await requests.answer("a", rate(2))
    await clock.advance(0.1)  # the waiting requests look again
    assert requests.names == ["a", "b", "c"]


async def test_an_unknown_quota_without_rate_headers_is_not_held_back(
    clock: Clock, requests: Requests
) -> None:
    # PyPI sends no x-ratelimit-* headers: after its first answer, requests go as concurrency allows.
    for name in "abc":
        requests.start(name, "pypi")
    await settle()
    await requests.answer("a", {}, "pypi")
    await clock.advance(0.1)
    assert requests.names == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("headers", "until"),
    [
        ({"retry-after": "7"}, START + 7),
        ({"retry-after": "7", **rate(0)}, START + 7),  # retry-after is the host's own word
        (rate(0), RESET + RESET_MARGIN),
        ({"x-ratelimit-remaining": "0"}, START + DEFAULT_PAUSE),  # no reset named
        (rate(5), START + DEFAULT_PAUSE),
        ({}, START + DEFAULT_PAUSE),
        ({"retry-after": "soon"}, START + DEFAULT_PAUSE),
    ],
)
async def test_pause_until(clock: Clock, headers: dict[str, str], until: float) -> None:
    gate = HostGate("github", 4, clock=clock)
    assert gate.pause("core", headers) == until
    assert gate.paused_until == until


async def test_pause_holds_every_resource_of_the_host_until_the_time_named(
    clock: Clock, requests: Requests
) -> None:
    requests.gate.pause("core", {"retry-after": "5"})
    requests.start("rest", "core")
    requests.start("graphql", "graphql")
    await clock.advance(4.9)
    assert requests.names == []
    await clock.advance(0.2)
    assert sorted(requests.names) == ["graphql", "rest"]
    assert all(at >= START + 5 for _, at in requests.sent)


async def test_a_shorter_pause_does_not_cut_a_longer_one(clock: Clock) -> None:
    gate = HostGate("github", 4, clock=clock)
    gate.pause("core", {"retry-after": "30"})
    assert gate.pause("core", {"retry-after": "1"}) == START + 30
