"""Swagger UI and ReDoc in a real headless browser (Debian's chromium) with the network cut off.

The real server (``python -m pkgindex serve``) serves the bundled sample on a free loopback port. The
browser can reach nothing but 127.0.0.1: host names resolve to nothing, every other request goes to a
proxy on a dead port, and every request is also routed through a handler that aborts (and records)
anything not on the loopback address, so a page that tried to load a CDN asset fails the test even if
it would still render without it.

Skipped only where no browser (or no ``playwright`` package) is installed, and never under CI
(``CI=true``), where that is a failure: ``.ci/run`` installs chromium.
"""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import IN_CI, free_port, system_program

PKGINDEX = [sys.executable, "-m", "pkgindex"]
LOOPBACK = "127.0.0.1"
# Generous: chromium's first start on a cold 2-core machine is slow.
TIMEOUT_MS = 30_000
# One server and one browser for the module: `make test` keeps the group on one xdist worker.
pytestmark = pytest.mark.xdist_group("browser")


def start_server(
    command: list[str], env: dict[str, str], ready_url: str, log_path: Path
) -> subprocess.Popen[bytes]:
    log = log_path.open("w")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=log)
    log.close()
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(ready_url, timeout=1)
            return server
        except httpx.TransportError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.terminate()
                server.wait(timeout=15)
                pytest.fail(f"server did not start: {log_path.read_text()}")
            time.sleep(0.2)


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=15)


@pytest.fixture(scope="module")
def sample_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment of a migrated SQLite database holding the bundled sample."""
    db = tmp_path_factory.mktemp("docs-browser") / "pkgindex.db"
    env = {
        **os.environ,
        "PKGINDEX_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "PKGINDEX_LOG_LEVEL": "warning",
    }
    for args in (["migrate"], ["import", "--sample", "--if-empty"]):
        subprocess.run([*PKGINDEX, *args], env=env, capture_output=True, timeout=120, check=True)
    return env


@pytest.fixture(scope="module")
def served(sample_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``pkgindex serve`` on a free loopback port; yields its base URL."""
    port = free_port()
    base = f"http://{LOOPBACK}:{port}"
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    server = start_server([*PKGINDEX, "serve", "--port", str(port)], sample_env, f"{base}/api/v4/", log)
    try:
        yield base
    finally:
        stop_server(server)


PREFIX = "/pkgindex"
# The app as uvicorn serves it behind a proxy that mounts it under PREFIX and strips the prefix
# (`uvicorn --root-path`): each request's scope has the prefix as root_path and in its path.
BEHIND_PROXY = f"""
import sys
import uvicorn
from pkgindex.main import create_app

app = create_app()

async def behind_proxy(scope, receive, send):
    if scope["type"] != "lifespan":
        scope = {{**scope, "root_path": "{PREFIX}"}}
    await app(scope, receive, send)

uvicorn.run(behind_proxy, host="{LOOPBACK}", port=int(sys.argv[1]), log_level="warning")
"""


@pytest.fixture(scope="module")
def served_under_prefix(
    sample_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The same app under the path prefix PREFIX; yields the prefixed base URL."""
    port = free_port()
    base = f"http://{LOOPBACK}:{port}{PREFIX}"
    log = tmp_path_factory.mktemp("serve-prefix") / "serve.log"
    server = start_server([sys.executable, "-c", BEHIND_PROXY, str(port)], sample_env, f"{base}/api/v4/", log)
    try:
        yield base
    finally:
        stop_server(server)


class OfflineBrowser:
    """A chromium page that can reach only the loopback address; ``outside`` lists every request
    the page sent elsewhere (each one aborted)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.outside: list[str] = []
        self.failed: list[tuple[str, str, str]] = []
        self.errors: list[str] = []
        page.route("**/*", self._only_loopback)
        page.on(
            "requestfailed",
            lambda request: self.failed.append((request.resource_type, request.url, str(request.failure))),
        )
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on(
            "console",
            lambda message: self.errors.append(message.text) if message.type == "error" else None,
        )

    def _only_loopback(self, route: Any) -> None:
        url = route.request.url
        if urlsplit(url).hostname == LOOPBACK:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort("internetdisconnected")

    def assert_clean(self) -> None:
        assert self.outside == [], "the page sent requests off the machine"
        # The one thing the docs' Content-Security-Policy may block is an image the bundle hard-codes
        # (ReDoc's "API docs by Redocly" logo, which hides itself when it cannot load): the browser
        # refuses it before any request leaves. A script or stylesheet from elsewhere is a failure.
        blocked_images = [url for kind, url, failure in self.failed if kind == "image" and failure == "csp"]
        assert [failure for failure in self.failed if failure[1] not in blocked_images] == []
        errors = [
            error
            for error in self.errors
            if not any(url in error and "Content Security Policy" in error for url in blocked_images)
        ]
        assert errors == []


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = system_program("chromium", "PKGINDEX_TEST_CHROMIUM", "/usr/bin/chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if IN_CI:
            raise
        pytest.skip("the playwright package is not installed (pip install -e '.[dev]')")
    dead_port = free_port()  # nothing listens there: a proxy that refuses every connection
    args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE {LOOPBACK}",
        f"--proxy-server=http://{LOOPBACK}:{dead_port}",
        f"--proxy-bypass-list={LOOPBACK}",
    ]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=args)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def offline(browser: Any) -> Iterator[OfflineBrowser]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield OfflineBrowser(context.new_page())
    finally:
        context.close()


def try_list_packages_in_swagger_ui(offline: OfflineBrowser, base: str) -> None:
    """Open Swagger UI, find GET /api/v4/packages/, run it with "Try it out" and "Execute"."""
    page = offline.page
    page.goto(f"{base}/docs")
    operation = page.locator(
        '.opblock.opblock-get:has(.opblock-summary-path[data-path="/api/v4/packages/"])'
    ).first
    operation.wait_for()
    # Every operation of the document is rendered.
    spec = httpx.get(f"{base}/openapi.json").json()
    expected = sum(len(operations) for operations in spec["paths"].values())
    page.wait_for_function(f"document.querySelectorAll('.opblock').length >= {expected}")

    operation.locator(".opblock-summary").first.click()
    operation.get_by_role("button", name="Try it out").click()
    with page.expect_response(lambda response: "/api/v4/packages/" in response.url) as answer:
        operation.get_by_role("button", name="Execute").click()
    assert answer.value.status == 200
    assert answer.value.url.startswith(f"{base}/api/v4/packages/")
    status = operation.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    body = operation.locator(".live-responses-table .response-col_description pre").first.inner_text()
    assert '"count"' in body
    assert "django-dbsettings-new" in httpx.get(f"{base}/api/v4/packages/", params={"limit": 100}).text


def test_swagger_ui_renders_and_tries_an_operation_offline(served: str, offline: OfflineBrowser) -> None:
    try_list_packages_in_swagger_ui(offline, served)
    # The page's own assets all came from pkgindex.
    assets = offline.page.evaluate(
        "[...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href)"
    )
    assert assets
    assert all(url.startswith(f"{served}/docs/static/") for url in assets), assets
    offline.assert_clean()


def test_swagger_ui_works_under_a_path_prefix(served_under_prefix: str, offline: OfflineBrowser) -> None:
    try_list_packages_in_swagger_ui(offline, served_under_prefix)
    offline.assert_clean()


def test_redoc_renders_the_operations_offline(served: str, offline: OfflineBrowser) -> None:
    page = offline.page
    page.goto(f"{served}/redoc")
    spec = httpx.get(f"{served}/openapi.json").json()
    list_packages = spec["paths"]["/api/v4/packages/"]["get"]
    section = page.locator(f'[data-section-id="operation/{list_packages["operationId"]}"]')
    section.wait_for()
    assert list_packages["summary"] in section.inner_text()
    for operations in spec["paths"].values():
        for operation in operations.values():
            assert page.locator(f'[data-section-id="operation/{operation["operationId"]}"]').count() == 1
    offline.assert_clean()
