"""pkgindex behind a real nginx (Debian's package; `.ci/run` installs it), mounted under /pkgindex/.

``pkgindex serve`` runs with ``PKGINDEX_ROOT_PATH=/pkgindex`` and trusts forwarded headers only from
127.0.0.2. nginx, in a prefix of its own under the test's temporary directory, listens on a free
127.0.0.1 port, strips /pkgindex/ and connects to pkgindex from 127.0.0.2 (``proxy_bind``; all of 127/8
is local on Linux), claiming https as a TLS-terminating proxy would. So the trusted proxy and a client
that talks to pkgindex directly (from 127.0.0.1) are told apart by their address.

Through nginx every hyperlink is ``https://127.0.0.1:NGINXPORT/pkgindex/api/v4/...`` and answers; the
docs and their assets load, in a real browser too. Sent directly, forged forwarded headers change
nothing. Skipped only where nginx (or chromium, for the browser test) is missing, never under CI.
"""

import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import tests.test_docs_browser as docs_browser
from tests.conftest import Databases, free_port, system_program

PKGINDEX = [sys.executable, "-m", "pkgindex"]
PREFIX = "/pkgindex"
PROXY_ADDRESS = "127.0.0.2"  # nginx connects to pkgindex from here: the one trusted proxy
OTHER_CLIENT = "127.0.0.3"  # a client of nginx that is not 127.0.0.1
TIMEOUT = 10
# The browser test shares the machine's chromium budget with tests/test_docs_browser.py: keep the
# module on the browser tests' xdist worker (`make test` runs --dist loadgroup).
pytestmark = pytest.mark.xdist_group("browser")

# The browser fixtures of the docs tests: headless chromium that can reach 127.0.0.1 only.
browser = docs_browser.browser
offline = docs_browser.offline


NGINX_CONF = """\
{user}
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 128; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location {prefix}/ {{
            proxy_pass http://127.0.0.1:{upstream}/;
            proxy_bind {bind};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        }}
    }}
}}
"""


def wait_until_up(process: subprocess.Popen[bytes], url: str, log: Path, what: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            pytest.fail(f"{what} did not start: {log.read_text() if log.exists() else '(no log)'}")
        time.sleep(0.2)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=15)


def new_database(databases: Databases, backend: str) -> str:
    """``databases.new`` in a thread of its own: it runs an event loop, and in this thread playwright's
    (the browser fixture's, alive for the whole module) may be running already."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(databases.new, backend).result(timeout=120)


@dataclass(frozen=True)
class Stack:
    direct: str  # pkgindex itself: http://127.0.0.1:PORT
    proxied: str  # through nginx: http://127.0.0.1:NGINXPORT/pkgindex
    public: str  # what the links say through nginx: https://127.0.0.1:NGINXPORT/pkgindex
    serve_log: Path

    def fetch(self, link: str, **kwargs: Any) -> httpx.Response:
        """GET a link served through nginx (which speaks http here, whatever the links claim)."""
        assert link.startswith(f"{self.public}/api/v4/"), link
        return httpx.get(self.proxied + link.removeprefix(self.public), timeout=TIMEOUT, **kwargs)

    def access_records(self, request_id: str) -> list[dict[str, Any]]:
        """pkgindex's access-log lines of the request with this X-Request-ID (waits for it a little)."""
        deadline = time.monotonic() + 5
        while True:
            records = []
            for line in self.serve_log.read_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("logger") == "pkgindex.access" and record.get("request_id") == request_id:
                    records.append(record)
            if records or time.monotonic() > deadline:
                return records
            time.sleep(0.1)


@pytest.fixture(scope="module")
def stack(backend: str, databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The sample data served by ``pkgindex serve`` behind nginx."""
    nginx = system_program("nginx", "PKGINDEX_TEST_NGINX", "/usr/sbin/nginx")
    tmp = tmp_path_factory.mktemp(f"proxy-{backend}")
    env = {
        **os.environ,
        "PKGINDEX_DATABASE_URL": new_database(databases, backend),
        "PKGINDEX_ROOT_PATH": PREFIX,
        "PKGINDEX_FORWARDED_ALLOW_IPS": PROXY_ADDRESS,
        "PKGINDEX_LOG_LEVEL": "info",
    }
    for args in (["migrate"], ["import", "--sample", "--if-empty"]):
        subprocess.run([*PKGINDEX, *args], env=env, capture_output=True, timeout=120, check=True)

    port, nginx_port = free_port(), free_port()
    (tmp / "nginx.conf").write_text(
        NGINX_CONF.format(
            # Run as root (tests in CI containers do), nginx's workers would be `nobody`: keep root.
            user="user root;" if os.geteuid() == 0 else "",
            tmp=tmp,
            port=nginx_port,
            prefix=PREFIX,
            upstream=port,
            bind=PROXY_ADDRESS,
        )
    )
    serve_log = tmp / "serve.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with serve_log.open("w") as log:
            processes.append(
                subprocess.Popen(
                    [*PKGINDEX, "serve", "--host", "127.0.0.1", "--port", str(port)],
                    env=env,
                    stdout=log,
                    stderr=log,
                )
            )
        direct = f"http://127.0.0.1:{port}"
        wait_until_up(processes[-1], f"{direct}/api/v4/", serve_log, "pkgindex serve")
        with (tmp / "nginx.out").open("w") as log:
            processes.append(
                subprocess.Popen(
                    [
                        nginx,
                        "-p",
                        str(tmp),
                        "-e",
                        str(tmp / "error.log"),
                        "-c",
                        str(tmp / "nginx.conf"),
                        "-g",
                        "daemon off;",
                    ],
                    stdout=log,
                    stderr=log,
                )
            )
        proxied = f"http://127.0.0.1:{nginx_port}{PREFIX}"
        wait_until_up(processes[-1], f"{proxied}/api/v4/", tmp / "error.log", "nginx")
        yield Stack(direct, proxied, f"https://127.0.0.1:{nginx_port}{PREFIX}", serve_log)
    finally:
        for process in reversed(processes):
            stop(process)


def get_json(stack: Stack, link: str, **params: Any) -> Any:
    # (no params= unless given: an empty one would drop the link's own query)
    response = stack.fetch(link, **({"params": params} if params else {}))
    assert response.status_code == 200, (link, response.text)
    return response.json()


def test_every_link_through_nginx_is_public_and_answers(stack: Stack) -> None:
    api = f"{stack.public}/api/v4/"
    root = get_json(stack, api)
    assert root
    for name, link in root.items():
        assert link == f"{api}{name}/"
        assert stack.fetch(link).status_code == 200

    package = get_json(stack, f"{api}packages/django-dbsettings-new/")
    assert package["category"] == f"{api}categories/1/"
    assert package["grids"] == [f"{api}grids/55/"]
    category = get_json(stack, package["category"])
    assert category["id"] == 1

    grid = get_json(stack, package["grids"][0])
    assert grid["packages"]
    assert f"{api}packages/{package['id']}/" in grid["packages"]
    for link in grid["packages"]:
        assert link.startswith(f"{api}packages/")
        assert stack.fetch(link).status_code == 200

    first = get_json(stack, f"{api}packages/", limit=5)
    assert first["previous"] is None
    assert first["next"] == f"{api}packages/?limit=5&offset=5"
    second = get_json(stack, first["next"])
    assert second["previous"] == f"{api}packages/?limit=5"
    assert second["next"] == f"{api}packages/?limit=5&offset=10"
    assert get_json(stack, second["previous"]) == first
    for record in first["results"] + second["results"]:
        assert record["category"].startswith(f"{api}categories/")
        assert all(link.startswith(f"{api}grids/") for link in record["grids"])

    grids = get_json(stack, f"{api}grids/", limit=2)
    assert grids["next"] == f"{api}grids/?limit=2&offset=2"
    assert get_json(stack, grids["next"])["previous"] == f"{api}grids/?limit=2"


def test_the_openapi_document_names_the_prefix_as_its_server(stack: Stack) -> None:
    response = httpx.get(f"{stack.proxied}/openapi.json", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.json()["servers"] == [{"url": PREFIX}]


ASSET = re.compile(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""")


@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_the_docs_and_their_assets_load_through_nginx(stack: Stack, page: str) -> None:
    response = httpx.get(f"{stack.proxied}/{page}", timeout=TIMEOUT)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    referenced = set(ASSET.findall(response.text))
    assert f"{PREFIX}/openapi.json" in referenced
    assert any("/docs/static/" in url for url in referenced)
    for url in referenced:
        assert url.startswith(f"{PREFIX}/"), url  # the page refers to nothing off the prefix
        origin = stack.proxied.removesuffix(PREFIX)
        assert httpx.get(origin + url, timeout=TIMEOUT).status_code == 200, url


def test_swagger_ui_through_nginx_tries_an_operation(
    stack: Stack, offline: docs_browser.OfflineBrowser
) -> None:
    docs_browser.try_list_packages_in_swagger_ui(offline, stack.proxied)
    assets = offline.page.evaluate(
        "[...document.querySelectorAll('script[src], link[href]')].map(e => e.src || e.href)"
    )
    assert assets
    assert all(url.startswith(f"{stack.proxied}/docs/static/") for url in assets), assets
    offline.assert_clean()


FORGED = [
    {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"},
    {"Forwarded": "for=203.0.113.9;host=evil.example;proto=https"},
    {"Forwarded": 'for="203.0.113.9";host="evil.example";proto="https"', "X-Forwarded-Host": "evil.example"},
]


@pytest.mark.parametrize("headers", FORGED)
def test_forged_forwarded_headers_sent_directly_change_nothing(stack: Stack, headers: dict[str, str]) -> None:
    api = f"{stack.direct}{PREFIX}/api/v4/"  # the real host, and the prefix the links always carry
    request_id = uuid.uuid4().hex
    root = httpx.get(
        f"{stack.direct}/api/v4/", headers={**headers, "X-Request-ID": request_id}, timeout=TIMEOUT
    ).json()
    assert root["packages"] == f"{api}packages/"
    assert all(link.startswith(api) for link in root.values())
    package = httpx.get(
        f"{stack.direct}/api/v4/packages/django-dbsettings-new/", headers=headers, timeout=TIMEOUT
    ).json()
    assert package["category"] == f"{api}categories/1/"
    assert package["grids"] == [f"{api}grids/55/"]
    page = httpx.get(
        f"{stack.direct}/api/v4/packages/", params={"limit": 5}, headers=headers, timeout=TIMEOUT
    ).json()
    assert page["next"] == f"{api}packages/?limit=5&offset=5"
    # The address in the log is the connection's, not the one the headers claim.
    assert [record["client"] for record in stack.access_records(request_id)] == ["127.0.0.1"]


def test_the_logged_client_is_the_one_nginx_saw(stack: Stack) -> None:
    # A client of nginx at 127.0.0.3 that claims to be 203.0.113.9: nginx appends the address it saw,
    # and pkgindex, trusting nginx (127.0.0.2) only, logs that one.
    request_id = uuid.uuid4().hex
    transport = httpx.HTTPTransport(local_address=OTHER_CLIENT)
    with httpx.Client(transport=transport, timeout=TIMEOUT) as client:
        response = client.get(
            f"{stack.proxied}/api/v4/",
            headers={"X-Request-ID": request_id, "X-Forwarded-For": "203.0.113.9"},
        )
    assert response.status_code == 200
    assert response.json()["packages"] == f"{stack.public}/api/v4/packages/"
    assert [record["client"] for record in stack.access_records(request_id)] == [OTHER_CLIENT]
