"""PyPI's JSON API (``GET /pypi/<project>/json``), shaped like the bodies in upstream-samples/."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .protocol import Headers, Incoming, Reply, dumps
from .state import normalize_project_name, version_key

if TYPE_CHECKING:
    from .state import FakeProject, FakeState

ROUTE = re.compile(r"^/pypi/(?P<name>[^/]+)/json/?$")
BASE_HEADERS: Headers = [
    ("server", "nginx/1.13.9"),
    ("access-control-allow-origin", "*"),
    (
        "access-control-allow-headers",
        "Content-Type, If-Match, If-Modified-Since, If-None-Match, If-Unmodified-Since",
    ),
    ("access-control-allow-methods", "GET"),
    ("x-content-type-options", "nosniff"),
]
FIRST_UPLOAD = datetime(2019, 3, 4, 12, 0, 0, tzinfo=UTC)


def classify(api_path: str) -> str:
    return "pypi_project" if ROUTE.match(api_path) else "other"


def latest_version(project: FakeProject) -> str | None:
    """Warehouse's pick: the newest non-yanked final release; else the newest non-yanked one."""
    live = [v for v, yanked in project.releases.items() if not yanked]
    finals = [v for v in live if not version_key(v).is_prerelease]
    pool = finals or live or list(project.releases)
    return max(pool, key=version_key) if pool else None


def _files(project: FakeProject, version: str, order: int, yanked: bool) -> list[dict[str, Any]]:
    stem = re.sub(r"[-_.]+", "_", project.name).lower()
    uploaded = FIRST_UPLOAD + timedelta(days=41 * order, seconds=order * 37)
    files = []
    for i, (filename, packagetype, python_version) in enumerate(
        [
            (f"{stem}-{version}-py3-none-any.whl", "bdist_wheel", "py3"),
            (f"{stem}-{version}.tar.gz", "sdist", "source"),
        ]
    ):
        sha = hashlib.sha256(filename.encode()).hexdigest()
        md5 = hashlib.md5(filename.encode()).hexdigest()
        moment = uploaded + timedelta(seconds=i * 3)
        files.append(
            {
                "comment_text": "",
                "digests": {"blake2b_256": sha[::-1], "md5": md5, "sha256": sha},
                "downloads": -1,
                "filename": filename,
                "has_sig": False,
                "md5_digest": md5,
                "packagetype": packagetype,
                "python_version": python_version,
                "requires_python": ">=3.10",
                "size": 5000 + int(sha[:4], 16),
                "upload_time": moment.strftime("%Y-%m-%dT%H:%M:%S"),
                "upload_time_iso_8601": moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "url": f"https://files.pythonhosted.org/packages/{sha[:2]}/{sha[2:4]}/{sha[4:]}/{filename}",
                "yanked": yanked,
                "yanked_reason": "Broken release" if yanked else None,
            }
        )
    return files


def project_json(project: FakeProject, serial: int) -> dict[str, Any]:
    ordered = sorted(project.releases, key=version_key)
    releases = {v: _files(project, v, i, project.releases[v]) for i, v in enumerate(ordered)}
    version = latest_version(project) or ""
    page = f"https://pypi.org/project/{project.name}/"
    info = {
        "author": "",
        "author_email": f"{normalize_project_name(project.name)}@example.org",
        "bugtrack_url": None,
        "classifiers": [
            "Development Status :: 5 - Production/Stable",
            "Framework :: Django",
            "License :: OSI Approved :: MIT License",
            "Programming Language :: Python :: 3",
        ],
        "description": f"{project.name}\n{'=' * len(project.name)}\n",
        "description_content_type": "text/x-rst",
        "docs_url": project.docs_url,
        "download_url": "",
        "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
        "dynamic": None,
        "home_page": (project.project_urls or {}).get("Homepage", ""),
        "keywords": "django",
        "license": "MIT",
        "license_expression": None,
        "license_files": None,
        "maintainer": "",
        "maintainer_email": "",
        "name": project.name,
        "package_url": page,
        "platform": None,
        "project_url": page,
        "project_urls": project.project_urls,
        "provides_extra": None,
        "release_url": f"{page}{version}/",
        "requires_dist": ["Django>=4.2"],
        "requires_python": ">=3.10",
        "summary": f"{project.name} for Django",
        "version": version,
        "yanked": project.releases.get(version, False),
        "yanked_reason": "Broken release" if project.releases.get(version) else None,
    }
    return {
        "info": info,
        "last_serial": serial,
        "releases": releases,
        "urls": releases.get(version, []),
        "vulnerabilities": [],
    }


def respond(state: FakeState, req: Incoming, api_path: str) -> Reply:
    match = ROUTE.match(api_path)
    found = state._project(normalize_project_name(match["name"])) if match else None
    if req.method not in ("GET", "HEAD") or found is None or not found[0].releases:
        return Reply(
            404, dumps({"message": "Not Found"}), [*BASE_HEADERS, ("content-type", "application/json")]
        )
    assert match is not None
    project, serial = found
    normalized = normalize_project_name(match["name"])
    if match["name"] != normalized:
        # Warehouse redirects every non-normalized spelling to the canonical URL.
        location = f"{req.base_url}/pypi/pypi/{normalized}/json"
        headers = [*BASE_HEADERS, ("location", location), ("content-type", "text/plain; charset=UTF-8")]
        return Reply(301, b"301 Moved Permanently\n", headers)
    payload = dumps(project_json(project, serial))
    etag = '"' + base64.urlsafe_b64encode(hashlib.md5(payload).digest()).decode().rstrip("=") + '"'
    headers = [
        *BASE_HEADERS,
        ("content-type", "application/json"),
        ("cache-control", "max-age=900, public"),
        ("etag", etag),
        ("x-pypi-last-serial", str(serial)),
        ("vary", "Accept-Encoding"),
    ]
    if etag in req.if_none_match():
        return Reply(304, b"", [h for h in headers if h[0] != "content-type"])
    return Reply(200, payload, headers)
