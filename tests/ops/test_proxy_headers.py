"""Forwarded / X-Forwarded-* headers, in process: applied only from the proxies in
``PKGINDEX_FORWARDED_ALLOW_IPS``, and then they set the scheme and host of every hyperlink and the client
address of the access log."""

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from pkgindex.config import Settings
from pkgindex.main import create_app
from tests.conftest import NO_RESPONSE_CACHE

PROXY = "10.1.2.3"
STRANGER = "198.51.100.7"
INTERNAL = "http://pkgindex.internal:8000"
PUBLIC = "https://packages.example.org"

Proxied = Callable[..., httpx.AsyncClient]


@pytest.fixture
def proxied(database_url: str, session_factory: async_sessionmaker[AsyncSession]) -> Proxied:
    """A client whose connections come from ``peer``, to an app that trusts ``allow``."""

    def make(peer: str = PROXY, allow: str = PROXY) -> httpx.AsyncClient:
        settings = Settings(
            database_url=database_url, forwarded_allow_ips=allow, response_cache_mb=NO_RESPONSE_CACHE
        )
        app = create_app(settings, session_factory=session_factory)
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=(peer, 51234)), base_url=INTERNAL
        )

    return make


@pytest.fixture
async def from_proxy(proxied: Proxied) -> AsyncIterator[httpx.AsyncClient]:
    async with proxied() as client:
        yield client


@pytest.fixture
def sample(loaded: dict[str, Any]) -> dict[str, Any]:
    """A package of the loaded dump that is in a grid and a category."""
    return next(package for package in loaded["packages"] if package["grids"] and package["category"])


@pytest.fixture
def access_log() -> Iterator[list[logging.LogRecord]]:
    """The records of ``pkgindex.access`` (a handler of its own: the logger may not propagate)."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("pkgindex.access")
    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def assert_links_under(record: dict[str, Any], base: str) -> None:
    assert record["category"].startswith(f"{base}/api/v4/categories/")
    assert record["grids"]
    assert all(grid.startswith(f"{base}/api/v4/grids/") for grid in record["grids"])


async def detail(client: httpx.AsyncClient, package: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await client.get(f"/api/v4/packages/{package['id']}/", headers=headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


X_FORWARDED = {
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "packages.example.org",
    "X-Forwarded-For": "203.0.113.5",
}


async def test_without_forwarded_headers_links_use_the_request_host(
    from_proxy: httpx.AsyncClient, sample: dict[str, Any]
) -> None:
    assert_links_under(await detail(from_proxy, sample), INTERNAL)


async def test_x_forwarded_headers_from_a_trusted_proxy_set_the_links(
    from_proxy: httpx.AsyncClient, sample: dict[str, Any]
) -> None:
    record = await detail(from_proxy, sample, **X_FORWARDED)
    assert_links_under(record, PUBLIC)
    root = (await from_proxy.get("/api/v4/", headers=X_FORWARDED)).json()
    assert root["packages"] == f"{PUBLIC}/api/v4/packages/"

    page = (await from_proxy.get("/api/v4/packages/", params={"limit": 5}, headers=X_FORWARDED)).json()
    assert page["next"] == f"{PUBLIC}/api/v4/packages/?limit=5&offset=5"
    assert all(package["category"].startswith(f"{PUBLIC}/") for package in page["results"])
    page = (
        await from_proxy.get("/api/v4/packages/", params={"limit": 5, "offset": 10}, headers=X_FORWARDED)
    ).json()
    assert page["previous"] == f"{PUBLIC}/api/v4/packages/?limit=5&offset=5"


async def test_x_forwarded_host_may_carry_a_port_and_proto_alone_keeps_the_host(
    from_proxy: httpx.AsyncClient, sample: dict[str, Any]
) -> None:
    record = await detail(from_proxy, sample, **{"X-Forwarded-Host": "packages.example.org:8443"})
    assert_links_under(record, "http://packages.example.org:8443")
    record = await detail(from_proxy, sample, **{"X-Forwarded-Proto": "https"})
    assert_links_under(record, "https://pkgindex.internal:8000")


async def test_of_several_x_forwarded_values_the_last_one_counts(
    from_proxy: httpx.AsyncClient, sample: dict[str, Any]
) -> None:
    # Each proxy appends: the trusted one (nearest) wrote the last value.
    headers = {"X-Forwarded-Proto": "http, https", "X-Forwarded-Host": "evil.example, packages.example.org"}
    assert_links_under(await detail(from_proxy, sample, **headers), PUBLIC)


@pytest.mark.parametrize(
    "forwarded",
    [
        "for=203.0.113.5;proto=https;host=packages.example.org",
        'for="203.0.113.5";proto="https";host="packages.example.org"',
        # Several elements (one header or several): the last one, the nearest proxy's, wins.
        "proto=http;host=evil.example, for=203.0.113.5;proto=https;host=packages.example.org",
        'for="[2001:db8::1]:4711";host="evil.example", '
        "For=203.0.113.5 ; Proto=https ; Host=packages.example.org",
        # A comma inside a quoted value does not end the element.
        'proto=http;host=evil.example, proto=https;for="_hidden,x";host=packages.example.org',
    ],
)
async def test_forwarded_from_a_trusted_proxy_sets_the_links(
    from_proxy: httpx.AsyncClient, sample: dict[str, Any], forwarded: str
) -> None:
    assert_links_under(await detail(from_proxy, sample, Forwarded=forwarded), PUBLIC)


async def test_forwarded_elements_in_several_headers(
    from_proxy: httpx.AsyncClient, sample: dict[str, Any]
) -> None:
    response = await from_proxy.get(
        f"/api/v4/packages/{sample['id']}/",
        headers=[
            ("Forwarded", "proto=http;host=evil.example"),
            ("Forwarded", "proto=https;host=packages.example.org"),
        ],
    )
    assert_links_under(response.json(), PUBLIC)


async def test_forwarded_wins_over_x_forwarded(from_proxy: httpx.AsyncClient, sample: dict[str, Any]) -> None:
    headers = {"Forwarded": "proto=https;host=packages.example.org", "X-Forwarded-Host": "other.example"}
    assert_links_under(await detail(from_proxy, sample, **headers), PUBLIC)


@pytest.mark.parametrize(
    "headers",
    [
        X_FORWARDED,
        {"Forwarded": "for=203.0.113.5;proto=https;host=packages.example.org"},
        {"Forwarded": "proto=https;host=evil.example", "X-Forwarded-Host": "evil.example"},
    ],
)
async def test_forwarded_headers_from_an_untrusted_peer_change_nothing(
    proxied: Proxied, sample: dict[str, Any], headers: dict[str, str], access_log: list[logging.LogRecord]
) -> None:
    async with proxied(peer=STRANGER) as client:
        assert_links_under(await detail(client, sample, **headers), INTERNAL)
        page = (await client.get("/api/v4/packages/", params={"limit": 5}, headers=headers)).json()
    assert page["next"] == f"{INTERNAL}/api/v4/packages/?limit=5&offset=5"
    assert {record.client for record in access_log} == {STRANGER}  # type: ignore[attr-defined]


async def test_an_empty_allow_list_trusts_nobody(proxied: Proxied, sample: dict[str, Any]) -> None:
    async with proxied(allow="") as client:
        assert_links_under(await detail(client, sample, **X_FORWARDED), INTERNAL)


@pytest.mark.parametrize(
    ("allow", "trusted"),
    [
        ("10.0.0.0/8", True),
        ("192.0.2.1, 10.1.2.0/24", True),
        ("10.1.3.0/24", False),
        ("*", True),
        ("10.1.2.4", False),
    ],
)
async def test_networks_and_star(proxied: Proxied, sample: dict[str, Any], allow: str, trusted: bool) -> None:
    async with proxied(allow=allow) as client:
        assert_links_under(await detail(client, sample, **X_FORWARDED), PUBLIC if trusted else INTERNAL)


async def test_ipv6_proxies(proxied: Proxied, sample: dict[str, Any]) -> None:
    async with proxied(peer="2001:db8::10", allow="2001:db8::/64") as client:
        assert_links_under(await detail(client, sample, **X_FORWARDED), PUBLIC)
    async with proxied(peer="2001:db9::10", allow="2001:db8::/64") as client:
        assert_links_under(await detail(client, sample, **X_FORWARDED), INTERNAL)


@pytest.mark.parametrize(
    "host",
    [
        "evil.example/path",
        "user@evil.example",
        "evil.example:8000/x",
        "evil.example:port",
        "evil example",
        "evil.example?x",
        "evil.example#x",
        "",
    ],
)
async def test_an_invalid_forwarded_host_is_ignored(
    from_proxy: httpx.AsyncClient, sample: dict[str, Any], host: str
) -> None:
    # The scheme still applies; the host stays the request's own.
    record = await detail(from_proxy, sample, **{"X-Forwarded-Host": host, "X-Forwarded-Proto": "https"})
    assert_links_under(record, "https://pkgindex.internal:8000")
    record = await detail(from_proxy, sample, Forwarded=f'proto=https;host="{host}"')
    assert_links_under(record, "https://pkgindex.internal:8000")


@pytest.mark.parametrize("proto", ["ftp", "javascript", "https://evil.example", ""])
async def test_an_invalid_forwarded_proto_is_ignored(
    from_proxy: httpx.AsyncClient, sample: dict[str, Any], proto: str
) -> None:
    headers = {"X-Forwarded-Proto": proto, "X-Forwarded-Host": "packages.example.org"}
    assert_links_under(await detail(from_proxy, sample, **headers), "http://packages.example.org")


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        # No header: the peer itself.
        (PROXY, {}, PROXY),
        (PROXY, {"X-Forwarded-For": "203.0.113.5"}, "203.0.113.5"),
        # The rightmost address that is not a trusted proxy; what the client wrote itself is left of it.
        (PROXY, {"X-Forwarded-For": "192.0.2.66, 203.0.113.5, 10.1.2.9"}, "203.0.113.5"),
        (PROXY, {"X-Forwarded-For": "192.0.2.66, 203.0.113.5:4711"}, "203.0.113.5"),
        (PROXY, [("X-Forwarded-For", "192.0.2.66"), ("X-Forwarded-For", "203.0.113.5")], "203.0.113.5"),
        (PROXY, {"Forwarded": 'for=192.0.2.66, for="[2001:db8::1]:4711", for=10.1.2.9'}, "2001:db8::1"),
        (PROXY, {"Forwarded": "for=203.0.113.5;proto=https", "X-Forwarded-For": "192.0.2.66"}, "203.0.113.5"),
        # Only trusted proxies in the chain: the peer stays the client.
        (PROXY, {"X-Forwarded-For": "10.1.2.9, 10.1.2.8"}, PROXY),
        # From anyone else the header is the client's own claim: ignored.
        (STRANGER, {"X-Forwarded-For": "203.0.113.5"}, STRANGER),
        (STRANGER, {"Forwarded": "for=203.0.113.5"}, STRANGER),
    ],
)
async def test_the_logged_client_is_the_rightmost_untrusted_address(
    proxied: Proxied,
    access_log: list[logging.LogRecord],
    peer: str,
    headers: dict[str, str] | list[tuple[str, str]],
    client: str,
) -> None:
    async with proxied(peer=peer, allow="10.1.2.0/24") as http:
        response = await http.get("/api/v4/", headers=headers)
    assert response.status_code == 200
    assert [record.client for record in access_log] == [client]  # type: ignore[attr-defined]
