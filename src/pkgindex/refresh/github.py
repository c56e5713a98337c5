"""GitHub: what to ask and how to read it, spending as little of the quota as the answers allow.

- Core fields (stars, forks, description, archived, pushed date, last commit) come, with a token, from
  one GraphQL query per 100 repositories (2 points); the same query returns every commit date of the
  last 52 weeks for repositories with at most 100 of them, from which the weekly counts are built.
  Without a token (GraphQL needs one) they come from REST, conditionally.
- Contributors, and the weekly counts of busier repositories, come from REST, and only when the
  repository was pushed to since the last fetch, never fetched, or (contributors) older than
  ``github_stats_max_age``. Every REST request carries the stored ETag: a 304 costs nothing when
  authorized. ETags are valid only for the token that got them.
- An idle repository's weekly counts are shifted by the weeks that passed, at no cost: with no push
  there were no new commits.
"""

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

from pkgindex.config import Settings
from pkgindex.refresh.gate import HostGate
from pkgindex.refresh.hosts import Job, Outcome, github_full_name
from pkgindex.refresh.upstream import Traffic, Transient, Upstream, UpstreamError

WEEKS = 52
CONTRIBUTOR_PAGES = 5  # GitHub links only the first 500 contributors to accounts anyway
HISTORY_PAGE = 100  # commits of the last year read over GraphQL; more, and REST stats are asked for

# One repository's core fields; two connections, so 100 repositories cost 2 GraphQL points.
FRAGMENT = """
fragment Core on Repository {
  nameWithOwner url description stargazerCount forkCount isArchived pushedAt
  defaultBranchRef { target { ... on Commit {
    latest: history(first: 1) { nodes { committedDate } }
    year: history(first: HISTORY_PAGE, since: $since) { totalCount nodes { committedDate } }
  } } }
}
""".replace("HISTORY_PAGE", str(HISTORY_PAGE))


class Answer(Enum):
    NOT_MODIFIED = "not modified"  # 304: what we have is current
    NOT_READY = "not ready"  # 202: GitHub is computing the statistics
    MISSING = "missing"  # 404 (also a repository the token cannot see)


class Core(BaseModel):
    """A repository's core fields, from GraphQL or REST."""

    full_name: str
    url: str
    description: str | None
    stars: int
    forks: int
    archived: bool
    pushed_at: datetime | None
    last_commit: datetime | None = None
    year_commits: list[datetime] | None = None  # every commit of the last 52 weeks, when known


class RestRepo(BaseModel):
    full_name: str
    html_url: str
    description: str | None
    stargazers_count: int
    forks_count: int
    archived: bool
    pushed_at: datetime | None


class RestCommit(BaseModel):
    class Detail(BaseModel):
        class Person(BaseModel):
            date: datetime

        committer: Person

    commit: Detail


class RestWeek(BaseModel):
    week: int
    total: int


class RestContributor(BaseModel):
    login: str | None = None  # anonymous contributors have none


def week_start(moment: datetime) -> datetime:
    """Sunday 00:00 UTC of the week holding ``moment``: GitHub's weeks."""
    day = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def weekly_counts(commits: list[datetime], now: datetime) -> list[int]:
    """Commits per week for the 52 weeks ending with the current one, oldest first."""
    current = week_start(now)
    counts = [0] * WEEKS
    for moment in commits:
        index = WEEKS - 1 - (current - week_start(moment)).days // 7
        if 0 <= index < WEEKS:
            counts[index] += 1
    return counts


def shift_weeks(counts: list[int], anchor: datetime, now: datetime) -> list[int]:
    """Weekly counts whose last week began at ``anchor``, moved on to the current week."""
    weeks = (week_start(now) - week_start(anchor)).days // 7
    if weeks <= 0:
        return counts
    return (counts[weeks:] + [0] * min(weeks, WEEKS))[-WEEKS:]


def is_rate_limited(response: httpx.Response) -> bool:
    """GitHub answers a spent quota with 403 or 429 (REST), or 200 with RATE_LIMITED (GraphQL)."""
    if response.status_code == 429:
        return True
    if response.status_code not in (200, 403):
        return False
    if response.status_code == 403 and (
        response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers
    ):
        return True
    try:
        body = response.json()
    except ValueError:
        return False
    if response.status_code == 403:
        return "rate limit" in str(body.get("message", "")).lower() if isinstance(body, dict) else False
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(error, dict) and error.get("type") == "RATE_LIMITED" for error in errors
    )


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise Transient(f"GitHub: malformed body ({response.url})") from exc


def _parse(model: type[BaseModel], data: Any, url: Any) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Transient(f"GitHub: unexpected body ({url})") from exc


class GitHub:
    name = "github"

    def __init__(self, settings: Settings, traffic: Traffic) -> None:
        self.settings = settings
        token = settings.github_token.get_secret_value() if settings.github_token else None
        self.authorized = bool(token)
        self.etag_owner = hashlib.sha256(token.encode()).hexdigest()[:16] if token else "anonymous"
        self.api = settings.github_api_url.rstrip("/")
        self.gate = HostGate("github", settings.github_concurrency, pace=not token)
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = Upstream(
            self.gate,
            traffic,
            timeout=settings.upstream_timeout,
            retries=settings.upstream_retries,
            backoff=settings.upstream_backoff,
            headers=headers,
            is_rate_limited=is_rate_limited,
        )
        self._rest_etags: dict[int, str | None] = {}  # ETag of each repository answer, until recorded

    async def aclose(self) -> None:
        await self.http.aclose()

    def handles(self, repo_url: str) -> bool:
        return github_full_name(repo_url) is not None

    async def refresh(self, jobs: list[Job]) -> dict[int, Outcome]:
        now = datetime.now(UTC)
        names = {job.id: github_full_name(job.repo_url) or "" for job in jobs}
        if self.authorized:
            cores = await self._cores_graphql(names, now)
        else:
            answers = await asyncio.gather(*(self._core_rest(job, names[job.id]) for job in jobs))
            cores = dict(zip(names, answers, strict=True))
        outcomes = await asyncio.gather(
            *(self._complete(job, names[job.id], cores[job.id], now) for job in jobs)
        )
        return {job.id: outcome for job, outcome in zip(jobs, outcomes, strict=True)}

    # --- core fields ------------------------------------------------------------------------------------

    async def _cores_graphql(
        self, names: dict[int, str], now: datetime
    ) -> dict[int, Core | Answer | UpstreamError]:
        ids = list(names)
        params = ", ".join(f"$o{i}: String!, $n{i}: String!" for i in range(len(ids)))
        fields = "\n".join(
            f"  r{i}: repository(owner: $o{i}, name: $n{i}) {{ ...Core }}" for i in range(len(ids))
        )
        query = (
            f"query Core($since: GitTimestamp!, {params}) {{\n{fields}\n  rateLimit {{ cost remaining }}\n}}"
            + FRAGMENT
        )
        since = week_start(now) - timedelta(weeks=WEEKS - 1)
        variables: dict[str, str] = {"since": since.isoformat().replace("+00:00", "Z")}
        for i, package_id in enumerate(ids):
            variables[f"o{i}"], variables[f"n{i}"] = names[package_id].split("/", 1)
        # GitHub's cost rule: two connections per repository, each one request; per 100 requests a point.
        cost = max(1, round(2 * len(ids) / 100))
        try:
            body = await self.http.fetch(
                "POST",
                self.settings.github_graphql_url,
                self._read_graphql,
                resource="graphql",
                cost=cost,
                json={"query": query, "variables": variables},
                charge=lambda response: _graphql_cost(response, cost),
            )
        except UpstreamError as exc:
            return {package_id: exc for package_id in ids}
        data = body.get("data") or {}
        problems = {
            str(error["path"][0]): error
            for error in body.get("errors") or []
            if isinstance(error, dict) and error.get("path")
        }
        result: dict[int, Core | Answer | UpstreamError] = {}
        for i, package_id in enumerate(ids):
            alias = f"r{i}"
            node = data.get(alias)
            if node is None:
                error = problems.get(alias, {})
                result[package_id] = (
                    Answer.MISSING
                    if error.get("type") == "NOT_FOUND"
                    else UpstreamError(f"GitHub GraphQL: {error.get('message', 'no data')}")
                )
                continue
            try:
                result[package_id] = _core_from_graphql(node)
            except (KeyError, TypeError, ValueError, ValidationError):
                result[package_id] = UpstreamError("GitHub GraphQL: unexpected repository data")
        return result

    @staticmethod
    def _read_graphql(response: httpx.Response) -> dict[str, Any]:
        if response.status_code != 200:
            raise UpstreamError(f"GitHub GraphQL: HTTP {response.status_code}")
        body = _json(response)
        if not isinstance(body, dict) or ("data" not in body and "errors" not in body):
            raise Transient("GitHub GraphQL: malformed body")
        if not body.get("data"):
            raise Transient(f"GitHub GraphQL: {body.get('errors')}")
        return body

    async def _core_rest(self, job: Job, name: str) -> Core | Answer | UpstreamError:
        etag = job.repo_etag if self._etags_valid(job) else None

        def read(response: httpx.Response) -> tuple[Core | Answer, str | None]:
            if response.status_code == 304:
                return Answer.NOT_MODIFIED, etag
            if response.status_code == 404:
                return Answer.MISSING, None
            self._expect(response, 200)
            repo = _parse(RestRepo, _json(response), response.url)
            core = Core(
                full_name=repo.full_name,
                url=repo.html_url,
                description=repo.description,
                stars=repo.stargazers_count,
                forks=repo.forks_count,
                archived=repo.archived,
                pushed_at=repo.pushed_at,
            )
            return core, response.headers.get("etag")

        try:
            core, new_etag = await self.http.fetch(
                "GET", f"{self.api}/repos/{name}", read, etag=etag, **self._rest()
            )
        except UpstreamError as exc:
            return exc
        if isinstance(core, Core):
            self._rest_etags[job.id] = new_etag
        return core

    # --- the rest of one repository ---------------------------------------------------------------------

    async def _complete(
        self, job: Job, name: str, core: Core | Answer | UpstreamError, now: datetime
    ) -> Outcome:
        out = Outcome(state={"fetched_repo_url": job.repo_url, "etag_owner": self.etag_owner})
        if isinstance(core, UpstreamError):
            out.error = str(core)
            return out
        if core is Answer.MISSING:
            out.error = f"GitHub repository {name} not found"
            out.state["repo_missing"] = True
            return out
        same_repo = job.fetched_repo_url == job.repo_url
        reference = job.pushed_at if same_repo else job.last_fetched
        if isinstance(core, Core):
            out.values.update(
                repo_watchers=core.stars, repo_forks=core.forks, repo_description=core.description or ""
            )
            if core.last_commit is not None:
                out.values["last_updated"] = core.last_commit
            moved = core.full_name.lower() != name.lower()
            out.state.update(
                repo_missing=False,
                repo_archived=core.archived,
                repo_moved_to=f"https://github.com/{core.full_name}" if moved else None,
                pushed_at=core.pushed_at,
            )
            if not self.authorized:
                out.state["repo_etag"] = self._rest_etags.pop(job.id, None)
            pushed = core.pushed_at
        else:  # 304 on the repository (REST): nothing changed since the stored fetch
            pushed = job.pushed_at
        if same_repo:  # fetched before: changed only by a push since (an empty repository has none)
            changed = pushed is not None and (reference is None or pushed > reference)
        else:  # never fetched from this URL: compare with the last fetch of the imported stats
            changed = reference is None or (pushed is not None and pushed > reference)
        try:
            if not self.authorized and (changed or job.last_updated is None):
                await self._last_commit(job, name, out)
            if changed or self._contributors_stale(job, now):
                await self._contributors(job, name, out, now)
            await self._activity(job, name, core, changed, out, now)
        except UpstreamError as exc:
            out.error = str(exc)
            # Part of what the push changed was not fetched: keep the stored push time (and, without a
            # token, the repository ETag, whose 304 would hide the push) so the next pass asks again.
            out.state.pop("pushed_at", None)
            out.state.pop("repo_etag", None)
        return out

    def _contributors_stale(self, job: Job, now: datetime) -> bool:
        fetched = job.contributors_fetched if job.fetched_repo_url == job.repo_url else job.last_fetched
        # An empty list this refresher fetched is an answer (no linked contributors), not missing data.
        if fetched is None or (not job.participants and job.contributors_fetched is None):
            return True
        return (now - fetched).total_seconds() > self.settings.github_stats_max_age

    async def _last_commit(self, job: Job, name: str, out: Outcome) -> None:
        etag = job.commits_etag if self._etags_valid(job) else None

        def read(response: httpx.Response) -> Answer | datetime | None:
            if response.status_code == 304:
                return Answer.NOT_MODIFIED
            if response.status_code == 409:  # empty repository
                return None
            self._not_missing(response, name)
            self._expect(response, 200)
            commits = _json(response)
            if not isinstance(commits, list):
                raise Transient("GitHub: unexpected commits body")
            out.state["commits_etag"] = response.headers.get("etag")
            return _parse(RestCommit, commits[0], response.url).commit.committer.date if commits else None

        answer = await self.http.fetch(
            "GET", f"{self.api}/repos/{name}/commits?per_page=1", read, etag=etag, **self._rest()
        )
        if isinstance(answer, datetime):
            out.values["last_updated"] = answer

    async def _contributors(self, job: Job, name: str, out: Outcome, now: datetime) -> None:
        etag = job.contributors_etag if self._etags_valid(job) and job.participants else None
        logins: list[str] = []
        first_etag: str | None = None
        url: str | None = f"{self.api}/repos/{name}/contributors?per_page=100"
        for page in range(CONTRIBUTOR_PAGES):
            if url is None:
                break

            def read(response: httpx.Response) -> tuple[Answer | list[str], str | None, str | None]:
                if response.status_code == 304:
                    return Answer.NOT_MODIFIED, None, None
                if response.status_code == 204:  # empty repository
                    return [], None, None
                self._not_missing(response, name)
                self._expect(response, 200)
                items = _json(response)
                if not isinstance(items, list):
                    raise Transient("GitHub: unexpected contributors body")
                people = [_parse(RestContributor, item, response.url).login for item in items]
                following = response.links.get("next", {}).get("url")
                return [login for login in people if login], response.headers.get("etag"), following

            answer, page_etag, url = await self.http.fetch(
                "GET", url, read, etag=etag if page == 0 else None, **self._rest()
            )
            if answer is Answer.NOT_MODIFIED:
                out.state["contributors_fetched"] = now
                return
            assert isinstance(answer, list)
            logins += answer
            if page == 0:
                first_etag = page_etag
        out.values["participants"] = list(dict.fromkeys(logins))
        # Only with every page read: a 304 on the first page must not stand for a list never stored.
        out.state.update(contributors_etag=first_etag, contributors_fetched=now)

    async def _activity(
        self, job: Job, name: str, core: Core | Answer, changed: bool, out: Outcome, now: datetime
    ) -> None:
        if isinstance(core, Core) and core.year_commits is not None:
            out.values["commits_over_52"] = weekly_counts(core.year_commits, now)
            out.state.update(activity_week=week_start(now), activity_pending=False)
            return
        stored_ok = len(job.commits_over_52) == WEEKS
        anchor = job.activity_week if job.fetched_repo_url == job.repo_url else job.last_fetched
        if not (changed or job.activity_pending or not stored_ok or anchor is None):
            shifted = shift_weeks(job.commits_over_52, anchor, now)
            if shifted != job.commits_over_52:
                out.values["commits_over_52"] = shifted
            out.state["activity_week"] = week_start(now)
            return
        etag = job.activity_etag if self._etags_valid(job) and stored_ok else None

        def read(response: httpx.Response) -> tuple[Answer | list[int], datetime | None]:
            if response.status_code == 304:
                return Answer.NOT_MODIFIED, None
            if response.status_code == 202:
                return Answer.NOT_READY, None
            if response.status_code == 204:  # empty repository
                return [0] * WEEKS, week_start(now)
            self._not_missing(response, name)
            self._expect(response, 200)
            items = _json(response)
            if not isinstance(items, list) or not items:
                raise Transient("GitHub: unexpected commit activity body")
            weeks = [_parse(RestWeek, item, response.url) for item in items][-WEEKS:]
            out.state["activity_etag"] = response.headers.get("etag")
            counts = [0] * (WEEKS - len(weeks)) + [week.total for week in weeks]
            return counts, datetime.fromtimestamp(weeks[-1].week, UTC)

        answer, last_week = await self.http.fetch(
            "GET", f"{self.api}/repos/{name}/stats/commit_activity", read, etag=etag, **self._rest()
        )
        if answer is Answer.NOT_READY:
            # Keep the stored counts; ask again shortly (once: a second 202 waits for the next refresh).
            out.state["activity_pending"] = True
            out.retry_soon = not job.activity_pending
            return
        if answer is Answer.NOT_MODIFIED:
            answer, last_week = job.commits_over_52, job.activity_week or week_start(now)
        assert isinstance(answer, list)
        assert last_week is not None
        counts = shift_weeks(answer, last_week, now)
        if counts != job.commits_over_52:
            out.values["commits_over_52"] = counts
        out.state.update(activity_week=week_start(now), activity_pending=False)

    # --- helpers -------------------------------------------------------------------------------------------

    def _etags_valid(self, job: Job) -> bool:
        return job.etag_owner == self.etag_owner and job.fetched_repo_url == job.repo_url

    def _rest(self) -> dict[str, Any]:
        return {"resource": "core", "charge": self._rest_charge}

    def _rest_charge(self, response: httpx.Response) -> int:
        if is_rate_limited(response) or (response.status_code == 304 and self.authorized):
            return 0
        return 1

    @staticmethod
    def _not_missing(response: httpx.Response, name: str) -> None:
        if response.status_code == 404:
            raise UpstreamError(f"GitHub repository {name} not found")

    @staticmethod
    def _expect(response: httpx.Response, status: int) -> None:
        if response.status_code != status:
            raise UpstreamError(f"GitHub: HTTP {response.status_code} for {response.url}")


def _graphql_cost(response: httpx.Response, expected: int) -> int:
    if response.status_code != 200 or is_rate_limited(response):
        return 0
    try:
        return int(response.json()["data"]["rateLimit"]["cost"])
    except (ValueError, KeyError, TypeError):
        return expected


def _core_from_graphql(node: dict[str, Any]) -> Core:
    target = (node.get("defaultBranchRef") or {}).get("target") or {}
    latest = ((target.get("latest") or {}).get("nodes")) or []
    year = target.get("year") or {}
    year_nodes = year.get("nodes") or []
    complete = bool(target) and year.get("totalCount", 0) <= len(year_nodes)
    return Core(
        full_name=node["nameWithOwner"],
        url=node["url"],
        description=node.get("description"),
        stars=node["stargazerCount"],
        forks=node["forkCount"],
        archived=node["isArchived"],
        pushed_at=node.get("pushedAt"),
        last_commit=latest[0]["committedDate"] if latest else None,
        # An empty repository has no default branch: no commits, zero weeks.
        year_commits=[item["committedDate"] for item in year_nodes] if complete or not target else None,
    )
