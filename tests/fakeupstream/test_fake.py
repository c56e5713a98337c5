"""The fake upstream speaks GitHub REST, GitHub GraphQL and PyPI JSON the way the real services do."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.fakeupstream import FakeProject, FakeRepo, FakeState, FakeUpstream
from tests.fakeupstream.dump import week_start
from tests.fakeupstream.graphql_api import SCHEMA, query_cost

REPO_ROOT = Path(__file__).resolve().parents[2]
GEN_DATASET = REPO_ROOT.parent / "shared" / "tools" / "gen_dataset.py"
UA = {"User-Agent": "pkgindex-tests"}
TOKEN = {**UA, "Authorization": "Bearer t0ken"}
NOW = datetime.now(UTC)


def _deps(**overrides: object) -> FakeRepo:
    fields: dict = {
        "id": 18764735,
        "full_name": "django/deps",
        "description": "Django Enhancement Proposals",
        "stars": 401,
        "forks": 85,
        "contributors": [f"user{i}" for i in range(7)],
        "commits": [NOW - timedelta(days=2 * i, hours=1) for i in range(40)],
    }
    fields.update(overrides)
    return FakeRepo(**fields)  # type: ignore[arg-type]


@pytest.fixture
def state() -> FakeState:
    state = FakeState()
    state.hang = 5.0
    state.add_repo(_deps())
    state.add_repo(FakeRepo(id=2, full_name="someone/empty"))
    state.add_project(
        FakeProject("Django-Crispy-Forms", {"1.0": False, "2.0": False, "2.1": True, "3.0b1": False})
    )
    return state


@pytest.fixture
def fake(state: FakeState) -> Iterator[FakeUpstream]:
    with FakeUpstream(state) as fake:
        yield fake


@pytest.fixture
def gh(fake: FakeUpstream) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=fake.github_api_url, headers=TOKEN) as client:
        yield client


# ---------------------------------------------------------------------- REST
def test_repo_body_and_rate_headers(gh: httpx.Client, state: FakeState) -> None:
    r = gh.get("/repos/django/deps")
    assert r.status_code == 200
    body = r.json()
    assert body["full_name"] == "django/deps"
    assert body["html_url"] == "https://github.com/django/deps"
    assert body["stargazers_count"] == body["watchers_count"] == body["watchers"] == 401
    assert body["forks_count"] == body["forks"] == 85
    assert body["archived"] is False
    assert body["disabled"] is False
    assert body["pushed_at"].endswith("Z")
    assert r.headers["x-ratelimit-limit"] == "5000"
    assert r.headers["x-ratelimit-remaining"] == "4999"
    assert r.headers["x-ratelimit-used"] == "1"
    assert r.headers["x-ratelimit-resource"] == "core"
    assert int(r.headers["x-ratelimit-reset"]) >= time.time() + 3590
    assert r.headers["etag"].startswith('W/"')
    assert r.headers["cache-control"] == "private, max-age=60, s-maxage=60"
    assert state.count(api="rest", endpoint="repo", status=200) == 1
    assert state.units() == 1


def test_conditional_request_free_only_when_authorized(fake: FakeUpstream, state: FakeState) -> None:
    with httpx.Client(base_url=fake.github_api_url) as client:
        first = client.get("/repos/django/deps", headers=TOKEN)
        again = client.get("/repos/django/deps", headers={**TOKEN, "If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["x-ratelimit-remaining"] == "4999"  # free: nothing used
        assert again.headers["etag"] == first.headers["etag"]

        anon = client.get("/repos/django/deps", headers=UA)
        assert anon.headers["x-ratelimit-limit"] == "60"
        anon_again = client.get("/repos/django/deps", headers={**UA, "If-None-Match": anon.headers["etag"]})
        assert anon_again.status_code == 304
        assert anon_again.headers["x-ratelimit-used"] == "2"  # an anonymous 304 still counts
    assert [r.units for r in state.log()] == [1, 0, 1, 1]
    assert state.units() == 3


def test_etag_depends_on_token(gh: httpx.Client) -> None:
    a = gh.get("/repos/django/deps")
    b = gh.get("/repos/django/deps", headers={"Authorization": "token other"})
    assert a.headers["etag"] != b.headers["etag"]
    stale = gh.get(
        "/repos/django/deps", headers={"Authorization": "token other", "If-None-Match": a.headers["etag"]}
    )
    assert stale.status_code == 200


def test_user_agent_required(fake: FakeUpstream) -> None:
    r = httpx.get(f"{fake.github_api_url}/repos/django/deps", headers={"User-Agent": ""})
    assert r.status_code == 403
    assert "User-Agent" in r.json()["message"]


def test_contributors_paginated_by_link(gh: httpx.Client) -> None:
    logins: list[str] = []
    url: str | None = "/repos/django/deps/contributors?per_page=3"
    pages = 0
    while url:
        r = gh.get(url)
        assert r.status_code == 200
        logins += [c["login"] for c in r.json()]
        contributions = [c["contributions"] for c in r.json()]
        assert contributions == sorted(contributions, reverse=True)
        assert all(c["type"] == "User" for c in r.json())
        url = r.links.get("next", {}).get("url")
        if url:
            assert url.startswith(gh.base_url.scheme + "://")
            assert "/repositories/18764735/contributors" in url
            assert r.links["last"]["url"].endswith("page=3")
        pages += 1
    assert pages == 3
    assert logins == [f"user{i}" for i in range(7)]
    assert gh.get("/repos/someone/empty/contributors").status_code == 204


def test_commit_activity_202_then_weeks_then_202_after_push(gh: httpx.Client, state: FakeState) -> None:
    url = "/repos/django/deps/stats/commit_activity"
    first = gh.get(url)
    assert first.status_code == 202
    assert first.json() == {}
    weeks = gh.get(url).json()
    assert len(weeks) == 52
    current = week_start(NOW)
    assert weeks[-1]["week"] == int(current.timestamp())
    for week in weeks:
        start = datetime.fromtimestamp(week["week"], UTC)
        assert start.weekday() == 6
        assert (start.hour, start.minute, start.second) == (0, 0, 0)
        assert len(week["days"]) == 7
        assert sum(week["days"]) == week["total"]
    expected = sum(1 for c in state.repo("django/deps").commits if c >= current - timedelta(weeks=51))
    assert sum(w["total"] for w in weeks) == expected

    state.push("django/deps", 2)
    assert gh.get(url).status_code == 202
    after = gh.get(url).json()
    assert after[-1]["total"] == weeks[-1]["total"] + 2
    assert gh.get("/repos/someone/empty/stats/commit_activity").status_code == 204


def test_commits_per_page_one_counts_with_last_link(gh: httpx.Client) -> None:
    r = gh.get("/repos/django/deps/commits", params={"per_page": 1})
    assert r.status_code == 200
    [commit] = r.json()
    newest = max(_deps().commits)
    assert commit["commit"]["committer"]["date"] == newest.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(commit["sha"]) == 40
    assert r.links["last"]["url"].endswith("page=40")
    empty = gh.get("/repos/someone/empty/commits", params={"per_page": 1})
    assert empty.status_code == 409
    assert empty.json()["message"] == "Git Repository is empty."


def test_rename_answers_301_to_id_form(gh: httpx.Client, state: FakeState) -> None:
    state.rename("django/deps", "django/enhancements")
    moved = gh.get("/repos/django/deps/contributors", params={"per_page": 100})
    assert moved.status_code == 301
    assert moved.headers["location"].endswith("/github/repositories/18764735/contributors?per_page=100")
    assert moved.json()["message"] == "Moved Permanently"
    followed = gh.get("/repos/django/deps", follow_redirects=True)
    assert followed.status_code == 200
    assert followed.json()["full_name"] == "django/enhancements"
    assert gh.get("/repos/Django/Enhancements").json()["id"] == 18764735  # names are case-insensitive
    assert state.count(status=301) == 2


def test_delete_answers_404(gh: httpx.Client, state: FakeState) -> None:
    state.delete("django/deps")
    r = gh.get("/repos/django/deps")
    assert r.status_code == 404
    assert r.json() == {
        "message": "Not Found",
        "documentation_url": "https://docs.github.com/rest/repos/repos#get-a-repository",
        "status": "404",
    }
    assert gh.get("/repositories/18764735").status_code == 404


@pytest.mark.parametrize("status", [403, 429])
def test_quota_exhaustion_violation_and_new_window(status: int) -> None:
    state = FakeState(rest_limit=3, window=1.0, rate_limit_status=status)
    state.add_repo(_deps())
    with FakeUpstream(state) as fake, httpx.Client(base_url=fake.github_api_url, headers=TOKEN) as gh:
        answers = [gh.get("/repos/django/deps") for _ in range(3)]
        assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0"]
        reset = int(answers[-1].headers["x-ratelimit-reset"])
        over = gh.get("/repos/django/deps")
        assert over.status_code == status
        assert over.headers["x-ratelimit-remaining"] == "0"
        assert over.json()["message"].startswith("API rate limit exceeded")
        assert len(state.violations) == 1
        assert state.violations[0].units == 0
        # Another token has its own quota.
        assert gh.get("/repos/django/deps", headers={"Authorization": "Bearer other"}).status_code == 200

        time.sleep(max(0.0, reset - time.time()) + 0.05)
        fresh = gh.get("/repos/django/deps")
        assert fresh.status_code == 200
        assert fresh.headers["x-ratelimit-remaining"] == "2"
        assert int(fresh.headers["x-ratelimit-reset"]) > reset
    assert len(state.violations) == 1


def test_secondary_limit_retry_after_and_early_requests_are_violations(
    gh: httpx.Client, state: FakeState
) -> None:
    state.inject(r"/contributors", "secondary", retry_after=1)
    limited = gh.get("/repos/django/deps/contributors")
    assert limited.status_code == 403
    assert limited.headers["retry-after"] == "1"
    assert "secondary rate limit" in limited.json()["message"]
    early = gh.get("/repos/django/deps")  # the period covers the whole host, any endpoint
    assert early.status_code == 403
    assert [r.violation for r in state.log()] == [False, True]
    time.sleep(1.05)
    assert gh.get("/repos/django/deps/contributors").status_code == 200
    assert len(state.violations) == 1


def test_ratelimit429_fault(gh: httpx.Client, state: FakeState) -> None:
    state.inject(r"/repos/django/deps$", "ratelimit429", retry_after=0)
    r = gh.get("/repos/django/deps")
    assert r.status_code == 429
    assert r.headers["retry-after"] == "0"
    assert gh.get("/repos/django/deps").status_code == 200
    assert not state.violations


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("502", 502), ("503", 503), ("202", 202)])
def test_status_faults_are_consumed(gh: httpx.Client, state: FakeState, kind: str, status: int) -> None:
    state.inject(r"/stats/commit_activity", kind, times=2)
    url = "/repos/django/deps/stats/commit_activity"
    assert [gh.get(url).status_code for _ in range(2)] == [status, status]
    assert gh.get(url).status_code == 202  # now the genuine first ask
    assert gh.get(url).status_code == 200
    assert [r.fault for r in state.log()] == [kind, kind, None, None]


def test_timeout_fault_hangs(gh: httpx.Client, state: FakeState) -> None:
    state.hang = 3.0
    state.inject(r"^/github/repos/django/deps$", "timeout")
    with pytest.raises(httpx.ReadTimeout):
        gh.get("/repos/django/deps", timeout=0.3)
    assert gh.get("/repos/django/deps", timeout=2).status_code == 200


def test_reset_fault_breaks_the_connection(gh: httpx.Client, state: FakeState) -> None:
    state.inject(r"/repos/django/deps$", "reset")
    with pytest.raises(httpx.TransportError):
        gh.get("/repos/django/deps")
    assert gh.get("/repos/django/deps").status_code == 200


def test_malformed_fault_sends_invalid_json(gh: httpx.Client, state: FakeState) -> None:
    state.inject(r"/contributors", "malformed")
    r = gh.get("/repos/django/deps/contributors")
    assert r.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_latency_delays_each_response() -> None:
    state = FakeState(latency=0.2)
    state.add_repo(_deps())
    with FakeUpstream(state) as fake:
        started = time.monotonic()
        r = httpx.get(f"{fake.github_api_url}/repos/django/deps", headers=TOKEN)
        assert r.status_code == 200
        assert time.monotonic() - started >= 0.2


# ---------------------------------------------------------------------- GraphQL
STATS = """
fragment Stats on Repository {
  nameWithOwner description stargazerCount forkCount isArchived pushedAt url
  defaultBranchRef { target { ... on Commit {
    history(first: 1) { totalCount nodes { committedDate } } } } }
}
"""


def _graphql(
    fake: FakeUpstream, query: str, headers: dict[str, str] = TOKEN, **variables: object
) -> httpx.Response:
    return httpx.post(fake.github_graphql_url, json={"query": query, "variables": variables}, headers=headers)


def test_graphql_batch_with_aliases(fake: FakeUpstream, state: FakeState) -> None:
    state.add_repo(FakeRepo(id=3, full_name="pydanny/dj-paginator", archived=True, commits=[NOW]))
    state.rename("pydanny/dj-paginator", "pydanny/paginator")
    query = (
        """query {
          r0: repository(owner: "django", name: "deps") { ...Stats }
          r1: repository(owner: "nobody", name: "nothing") { ...Stats }
          r2: repository(owner: "pydanny", name: "dj-paginator") { ...Stats }
          r3: repository(owner: "pydanny", name: "dj-paginator", followRenames: false) { nameWithOwner }
          rateLimit { cost remaining limit used resetAt }
        }"""
        + STATS
    )
    r = _graphql(fake, query)
    assert r.status_code == 200
    assert r.headers["x-ratelimit-resource"] == "graphql"
    payload = r.json()
    data = payload["data"]
    assert data["r0"]["nameWithOwner"] == "django/deps"
    assert data["r0"]["stargazerCount"] == 401
    assert data["r0"]["forkCount"] == 85
    history = data["r0"]["defaultBranchRef"]["target"]["history"]
    assert history["totalCount"] == 40
    assert history["nodes"][0]["committedDate"] == max(_deps().commits).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["r1"] is None
    assert data["r3"] is None
    assert data["r2"]["nameWithOwner"] == "pydanny/paginator"
    assert data["r2"]["isArchived"] is True
    errors = {tuple(e["path"]): e for e in payload["errors"]}
    assert errors[("r1",)]["type"] == "NOT_FOUND"
    assert errors[("r1",)]["message"] == "Could not resolve to a Repository with the name 'nobody/nothing'."
    assert errors[("r1",)]["locations"]
    assert errors[("r3",)]["type"] == "NOT_FOUND"
    assert data["rateLimit"] == {
        "cost": 1,
        "remaining": 4999,
        "limit": 5000,
        "used": 1,
        "resetAt": data["rateLimit"]["resetAt"],
    }
    assert r.headers["x-ratelimit-remaining"] == "4999"
    assert state.log()[-1].units == 1
    assert state.log()[-1].endpoint == "graphql"


def test_graphql_history_since_until_and_pages(fake: FakeUpstream) -> None:
    query = """query($since: GitTimestamp!, $after: String) {
      repository(owner: "django", name: "deps") { defaultBranchRef { target { ... on Commit {
        history(first: 5, since: $since, after: $after) {
          totalCount nodes { committedDate } pageInfo { hasNextPage endCursor } } } } } }
    }"""
    since = (NOW - timedelta(days=20)).isoformat()
    history = _graphql(fake, query, since=since).json()["data"]["repository"]["defaultBranchRef"]["target"][
        "history"
    ]
    assert history["totalCount"] == 10
    assert len(history["nodes"]) == 5
    assert history["pageInfo"]["hasNextPage"] is True
    cursor = history["pageInfo"]["endCursor"]
    rest = _graphql(fake, query, since=since, after=cursor).json()["data"]["repository"]
    page2 = rest["defaultBranchRef"]["target"]["history"]
    assert len(page2["nodes"]) == 5
    assert page2["pageInfo"]["hasNextPage"] is False
    assert page2["nodes"][0]["committedDate"] < history["nodes"][-1]["committedDate"]


def test_graphql_cost_follows_githubs_rule(fake: FakeUpstream, state: FakeState) -> None:
    for i in range(100):
        state.add_repo(FakeRepo(id=1000 + i, full_name=f"org/repo{i}", commits=[NOW - timedelta(days=i)]))
    since = (NOW - timedelta(days=365)).strftime("%Y-%m-%dT%H:%M:%SZ")
    fields = "".join(
        f'r{i}: repository(owner: "org", name: "repo{i}") {{ defaultBranchRef {{ target {{ ... on Commit {{'
        f" last: history(first: 1) {{ nodes {{ committedDate }} }}"
        f' year: history(first: 100, since: "{since}") {{ totalCount }} }} }} }} }}\n'
        for i in range(100)
    )
    r = _graphql(fake, f"query {{ {fields} rateLimit {{ cost }} }}")
    assert r.json()["data"]["rateLimit"]["cost"] == 2
    assert r.headers["x-ratelimit-used"] == "2"
    # A connection nested under 100 nodes needs 100 more requests: 1 + 100 -> 1 point; 250 -> 3 points.
    nested = """{ repository(owner: "org", name: "repo1") { defaultBranchRef { target { ... on Commit {
      history(first: 100) { nodes { history(first: 2) { totalCount } } } } } } } }"""
    import graphql

    document = graphql.parse(nested)
    operation = graphql.get_operation_ast(document)
    assert operation is not None
    assert query_cost(SCHEMA, document, operation, {}).points == 1
    assert query_cost(SCHEMA, document, operation, {}).requests == 101
    assert [r.units for r in state.log()] == [2]


def test_graphql_pagination_limits_and_invalid_documents(fake: FakeUpstream) -> None:
    too_many = _graphql(
        fake,
        '{ repository(owner: "django", name: "deps") { defaultBranchRef { target { ... on Commit {'
        " history(first: 101) { totalCount } } } } } }",
    ).json()
    assert too_many["errors"][0]["type"] == "EXCESSIVE_PAGINATION"
    assert "data" not in too_many
    missing = _graphql(
        fake,
        '{ repository(owner: "django", name: "deps") { defaultBranchRef { target { ... on Commit {'
        " history { totalCount } } } } } }",
    ).json()
    assert missing["errors"][0]["type"] == "MISSING_PAGINATION_BOUNDARIES"
    invalid = _graphql(fake, '{ repository(owner: "django", name: "deps") { stars } }').json()
    assert "data" not in invalid
    assert "stars" in invalid["errors"][0]["message"]
    assert _graphql(fake, "{ nope").json()["errors"][0]["message"].startswith("Syntax Error")


def test_graphql_requires_a_token(fake: FakeUpstream) -> None:
    r = _graphql(fake, "{ rateLimit { cost } }", headers=UA)
    assert r.status_code == 401
    assert r.json()["message"] == "Requires authentication"


def test_graphql_rate_limited() -> None:
    state = FakeState(graphql_limit=2)
    state.add_repo(_deps())
    with FakeUpstream(state) as fake:
        query = '{ repository(owner: "django", name: "deps") { stargazerCount } }'
        assert [_graphql(fake, query).headers["x-ratelimit-remaining"] for _ in range(2)] == ["1", "0"]
        limited = _graphql(fake, query)
        assert limited.status_code == 200
        assert limited.json() == {
            "errors": [{"type": "RATE_LIMITED", "message": "API rate limit exceeded for user ID 1."}]
        }
        assert limited.headers["x-ratelimit-remaining"] == "0"
        # REST has its own quota.
        assert httpx.get(f"{fake.github_api_url}/repos/django/deps", headers=TOKEN).status_code == 200
    assert [r.violation for r in state.log()] == [False, False, True, False]
    assert state.units() == 3


# ---------------------------------------------------------------------- PyPI
def test_pypi_project_json(fake: FakeUpstream, state: FakeState) -> None:
    with httpx.Client(base_url=fake.pypi_url) as pypi:
        moved = pypi.get("/pypi/Django-Crispy-Forms/json")
        assert moved.status_code == 301
        assert moved.headers["location"] == f"{fake.pypi_url}/pypi/django-crispy-forms/json"
        r = pypi.get("/pypi/Django-Crispy-Forms/json", follow_redirects=True)
        assert r.status_code == 200
        body = r.json()
        # 2.1 is yanked and 3.0b1 a pre-release: neither becomes the version.
        assert body["info"]["version"] == "2.0"
        assert body["info"]["name"] == "Django-Crispy-Forms"
        assert set(body["releases"]) == {"1.0", "2.0", "2.1", "3.0b1"}
        assert all(f["yanked"] for f in body["releases"]["2.1"])
        assert [f["filename"].split("-")[1] for f in body["urls"]] == ["2.0", "2.0.tar.gz"]
        assert body["vulnerabilities"] == []
        assert isinstance(body["last_serial"], int)
        assert r.headers["cache-control"] == "max-age=900, public"
        assert r.headers["x-pypi-last-serial"] == str(body["last_serial"])
        for key in (
            "summary",
            "docs_url",
            "project_urls",
            "home_page",
            "yanked",
            "requires_python",
            "classifiers",
        ):
            assert key in body["info"]

        again = pypi.get("/pypi/django-crispy-forms/json", headers={"If-None-Match": r.headers["etag"]})
        assert again.status_code == 304
        assert pypi.get("/pypi/no-such-thing/json").json() == {"message": "Not Found"}

        state.remove_project("django_crispy_forms")
        assert pypi.get("/pypi/django-crispy-forms/json").status_code == 404
    assert state.count(api="pypi", endpoint="pypi_project") == 6
    assert state.units() == 0


# ---------------------------------------------------------------------- seeding from a dump
@pytest.fixture(scope="module")
def small_dump() -> dict:
    out = subprocess.run(
        [sys.executable, str(GEN_DATASET), "--packages", "60", "--grids", "5", "--seed", "7"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def test_from_dump_matches_the_dump(small_dump: dict) -> None:
    state = FakeState.from_dump(small_dump)
    packages = small_dump["packages"]
    assert len(state.repos()) == len(packages)
    for package in packages:
        full_name = package["repo_url"].removeprefix("https://github.com/")
        repo = state.repo(full_name)
        assert repo.full_name == full_name
        assert (repo.stars, repo.forks) == (package["repo_watchers"], package["repo_forks"])
        assert repo.description == (package["repo_description"] or None)
        assert repo.contributors == package["participants"]
        if package["last_updated"]:
            newest = datetime.fromisoformat(package["last_updated"])
            assert max(repo.commits) == newest == repo.pushed_at
        assert len(repo.commits) >= sum(package["commits_over_52"])
    with_pypi = [p for p in packages if p["pypi_url"]]
    for package in with_pypi:
        name = package["pypi_url"].rstrip("/").rsplit("/", 1)[1]
        project = state.project(name)
        if package["pypi_version"]:
            from tests.fakeupstream.pypi import latest_version

            assert latest_version(project) == package["pypi_version"]


def test_from_dump_weekly_counts_when_now_is_in_the_fetch_week(small_dump: dict) -> None:
    """Served at the time of ``last_fetched``, commit_activity reproduces ``commits_over_52``
    (for packages whose last commit agrees with their weekly counts)."""
    state = FakeState.from_dump(small_dump)
    from tests.fakeupstream.github import commit_activity

    checked = 0
    for package in small_dump["packages"]:
        if not package["last_fetched"] or not any(package["commits_over_52"]):
            continue
        fetched = datetime.fromisoformat(package["last_fetched"])
        last = datetime.fromisoformat(package["last_updated"])
        weekly = package["commits_over_52"]
        last_week_index = max(i for i, n in enumerate(weekly) if n)
        if week_start(last) != week_start(fetched) - timedelta(weeks=51 - last_week_index):
            continue  # the generator's rolling weeks disagree with Sunday weeks here
        repo = state.repo(package["repo_url"].removeprefix("https://github.com/"))
        assert [w["total"] for w in commit_activity(repo, fetched)] == weekly
        checked += 1
    assert checked > 0


def test_control_endpoints(fake: FakeUpstream, state: FakeState, gh: httpx.Client) -> None:
    gh.get("/repos/django/deps")
    gh.get("/repos/django/deps", headers={"If-None-Match": gh.get("/repos/django/deps").headers["etag"]})
    stats = httpx.get(f"{fake.base_url}/_fake/stats").json()
    assert stats["requests"] == 3
    assert stats["units"] == 2
    assert stats["not_modified"] == 1
    assert stats["by_endpoint"]["rest"]["repo"] == {"200": 2, "304": 1}
    pushed = httpx.post(f"{fake.base_url}/_fake/push", params={"fraction": 0.5, "seed": 3}).json()
    assert pushed["pushed"] == 1
    limits = httpx.post(f"{fake.base_url}/_fake/limits", params={"rest": 10, "window": 60}).json()
    assert limits["rest"] == 10
    assert gh.get("/repos/django/deps").headers["x-ratelimit-remaining"] == "9"
    assert httpx.post(f"{fake.base_url}/_fake/reset-log").json() == {"ok": True}
    assert state.log() == []


def test_module_runs_in_the_foreground(tmp_path: Path, small_dump: dict) -> None:
    dump = tmp_path / "dump.json"
    dump.write_text(json.dumps(small_dump))
    with subprocess.Popen(
        [sys.executable, "-m", "tests.fakeupstream", "--dump", str(dump), "--port", "0", "--rest-limit", "7"],
        cwd=REPO_ROOT,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert proc.stderr is not None
            banner = re.search(r"http://127\.0\.0\.1:\d+", proc.stderr.readline())
            assert banner is not None
            url = banner[0]
            full_name = small_dump["packages"][0]["repo_url"].removeprefix("https://github.com/")
            r = httpx.get(f"{url}/github/repos/{full_name}", headers=TOKEN)
            assert r.status_code == 200
            assert r.headers["x-ratelimit-limit"] == "7"
            assert httpx.get(f"{url}/_fake/stats").json()["requests"] == 1
        finally:
            proc.terminate()
            proc.wait(timeout=10)
