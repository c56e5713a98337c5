"""PyPI: the latest release and the documentation link of each package's project, conditionally."""

import re
from typing import Any

import httpx
from packaging.version import InvalidVersion, Version

from pkgindex.config import Settings
from pkgindex.refresh.gate import HostGate
from pkgindex.refresh.hosts import Job, Outcome
from pkgindex.refresh.upstream import Traffic, Transient, Upstream, UpstreamError

PROJECT_URL = re.compile(
    r"^https?://(?:www\.)?(?:pypi\.python\.org/pypi|pypi\.org/(?:project|pypi))/([A-Za-z0-9._-]+)(?:/.*)?$"
)
DOCUMENTATION_LABELS = {"documentation", "docs"}


def project_name(pypi_url: str) -> str | None:
    """The normalized (PEP 503) project name of a PyPI page URL; asking for it saves a redirect."""
    match = PROJECT_URL.match(pypi_url.strip())
    return re.sub(r"[-_.]+", "-", match[1]).lower() if match else None


def latest_version(body: dict[str, Any]) -> str | None:
    """``info.version``, the newest non-yanked final release, unless it is itself yanked (it can be,
    when every release is); then the newest release with a file that is not."""
    info = body["info"]
    if not info.get("yanked"):
        return str(info["version"])
    candidates: list[Version] = []
    for version, files in (body.get("releases") or {}).items():
        try:
            parsed = Version(version)
        except InvalidVersion:
            continue
        if any(not file.get("yanked") for file in files):
            candidates.append(parsed)
    return str(max(candidates)) if candidates else None


def documentation_link(info: dict[str, Any]) -> str | None:
    if info.get("docs_url"):
        return str(info["docs_url"])
    for label, url in (info.get("project_urls") or {}).items():
        if label.strip().lower() in DOCUMENTATION_LABELS and url:
            return str(url)
    return None


class PyPI:
    def __init__(self, settings: Settings, traffic: Traffic) -> None:
        self.base = settings.pypi_url.rstrip("/")
        self.http = Upstream(
            HostGate("pypi", settings.pypi_concurrency),
            traffic,
            timeout=settings.upstream_timeout,
            retries=settings.upstream_retries,
            backoff=settings.upstream_backoff,
            headers={"Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    async def refresh(self, job: Job) -> Outcome:
        out = Outcome(state={"fetched_pypi_url": job.pypi_url})
        name = project_name(job.pypi_url)
        if name is None:
            out.skipped = f"not a PyPI project URL: {job.pypi_url}"
            return out
        etag = job.pypi_etag if job.fetched_pypi_url == job.pypi_url else None

        def read(response: httpx.Response) -> httpx.Response:
            if response.status_code in (304, 404):
                return response
            if response.status_code != 200:
                raise UpstreamError(f"PyPI: HTTP {response.status_code} for {name}")
            try:
                latest_version(response.json())
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise Transient(f"PyPI: malformed body for {name}") from exc
            return response

        try:
            response = await self.http.fetch(
                "GET", f"{self.base}/pypi/{name}/json", read, resource="pypi", etag=etag, charge=_free
            )
        except UpstreamError as exc:
            out.error = str(exc)
            return out
        out.state["pypi_missing"] = response.status_code == 404
        if response.status_code == 404:
            out.error = f"PyPI project {name} not found"
        elif response.status_code == 200:
            body = response.json()
            if (version := latest_version(body)) is not None:
                out.values["pypi_version"] = version
            out.values["documentation_url"] = documentation_link(body["info"])
            out.state["pypi_etag"] = response.headers.get("etag")
        return out


def _free(_response: httpx.Response) -> int:
    return 0
