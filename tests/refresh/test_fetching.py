"""What the refresher fetches from GitHub and PyPI, and how it spends GitHub's quota.

Each test builds a small upstream world in the fake, runs refresher passes as `pkgindex refresh` does,
and reads the results through the HTTP API (v4 package, refresh state) and the fake's request log.
"""

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, select

from pkgindex.db import unit_of_work
from pkgindex.models import Package
from pkgindex.services import tokens
from pkgindex.services.tokens import Scope
from tests.fakeupstream import FakeProject, FakeRepo, RequestRecord
from tests.fakeupstream import app as fake_app
from tests.fakeupstream.github import commit_activity
from tests.fakeupstream.protocol import Incoming, Reply
from tests.fakeupstream.state import FakeState
from tests.refresh.conftest import TOKEN, World, commits

GH = "https://github.com"
V4_FIELDS = {
    "category",
    "grids",
    "id",
    "title",
    "slug",
    "last_updated",
    "last_fetched",
    "repo_url",
    "pypi_version",
    "created",
    "modified",
    "repo_forks",
    "repo_description",
    "pypi_url",
    "documentation_url",
    "repo_watchers",
    "commits_over_52",
    "participants",
}


# ---------------------------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Seen:
    """One request as the fake received it: what the request log does not keep (its headers)."""

    path: str
    query: str
    authorization: str | None
    if_none_match: str | None
    status: int


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[Seen]:
    """Every request's headers, recorded by wrapping the fake's decision step."""
    records: list[Seen] = []
    decide = fake_app.decide

    def recording(state: FakeState, req: Incoming) -> Reply:
        reply = decide(state, req)
        with state.lock:
            records.append(
                Seen(
                    req.path,
                    req.query,
                    req.headers.get("authorization"),
                    req.headers.get("if-none-match"),
                    reply.status,
                )
            )
        return reply

    monkeypatch.setattr(fake_app, "decide", recording)
    return records


def weeks_of(repo: FakeRepo) -> list[int]:
    """The 52 weekly counts GitHub itself reports (the fake's commit activity): the oracle."""
    return [week["total"] for week in commit_activity(repo, datetime.now(UTC))]


def moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def whole_seconds(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(microsecond=0)


def since(log: list[RequestRecord], mark: int) -> list[RequestRecord]:
    return log[mark:]


def of(records: list[RequestRecord], *, api: str | None = None, endpoint: str | None = None) -> list[Any]:
    return [
        r for r in records if (api is None or r.api == api) and (endpoint is None or r.endpoint == endpoint)
    ]


def busy_commits(n: int = 150) -> list[datetime]:
    """More than 100 commits in the last year: GraphQL's page cannot hold them, REST stats are asked."""
    return commits(*(0.4 + i * 1.9 for i in range(n)))


async def packages(world: World, ids: list[int]) -> list[dict[str, Any]]:
    """The v4 representations of many packages, through one client."""
    async with world.client() as client:
        answers = [await client.get(f"/api/v4/packages/{pid}/") for pid in ids]
    assert all(answer.status_code == 200 for answer in answers)
    return [dict(answer.json()) for answer in answers]


async def add_github_packages(world: World, names: list[str]) -> list[int]:
    """Packages for GitHub repositories ``owner/name``, in one transaction (as an import leaves them)."""
    first = await world.add_package(names[0].replace("/", "-"), repo_url=f"{GH}/{names[0]}")
    async with unit_of_work(world.factory) as session:
        category = await session.scalar(select(Package.category_id).where(Package.id == first))
        stamp = datetime.now(UTC) - timedelta(days=400)
        rows = [
            {
                "category_id": category,
                "title": name,
                "slug": name.replace("/", "-"),
                "repo_url": f"{GH}/{name}",
                "pypi_url": "",
                "repo_watchers": 0,
                "repo_forks": 0,
                "repo_description": "",
                "commits_over_52": [0] * 52,
                "participants": [],
                "created": stamp,
                "modified": stamp,
            }
            for name in names[1:]
        ]
        await session.execute(insert(Package), rows)
        by_slug = {slug: pid for slug, pid in await session.execute(select(Package.slug, Package.id))}
    return [by_slug[name.replace("/", "-")] for name in names]


async def write_token(world: World) -> str:
    async with unit_of_work(world.factory) as session:
        return (await tokens.create_token(session, "editor", Scope.WRITE))[1]


# ------------------------------------------------------------------------------------ GitHub: the fields
async def test_core_fields_participants_and_weekly_counts(world: World) -> None:
    widgets = world.github(
        "acme/widgets",
        description="Widgets for Django",
        stars=321,
        forks=45,
        contributors=["alice", "bob", "carol"],
        commits=commits(0.5, 3, 3.2, 10, 40, 41, 200, 300, 400, 800),
    )
    world.github(
        "acme/plain",
        description=None,
        stars=2,
        forks=1,
        archived=True,
        contributors=["zed"],
        commits=commits(30, 31),
    )
    crowd = [f"user{i:03d}" for i in range(230)]
    world.github("acme/crowd", stars=5, contributors=crowd, commits=commits(2))
    pid = await world.add_package("widgets", repo_url=f"{GH}/acme/widgets")
    plain = await world.add_package(
        "plain", repo_url=f"{GH}/acme/plain.git", repo_description="old text", repo_watchers=99
    )
    crowded = await world.add_package("crowd", repo_url=f"{GH}/acme/crowd/")

    summary = await world.refresh()

    assert summary.outcomes["updated"] == 3, summary.lines()
    package = await world.package(pid)
    assert (package["repo_watchers"], package["repo_forks"]) == (321, 45)
    assert package["repo_description"] == "Widgets for Django"
    assert package["participants"] == ["alice", "bob", "carol"]
    counts = package["commits_over_52"]
    assert len(counts) == 52
    assert counts != counts[::-1]  # the data tells oldest-first from newest-first
    assert counts == weeks_of(widgets)
    assert sum(counts) == 8  # 400 and 800 days ago are older than 52 weeks
    assert moment(package["last_updated"]) == whole_seconds(max(widgets.commits))
    assert moment(package["last_fetched"]) is not None

    other = await world.package(plain)
    assert (other["repo_watchers"], other["repo_forks"], other["repo_description"]) == (2, 1, "")
    assert (await world.refresh_state(plain))["repo_archived"] is True
    assert (await world.refresh_state(pid))["repo_archived"] is False
    # Contributors are paged (100 a page); every login arrives, most active first.
    assert (await world.package(crowded))["participants"] == crowd

    # With a token: one GraphQL query for the core fields and the weeks; REST only for contributors.
    assert world.state.count(api="graphql") == 1
    assert world.state.count(api="rest", endpoint="repo") == 0
    assert world.state.count(api="rest", endpoint="commits") == 0
    assert world.state.count(api="rest", endpoint="commit_activity") == 0
    assert world.state.count(api="rest", endpoint="contributors") == 1 + 1 + 3
    assert not world.state.violations


async def test_busy_repository_weeks_come_from_rest_statistics(world: World) -> None:
    busy = world.github("acme/busy", stars=7, contributors=["ann"], commits=busy_commits())
    quiet = world.github("acme/quiet", stars=8, contributors=["bo"], commits=commits(1, 15, 100))
    busy_id = await world.add_package("busy", repo_url=f"{GH}/acme/busy")
    quiet_id = await world.add_package("quiet", repo_url=f"{GH}/acme/quiet")

    await world.refresh()

    assert (await world.package(busy_id))["commits_over_52"] == weeks_of(busy)
    assert (await world.package(quiet_id))["commits_over_52"] == weeks_of(quiet)
    activity = of(world.state.log(), endpoint="commit_activity")
    assert activity, "a repository with more than 100 commits in the year needs GitHub's statistics"
    assert {r.path for r in activity} == {"/github/repos/acme/busy/stats/commit_activity"}
    assert moment((await world.package(busy_id))["last_updated"]) == whole_seconds(max(busy.commits))


async def test_commit_activity_not_ready_keeps_counts_and_asks_again_after_the_delay(world: World) -> None:
    busy = world.github("acme/busy", contributors=["ann"], commits=busy_commits())
    stored = [1] * 52
    pid = await world.add_package("busy", repo_url=f"{GH}/acme/busy", commits_over_52=stored)
    delay = 1.5

    started = time.monotonic()
    running = asyncio.create_task(world.refresh(activity_retry_delay=delay))
    pending: dict[str, Any] = {}
    while not running.done() and time.monotonic() - started < 10:
        await asyncio.sleep(0.05)
        state = await world.refresh_state(pid)
        if state["activity_pending"]:
            pending = state
            package_meanwhile = await world.package(pid)
            break
    assert pending, "the refresh state never showed the weekly counts as pending"
    assert package_meanwhile["commits_over_52"] == stored  # GitHub's 202: the stored counts stay
    assert package_meanwhile["repo_watchers"] == busy.stars
    assert pending["error_count"] == 0
    assert pending["last_error"] is None

    await running
    package = await world.package(pid)
    assert package["commits_over_52"] == weeks_of(busy)
    assert (await world.refresh_state(pid))["activity_pending"] is False
    asks = of(world.state.log(), endpoint="commit_activity")
    assert [r.status for r in asks] == [202, 200]
    assert asks[1].at - asks[0].at >= delay
    assert time.monotonic() - started < delay + 5


# ------------------------------------------------------------------------------- batching and the quota
async def test_one_graphql_query_per_hundred_packages(world: World) -> None:
    names = [f"org{i % 7}/lib-{i}" for i in range(101)]
    for i, name in enumerate(names):
        world.github(name, stars=i, forks=i % 5, contributors=[f"dev{i}"], commits=commits(i % 60 + 1))
    ids = await add_github_packages(world, names)

    summary = await world.refresh()

    assert summary.outcomes["updated"] == 101, summary.lines()
    assert world.state.count(api="graphql") == 2
    assert world.state.count(api="rest", endpoint="repo") == 0
    # Contributors once each, the first time; the weeks come with the GraphQL query.
    assert world.state.count(api="rest", endpoint="contributors") == 101
    assert world.state.count(api="rest", endpoint="commit_activity") == 0
    graphql_points = sum(r.units for r in of(world.state.log(), api="graphql"))
    assert graphql_points == 3  # 100 repositories cost 2 points, the 101st 1
    assert world.state.units() == 3 + 101
    for i, package in zip(
        (0, 50, 99, 100), await packages(world, [ids[i] for i in (0, 50, 99, 100)]), strict=True
    ):
        assert (package["repo_watchers"], package["participants"]) == (i, [f"dev{i}"])

    mark = len(world.state.log())
    again = await world.refresh(every=True)
    second = since(world.state.log(), mark)
    assert again.outcomes["unchanged"] == 101, again.lines()
    assert [r.api for r in second] == ["graphql", "graphql"]
    assert sum(r.units for r in second) == 3


async def test_second_pass_with_nothing_changed_costs_almost_nothing(world: World, seen: list[Seen]) -> None:
    ids = []
    for i in range(30):
        commits_of = busy_commits() if i == 0 else commits(i + 1, 2 * i + 3)
        world.github(f"acme/pkg{i}", stars=10 + i, contributors=[f"a{i}", f"b{i}"], commits=commits_of)
        world.pypi(f"pkg{i}", "1.0", f"1.{i}")
        ids.append(
            await world.add_package(
                f"pkg{i}", repo_url=f"{GH}/acme/pkg{i}", pypi_url=f"https://pypi.org/project/pkg{i}/"
            )
        )
    await world.refresh()
    before = await packages(world, ids)
    assert all(p["last_fetched"] and p["participants"] for p in before)
    mark, seen_mark = len(world.state.log()), len(seen)

    summary = await world.refresh(every=True)

    second = since(world.state.log(), mark)
    assert summary.outcomes["unchanged"] == 30, summary.lines()
    assert of(second, api="rest") == [], [r.path for r in of(second, api="rest")]
    assert len(of(second, api="graphql")) == 1
    pypi = of(second, api="pypi")
    assert len(pypi) == 30
    assert {r.status for r in pypi} == {304}
    assert all(s.if_none_match for s in seen[seen_mark:] if s.path.startswith("/pypi/"))
    units = sum(r.units for r in second if r.api in ("rest", "graphql"))
    assert units / 30 <= 0.05
    after = await packages(world, ids)
    for old, new in zip(before, after, strict=True):
        # Nothing changed upstream: the representation is the same but for the fetch time.
        assert {**new, "last_fetched": None} == {**old, "last_fetched": None}
        assert moment(new["last_fetched"]) > moment(old["last_fetched"])  # type: ignore[operator]


async def test_after_a_push_only_that_repository_is_fetched_again(world: World) -> None:
    repos = {
        name: world.github(f"acme/{name}", stars=3, contributors=["ann", "bob"], commits=commits(5, 9))
        for name in ("one", "two", "three")
    }
    ids = {name: await world.add_package(name, repo_url=f"{GH}/acme/{name}") for name in repos}
    await world.refresh()
    before = await world.package(ids["two"])

    repos["two"].contributors.append("newcomer")
    world.state.push("acme/two", n_commits=2)
    mark = len(world.state.log())
    await world.refresh(every=True)

    second = since(world.state.log(), mark)
    assert [r.path for r in of(second, api="rest")] == ["/github/repos/acme/two/contributors"]
    assert of(second, endpoint="contributors")[0].status == 200
    package = await world.package(ids["two"])
    assert package["participants"] == ["ann", "bob", "newcomer"]
    assert sum(package["commits_over_52"]) == sum(before["commits_over_52"]) + 2
    assert package["commits_over_52"] == weeks_of(repos["two"])
    assert (await world.package(ids["one"]))["participants"] == ["ann", "bob"]


async def test_a_repository_without_linked_contributors_is_not_asked_again(world: World) -> None:
    # Commits by people without GitHub accounts: GitHub lists no contributor. That empty list is an
    # answer like any other, not "missing": it is asked for again only after a push.
    repo = world.github("acme/nobody", stars=1, contributors=[], commits=commits(3, 20))
    pid = await world.add_package("nobody", repo_url=f"{GH}/acme/nobody")
    await world.refresh()
    assert world.state.count(endpoint="contributors") == 1
    assert (await world.package(pid))["participants"] == []

    await world.refresh(every=True)
    assert world.state.count(endpoint="contributors") == 1

    repo.contributors.append("late")
    world.state.push("acme/nobody")
    await world.refresh(every=True)
    assert world.state.count(endpoint="contributors") == 2
    assert (await world.package(pid))["participants"] == ["late"]


async def test_an_empty_repository_is_not_asked_for_contributors_again(world: World) -> None:
    # No commits: GitHub has no push date for it. That must not read as "pushed since the last fetch".
    world.github("acme/empty", stars=2)
    pid = await world.add_package("empty", repo_url=f"{GH}/acme/empty")
    await world.refresh()
    assert world.state.count(endpoint="contributors") == 1
    await world.refresh(every=True)
    assert world.state.count(endpoint="contributors") == 1
    package = await world.package(pid)
    assert (package["participants"], package["commits_over_52"]) == ([], [0] * 52)


async def test_contributors_older_than_the_maximum_age_are_fetched_again(
    world: World, seen: list[Seen]
) -> None:
    for name in ("one", "two"):
        world.github(f"acme/{name}", contributors=["ann", "bob"], commits=commits(5))
        await world.add_package(name, repo_url=f"{GH}/acme/{name}")
    await world.refresh()
    assert world.state.count(endpoint="contributors") == 2

    # Young enough: not asked again.
    await world.refresh(every=True, github_stats_max_age=3600)
    assert world.state.count(endpoint="contributors") == 2

    await asyncio.sleep(0.6)
    mark, seen_mark = len(world.state.log()), len(seen)
    await world.refresh(every=True, github_stats_max_age=0.5)
    asked = of(since(world.state.log(), mark), endpoint="contributors")
    assert len(asked) == 2
    # Asked conditionally with the stored ETag: unchanged upstream, 304, free with a token.
    assert {r.status for r in asked} == {304}
    assert sum(r.units for r in asked) == 0
    conditional = [s for s in seen[seen_mark:] if s.path.endswith("/contributors")]
    assert len(conditional) == 2
    assert all(s.if_none_match for s in conditional)

    # The 304 counts as a fresh fetch: with a long maximum age again, nothing is asked.
    mark = len(world.state.log())
    await world.refresh(every=True, github_stats_max_age=60)
    assert of(since(world.state.log(), mark), endpoint="contributors") == []


async def test_etags_belong_to_the_token_that_got_them(world: World, seen: list[Seen]) -> None:
    world.github("acme/app", contributors=["ann", "bob"], commits=commits(5))
    world.pypi("acme-app", "2.0")
    pid = await world.add_package(
        "app", repo_url=f"{GH}/acme/app", pypi_url="https://pypi.org/project/acme-app/"
    )
    await world.refresh()
    first = [s for s in seen if s.path.endswith("/contributors")]
    assert len(first) == 1
    assert first[0].if_none_match is None
    assert first[0].authorization == f"Bearer {TOKEN}"

    other = "ghp_other_token_0002"
    world.state.push("acme/app")
    mark = len(seen)
    await world.refresh(every=True, github_token=other)
    switched = seen[mark:]
    contributors = [s for s in switched if s.path.endswith("/contributors")]
    assert len(contributors) == 1
    assert contributors[0].authorization == f"Bearer {other}"
    assert contributors[0].if_none_match is None  # the old token's ETag is not sent with the new token
    assert contributors[0].status == 200
    # PyPI's ETags belong to no token: still sent.
    assert [(s.if_none_match is not None, s.status) for s in switched if s.path.startswith("/pypi/")] == [
        (True, 304)
    ]

    # GitHub's push times have whole seconds: a later second, so the push is surely seen.
    world.state.push("acme/app", when=datetime.now(UTC) + timedelta(seconds=2))
    mark = len(seen)
    await world.refresh(every=True, github_token=other)
    contributors = [s for s in seen[mark:] if s.path.endswith("/contributors")]
    assert len(contributors) == 1
    assert contributors[0].if_none_match is not None  # the new token's own ETag
    assert contributors[0].status == 304
    assert (await world.package(pid))["participants"] == ["ann", "bob"]


async def test_without_a_token_rest_only_and_conditional(world: World, seen: list[Seen]) -> None:
    # The anonymous quota is paced over its window: a short window keeps the test fast.
    world.state.set_limits(anonymous=2000, window=4)
    repo = world.github("acme/anon", description="Anonymous", stars=11, forks=2, contributors=["x", "y"])
    repo.commits = busy_commits(20)
    repo.pushed_at = max(repo.commits)
    pid = await world.add_package("anon", repo_url=f"{GH}/acme/anon")

    await world.refresh(github_token=None)

    log = world.state.log()
    assert world.state.count(api="graphql") == 0
    assert not any(r.authorized for r in log)
    assert {r.endpoint for r in log} == {"repo", "commits", "contributors", "commit_activity"}
    assert [r.query for r in of(log, endpoint="commits")] == ["per_page=1"]
    package = await world.package(pid)
    assert (package["repo_watchers"], package["repo_forks"], package["repo_description"]) == (
        11,
        2,
        "Anonymous",
    )
    assert package["participants"] == ["x", "y"]
    assert package["commits_over_52"] == weeks_of(repo)
    assert moment(package["last_updated"]) == whole_seconds(max(repo.commits))
    assert package["last_fetched"] is not None

    # Nothing changed: one conditional request, answered 304, which costs a unit without a token.
    mark, seen_mark = len(log), len(seen)
    await world.refresh(every=True, github_token=None)
    second = since(world.state.log(), mark)
    assert [(r.endpoint, r.status, r.units) for r in second] == [("repo", 304, 1)]
    assert all(s.if_none_match and s.authorization is None for s in seen[seen_mark:])
    assert world.state.count(api="graphql") == 0

    # A push: the repository and its last commit change; the contributors do not (304, still a unit).
    world.state.push("acme/anon")
    mark, seen_mark = len(world.state.log()), len(seen)
    await world.refresh(every=True, github_token=None)
    third = since(world.state.log(), mark)
    # The push also made GitHub's statistics stale (202): asked again shortly, in the same pass.
    assert [(r.endpoint, r.status, r.units) for r in third] == [
        ("repo", 200, 1),
        ("commits", 200, 1),
        ("contributors", 304, 1),
        ("commit_activity", 202, 1),
        ("repo", 304, 1),
        ("commit_activity", 200, 1),
    ]
    assert all(s.if_none_match for s in seen[seen_mark:] if not s.path.endswith("/commits"))
    package = await world.package(pid)
    assert moment(package["last_updated"]) == whole_seconds(max(repo.commits))
    assert package["commits_over_52"] == weeks_of(repo)
    assert world.state.count(api="graphql") == 0
    assert not world.state.violations


# ------------------------------------------------------------------------------------------------- PyPI
async def test_pypi_version_is_the_latest_non_yanked_final_release(world: World) -> None:
    world.state.add_project(
        FakeProject(name="Django-Tool", releases={"1.9": False, "2.0": False, "2.1": True, "3.0b1": False})
    )
    pid = await world.add_package(
        "tool", pypi_url="https://pypi.org/project/Django-Tool/", pypi_version="1.0"
    )
    await world.refresh()
    assert (await world.package(pid))["pypi_version"] == "2.0"

    # A new final release replaces it.
    world.state.add_project(
        FakeProject(
            name="Django-Tool",
            releases={"1.9": False, "2.0": False, "2.1": True, "3.0b1": False, "2.2": False},
        )
    )
    await world.refresh(every=True)
    assert (await world.package(pid))["pypi_version"] == "2.2"


async def test_documentation_url_from_pypi_only_where_no_person_set_one(world: World) -> None:
    for name in ("alpha", "beta", "gamma"):
        world.pypi(name, "1.0", project_urls={"Documentation": f"https://docs.example/{name}/v1/"})
    alpha = await world.add_package("alpha", pypi_url="https://pypi.org/project/alpha/")
    beta = await world.add_package(
        "beta", pypi_url="https://pypi.org/project/beta/", documentation_url="https://beta.person/"
    )
    gamma = await world.add_package("gamma", pypi_url="https://pypi.org/project/gamma/")
    await world.refresh()
    assert (await world.package(alpha))["documentation_url"] == "https://docs.example/alpha/v1/"
    assert (await world.package(beta))["documentation_url"] == "https://beta.person/"
    assert (await world.package(gamma))["documentation_url"] == "https://docs.example/gamma/v1/"

    # A person replaces gamma's PyPI link through the API.
    token = await write_token(world)
    async with world.client() as client:
        response = await client.patch(
            f"/api/v4/packages/{gamma}/",
            json={"documentation_url": "https://gamma.person/"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text

    for name in ("alpha", "beta", "gamma"):
        world.state.project(name).project_urls = {"Documentation": f"https://docs.example/{name}/v2/"}
    await world.refresh(every=True)
    assert (await world.package(alpha))["documentation_url"] == "https://docs.example/alpha/v2/"
    assert (await world.package(beta))["documentation_url"] == "https://beta.person/"
    assert (await world.package(gamma))["documentation_url"] == "https://gamma.person/"
    assert world.state.count(api="pypi", status=200) == 6  # every project changed: no 304


async def test_missing_pypi_project_keeps_the_version_and_is_recorded(world: World) -> None:
    world.github("acme/gone", stars=4, contributors=["ann"], commits=commits(3))
    pid = await world.add_package(
        "gone",
        repo_url=f"{GH}/acme/gone",
        pypi_url="https://pypi.org/project/gone-from-pypi/",
        pypi_version="0.9",
    )
    summary = await world.refresh()
    assert summary.outcomes["failed"] == 1
    package = await world.package(pid)
    assert package["pypi_version"] == "0.9"
    assert package["repo_watchers"] == 4  # what did arrive is kept
    assert package["last_fetched"] is None  # but the fetch did not succeed
    state = await world.refresh_state(pid)
    assert state["pypi_missing"] is True
    assert state["repo_missing"] is False
    assert state["error_count"] == 1
    assert "gone-from-pypi" in state["last_error"]
    assert state["last_success"] is None

    world.pypi("gone-from-pypi", "1.1")
    await world.refresh(every=True)
    package = await world.package(pid)
    assert package["pypi_version"] == "1.1"
    assert package["last_fetched"] is not None
    state = await world.refresh_state(pid)
    assert (state["pypi_missing"], state["error_count"]) == (False, 0)


# ------------------------------------------------------------------------------- renamed, deleted, hosts
async def test_renamed_repository_is_followed_and_recorded(world: World) -> None:
    repo = world.github("oldowner/thing", stars=10, contributors=["ann"], commits=commits(4))
    pid = await world.add_package("thing", repo_url=f"{GH}/oldowner/thing")
    await world.refresh()
    assert (await world.refresh_state(pid))["repo_moved_to"] is None

    world.state.rename("oldowner/thing", "newowner/thing-ng")
    repo.stars = 12
    repo.contributors.append("bob")
    world.state.push("newowner/thing-ng")
    summary = await world.refresh(every=True)

    assert summary.outcomes["updated"] == 1, summary.lines()
    package = await world.package(pid)
    assert package["repo_watchers"] == 12
    assert package["participants"] == ["ann", "bob"]
    assert package["repo_url"] == f"{GH}/oldowner/thing"  # a person's field: not rewritten
    state = await world.refresh_state(pid)
    assert state["repo_moved_to"] == f"{GH}/newowner/thing-ng"
    assert (state["repo_missing"], state["error_count"]) == (False, 0)


async def test_renamed_repository_without_a_token(world: World) -> None:
    world.state.set_limits(anonymous=2000, window=4)
    world.github("oldowner/thing", stars=10, contributors=["ann"], commits=commits(4))
    world.state.rename("oldowner/thing", "newowner/thing")
    pid = await world.add_package("thing", repo_url=f"{GH}/oldowner/thing")
    await world.refresh(github_token=None)
    package = await world.package(pid)
    assert (package["repo_watchers"], package["participants"]) == (10, ["ann"])
    assert package["last_fetched"] is not None
    assert (await world.refresh_state(pid))["repo_moved_to"] == f"{GH}/newowner/thing"


async def test_deleted_repository_keeps_its_stats_and_is_recorded(world: World) -> None:
    world.github(
        "acme/doomed", description="Soon gone", stars=50, forks=5, contributors=["ann"], commits=commits(2, 9)
    )
    world.pypi("doomed", "1.0")
    pid = await world.add_package(
        "doomed", repo_url=f"{GH}/acme/doomed", pypi_url="https://pypi.org/project/doomed/"
    )
    await world.refresh()
    before = await world.package(pid)
    assert before["repo_watchers"] == 50
    assert before["last_fetched"] is not None

    world.state.delete("acme/doomed")
    summary = await world.refresh(every=True)

    assert summary.outcomes["failed"] == 1
    assert await world.package(pid) == before  # every stat, and last_fetched, as they were
    state = await world.refresh_state(pid)
    assert state["repo_missing"] is True
    assert "acme/doomed" in state["last_error"]
    assert "not found" in state["last_error"]
    assert state["error_count"] == 1


@pytest.mark.parametrize(
    ("repo_url", "host"),
    [
        ("https://gitlab.com/group/project", "gitlab.com"),
        ("https://bitbucket.org/team/project", "bitbucket.org"),
        ("https://codeberg.org/someone/project", "codeberg.org"),
    ],
)
async def test_hosts_without_an_adapter_are_skipped_not_failed(
    world: World, repo_url: str, host: str
) -> None:
    world.pypi("elsewhere", "3.1")
    world.github("group/project", stars=1, contributors=["ann"], commits=commits(1))  # same name on GitHub
    pid = await world.add_package(
        "elsewhere", repo_url=repo_url, pypi_url="https://pypi.org/project/elsewhere/", repo_watchers=77
    )
    only_repo = await world.add_package("only-repo", repo_url=f"{repo_url}-two")

    summary = await world.refresh()

    assert summary.outcomes["failed"] == 0, summary.lines()
    assert summary.outcomes["skipped"] == 1  # the package with nothing else to fetch
    package = await world.package(pid)
    assert package["pypi_version"] == "3.1"  # its PyPI part is fetched
    assert package["repo_watchers"] == 77
    for package_id in (pid, only_repo):
        state = await world.refresh_state(package_id)
        assert host in (state["skipped_reason"] or ""), state
        assert (state["error_count"], state["last_error"], state["repo_missing"]) == (0, None, False)
    assert world.state.count(api="rest") == 0
    assert world.state.count(api="graphql") == 0


# -------------------------------------------------------------------------------------- representation
async def test_v4_representation_keeps_exactly_its_fields(world: World) -> None:
    world.github("acme/kept", stars=3, archived=True, contributors=["ann"], commits=commits(2))
    world.state.rename("acme/kept", "acme/kept-2")
    world.pypi("kept", "1.0")
    pid = await world.add_package(
        "kept", repo_url=f"{GH}/acme/kept", pypi_url="https://pypi.org/project/kept/"
    )
    await world.refresh()
    state = await world.refresh_state(pid)
    assert state["repo_moved_to"]
    assert state["repo_archived"] is True
    assert state["last_success"]

    package = await world.package(pid)
    assert set(package) == V4_FIELDS
    async with world.client() as client:
        listed = (await client.get("/api/v4/packages/")).json()
    rows = listed["results"] if isinstance(listed, dict) else listed
    assert rows
    assert all(set(row) == V4_FIELDS for row in rows)
