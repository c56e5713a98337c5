"""GitHub REST v3 content: repository, contributors, commit activity and commits, shaped like the
recordings in ``/work/shared/upstream-samples/``. Quotas, auth and faults are applied by ``app.py``;
the functions here run with ``FakeState.lock`` held."""

from __future__ import annotations

import base64
import hashlib
import math
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .dump import week_start
from .protocol import Headers, Incoming, Reply, digest, dumps, http_date, int_param, iso, parse_time

if TYPE_CHECKING:
    from .state import FakeRepo, FakeState, _RepoSlot

DOCS = "https://docs.github.com/rest"
REPO_DOCS = "https://docs.github.com/rest/repos/repos#get-a-repository"
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you "
    "reach out to GitHub Support for help, please include the request ID ABCD:1234:5678:9ABC:DEF0."
)
COMMON_HEADERS: Headers = [
    ("server", "GitHub.com"),
    ("content-type", "application/json; charset=utf-8"),
    ("x-github-media-type", "github.v3; format=json"),
    ("x-github-api-version-selected", "2022-11-28"),
    ("access-control-allow-origin", "*"),
    (
        "access-control-expose-headers",
        "ETag, Link, Location, Retry-After, X-GitHub-OTP, X-RateLimit-Limit, X-RateLimit-Remaining, "
        "X-RateLimit-Used, X-RateLimit-Resource, X-RateLimit-Reset, X-OAuth-Scopes, "
        "X-Accepted-OAuth-Scopes, X-Poll-Interval, X-GitHub-Media-Type, X-GitHub-SSO, "
        "X-GitHub-Request-Id, Deprecation, Sunset",
    ),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "deny"),
]
# /repos/{owner}/{repo}[/suffix] and /repositories/{id}[/suffix]
ROUTE = re.compile(
    r"^/(?:repos/(?P<owner>[^/]+)/(?P<name>[^/]+)|repositories/(?P<id>\d+))"
    r"(?P<suffix>|/contributors|/stats/commit_activity|/commits)/?$"
)
ENDPOINTS = {"": "repo", "/contributors": "contributors", "/stats/commit_activity": "commit_activity"}


def classify(api_path: str) -> str:
    if api_path.rstrip("/") == "/graphql":
        return "graphql"
    match = ROUTE.match(api_path)
    if not match:
        return "other"
    return ENDPOINTS.get(match["suffix"], "commits")


def json_reply(status: int, value: Any, extra: Headers | None = None) -> Reply:
    return Reply(status, dumps(value), [*COMMON_HEADERS, *(extra or [])])


def not_found() -> Reply:
    return json_reply(404, {"message": "Not Found", "documentation_url": REPO_DOCS, "status": "404"})


def rate_limited(status: int, message: str, retry_after: int | None = None) -> Reply:
    extra = [("retry-after", str(retry_after))] if retry_after is not None else []
    return json_reply(status, {"message": message, "documentation_url": RATE_DOCS}, extra)


def secondary_limited(status: int, retry_after: int) -> Reply:
    doc = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
    body = {"message": SECONDARY_MESSAGE, "documentation_url": doc}
    return json_reply(status, body, [("retry-after", str(retry_after))])


# ---------------------------------------------------------------------- bodies
def _user_id(login: str) -> int:
    return int(hashlib.sha1(login.encode()).hexdigest()[:7], 16)


def node_id(kind: str, number: int) -> str:
    # GitHub's legacy global ids are base64 of "<len><Type><id>", e.g. MDEwOlJlcG9zaXRvcnkxODc2NDczNQ==.
    return base64.b64encode(f"0{len(kind) + 2}:{kind}{number}".encode()).decode()


def user_json(api: str, login: str, kind: str = "User") -> dict[str, Any]:
    uid = _user_id(login)
    url = f"{api}/users/{login}"
    return {
        "login": login,
        "id": uid,
        "node_id": node_id(kind, uid),
        "avatar_url": f"https://avatars.githubusercontent.com/u/{uid}?v=4",
        "gravatar_id": "",
        "url": url,
        "html_url": f"https://github.com/{login}",
        "followers_url": f"{url}/followers",
        "following_url": f"{url}/following{{/other_user}}",
        "gists_url": f"{url}/gists{{/gist_id}}",
        "starred_url": f"{url}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{url}/subscriptions",
        "organizations_url": f"{url}/orgs",
        "repos_url": f"{url}/repos",
        "events_url": f"{url}/events{{/privacy}}",
        "received_events_url": f"{url}/received_events",
        "type": kind,
        "site_admin": False,
    }


_REPO_URL_TEMPLATES = (
    "forks",
    "keys{/key_id}",
    "collaborators{/collaborator}",
    "teams",
    "hooks",
    "issues/events{/number}",
    "events",
    "assignees{/user}",
    "branches{/branch}",
    "tags",
    "git/blobs{/sha}",
    "git/tags{/sha}",
    "git/refs{/sha}",
    "git/trees{/sha}",
    "statuses/{sha}",
    "languages",
    "stargazers",
    "contributors",
    "subscribers",
    "subscription",
    "commits{/sha}",
    "git/commits{/sha}",
    "comments{/number}",
    "issues/comments{/number}",
    "contents/{+path}",
    "compare/{base}...{head}",
    "merges",
    "{archive_format}{/ref}",
    "downloads",
    "issues{/number}",
    "pulls{/number}",
    "milestones{/number}",
    "notifications{?since,all,participating}",
    "labels{/name}",
    "releases{/id}",
    "deployments",
)


def _url_key(template: str) -> str:
    words = re.sub(r"\{[^}]*\}", "", template).strip("/").replace("/", "_").replace(".", "")
    special = {"": "archive", "issues_events": "issue_events", "issues_comments": "issue_comment"}
    words = special.get(words, words)
    return f"{words}_url"


def repo_json(api: str, repo: FakeRepo, authorized: bool) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}"
    commits = sorted(repo.commits)
    created = commits[0] if commits else datetime(2015, 1, 1, tzinfo=UTC) + timedelta(hours=repo.id % 5000)
    pushed = repo.pushed_at or created
    owner = user_json(api, repo.owner, "Organization" if repo.owner.islower() else "User")
    body: dict[str, Any] = {
        "id": repo.id,
        "node_id": node_id("Repository", repo.id),
        "name": repo.name,
        "full_name": repo.full_name,
        "private": False,
        "owner": owner,
        "html_url": f"https://github.com/{repo.full_name}",
        "description": repo.description,
        "fork": False,
        "url": url,
    }
    body.update({_url_key(t): f"{url}/{t}" for t in _REPO_URL_TEMPLATES})
    body.update(
        {
            "created_at": iso(created),
            "updated_at": iso(max(pushed, created)),
            "pushed_at": iso(repo.pushed_at),
            "git_url": f"git://github.com/{repo.full_name}.git",
            "ssh_url": f"git@github.com:{repo.full_name}.git",
            "clone_url": f"https://github.com/{repo.full_name}.git",
            "svn_url": f"https://github.com/{repo.full_name}",
            "homepage": None,
            "size": 10 * len(repo.commits),
            "stargazers_count": repo.stars,
            "watchers_count": repo.stars,
            "language": "Python",
            "has_issues": True,
            "has_projects": False,
            "has_downloads": True,
            "has_wiki": False,
            "has_pages": False,
            "has_discussions": False,
            "forks_count": repo.forks,
            "mirror_url": None,
            "archived": repo.archived,
            "disabled": False,
            "open_issues_count": repo.id % 17,
            "license": None,
            "allow_forking": True,
            "is_template": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "visibility": "public",
            "forks": repo.forks,
            "open_issues": repo.id % 17,
            "watchers": repo.stars,
            "default_branch": repo.default_branch,
        }
    )
    if authorized:  # GitHub adds the caller's permissions only for an authenticated caller
        body["permissions"] = {
            "admin": False,
            "maintain": False,
            "push": False,
            "triage": False,
            "pull": True,
        }
        body["temp_clone_token"] = ""
    body["network_count"] = repo.forks
    body["subscribers_count"] = max(1, repo.stars // 4)
    return body


def commit_sha(repo: FakeRepo, moment: datetime, index: int) -> str:
    return hashlib.sha1(f"{repo.id}:{index}:{moment.isoformat()}".encode()).hexdigest()


def commits_with_sha(repo: FakeRepo) -> list[tuple[str, datetime]]:
    """(sha, committer date) newest first; a commit's sha depends on its position from the oldest,
    so a push does not change the shas of earlier commits."""
    oldest_first = sorted(repo.commits)
    with_sha = [(commit_sha(repo, moment, i), moment) for i, moment in enumerate(oldest_first)]
    return with_sha[::-1]


def commit_json(api: str, repo: FakeRepo, sha: str, moment: datetime, parent: str | None) -> dict[str, Any]:
    url = f"{api}/repos/{repo.full_name}"
    login = repo.contributors[int(sha[:4], 16) % len(repo.contributors)] if repo.contributors else None
    person = {"name": login or "Anonymous", "email": f"{login or 'anon'}@users.noreply.github.com"}
    return {
        "sha": sha,
        "node_id": base64.b64encode(f"C_{sha}".encode()).decode(),
        "commit": {
            "author": {**person, "date": iso(moment)},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "date": iso(moment)},
            "message": f"Change {sha[:7]}",
            "tree": {"sha": sha[::-1], "url": f"{url}/git/trees/{sha[::-1]}"},
            "url": f"{url}/git/commits/{sha}",
            "comment_count": 0,
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None},
        },
        "url": f"{url}/commits/{sha}",
        "html_url": f"https://github.com/{repo.full_name}/commit/{sha}",
        "comments_url": f"{url}/commits/{sha}/comments",
        "author": user_json(api, login) if login else None,
        "committer": user_json(api, "web-flow"),
        "parents": [{"sha": parent, "url": f"{url}/commits/{parent}", "html_url": ""}] if parent else [],
    }


def commit_activity(repo: FakeRepo, now: datetime) -> list[dict[str, Any]]:
    """52 Sunday-aligned UTC weeks, oldest first, the last one holding ``now``."""
    last = week_start(now)
    first = last - timedelta(weeks=51)
    days = [[0] * 7 for _ in range(52)]
    for moment in repo.commits:
        offset = (moment.astimezone(UTC) - first).total_seconds()
        if 0 <= offset < 52 * 7 * 86400:
            day = int(offset // 86400)
            days[day // 7][day % 7] += 1
    return [
        {"total": sum(d), "week": int((first + timedelta(weeks=i)).timestamp()), "days": d}
        for i, d in enumerate(days)
    ]


# ---------------------------------------------------------------------- pagination
def link_header(req: Incoming, canonical: str, page: int, last: int) -> str | None:
    """A real ``Link`` header: absolute URLs of this fake, in the ``/repositories/{id}`` form."""
    if last <= 1 and page <= 1:
        return None
    params = [(k, v) for k, v in req.param_list if k != "page"]

    def url(p: int) -> str:
        return f"{canonical}?{urlencode([*params, ('page', str(p))])}"

    rels = []
    if page > 1:
        rels.append((url(min(page - 1, last)), "prev"))
    if page < last:
        rels += [(url(page + 1), "next"), (url(last), "last")]
    if page > 1:
        rels.append((url(1), "first"))
    return ", ".join(f'<{u}>; rel="{rel}"' for u, rel in rels)


def paginate(req: Incoming, items: list[Any], canonical: str) -> tuple[list[Any], Headers]:
    params = req.params
    per_page = int_param(params, "per_page", 30, 1, 100)
    page = int_param(params, "page", 1, 1, 10**9)
    last = max(1, math.ceil(len(items) / per_page))
    link = link_header(req, canonical, page, last)
    return items[(page - 1) * per_page : page * per_page], [("link", link)] if link else []


# ---------------------------------------------------------------------- dispatch
def resolve(state: FakeState, req: Incoming, api_path: str) -> tuple[_RepoSlot | None, Reply | None, str]:
    """Find the repository a path names: (slot, None, suffix), or (None, 301/404 reply, suffix)."""
    match = ROUTE.match(api_path)
    if not match:
        return None, json_reply(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"}), ""
    suffix = match["suffix"]
    if match["id"]:
        slot = state._slot_by_id(int(match["id"]))
        return (slot, None, suffix) if slot else (None, not_found(), suffix)
    full_name = f"{match['owner']}/{match['name']}"
    slot = state._slot_by_name(full_name)
    if slot:
        return slot, None, suffix
    moved = state._slot_by_old_name(full_name)
    if moved:
        # GitHub redirects an old name to the id form, keeping the rest of the path and the query.
        location = f"{req.base_url}/github/repositories/{moved.repo.id}{suffix}"
        if req.query:
            location += f"?{req.query}"
        body = {"message": "Moved Permanently", "url": location, "documentation_url": f"{DOCS}/guides"}
        return None, json_reply(301, body, [("location", location)]), suffix
    return None, not_found(), suffix


def respond(state: FakeState, req: Incoming, api_path: str) -> Reply:
    """The answer for a REST GET, before quota headers. Handles conditional requests."""
    if req.method not in ("GET", "HEAD"):
        return json_reply(404, {"message": "Not Found", "documentation_url": DOCS, "status": "404"})
    slot, early, suffix = resolve(state, req, api_path)
    if early is not None:
        return early
    assert slot is not None
    repo = slot.repo
    api = f"{req.base_url}/github"
    canonical = f"{api}/repositories/{repo.id}{suffix}"
    extra: Headers = []
    if suffix == "":
        body: Any = repo_json(api, repo, req.token is not None)
        extra.append(("last-modified", http_date(repo.pushed_at or datetime(2015, 1, 1, tzinfo=UTC))))
    elif suffix == "/contributors":
        if not repo.commits:
            return Reply(204, b"", list(COMMON_HEADERS))
        n = len(repo.contributors)
        everyone = [
            {**user_json(api, login), "contributions": max(1, (n - i) * 3 - 2)}
            for i, login in enumerate(repo.contributors)
        ]
        body, extra = paginate(req, everyone, canonical)
    elif suffix == "/stats/commit_activity":
        if not repo.commits:
            return Reply(204, b"", list(COMMON_HEADERS))
        if not slot.stats_ready:
            # The first ask fires GitHub's background job; the next one gets the numbers.
            slot.stats_ready = True
            return json_reply(202, {})
        body = commit_activity(repo, state.clock())
    else:  # /commits
        history = commits_with_sha(repo)
        if not history:
            doc = "https://docs.github.com/rest/commits/commits#list-commits"
            return json_reply(
                409, {"message": "Git Repository is empty.", "documentation_url": doc, "status": "409"}
            )
        params = req.params
        since, until = parse_time(params.get("since", "")), parse_time(params.get("until", ""))
        history = [(s, m) for s, m in history if (not since or m >= since) and (not until or m <= until)]
        items = [
            (s, m, history[i + 1][0] if i + 1 < len(history) else None) for i, (s, m) in enumerate(history)
        ]
        page_items, extra = paginate(req, items, canonical)
        body = [commit_json(api, repo, s, m, parent) for s, m, parent in page_items]
    return conditional(req, 200, dumps(body), extra)


def conditional(req: Incoming, status: int, payload: bytes, extra: Headers) -> Reply:
    # The ETag covers the token too: GitHub gives a different ETag to a different token.
    etag = f'W/"{digest(payload, req.authorization or "")}"'
    cache = "private" if req.authorization else "public"
    headers = [
        *COMMON_HEADERS,
        ("cache-control", f"{cache}, max-age=60, s-maxage=60"),
        ("vary", "Accept, Authorization, Cookie, X-GitHub-OTP"),
        ("vary", "Accept-Encoding, Accept, X-Requested-With"),
        ("etag", etag),
        *extra,
    ]
    if etag.removeprefix("W/") in req.if_none_match():
        return Reply(304, b"", [h for h in headers if h[0] != "content-type"])
    return Reply(status, payload, headers)


def rate_limit_body(state: FakeState, req: Incoming) -> Reply:
    """``GET /rate_limit``: free, like GitHub's."""
    key = req.token or "anonymous"
    resources = {}
    for resource in ("core", "graphql"):
        win = state._window_for(resource, key, req.wall)
        reset = win.reset or math.ceil(req.wall + state.window)
        resources[resource] = {
            "limit": win.limit,
            "used": win.used,
            "remaining": max(0, win.limit - win.used),
            "reset": reset,
        }
    return json_reply(
        200, {"resources": resources, "rate": resources["core"]}, [("cache-control", "no-cache")]
    )
