"""HTTP behaviour shared by every route: the API root, HEAD, OPTIONS, 404, 405, ``?format=`` and
the problem+json shape of errors."""

from typing import Any

import httpx
import pytest

PROBLEM = "application/problem+json"
NOT_FOUND = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "Not found."}

# Every GET route, with the small dump loaded (package 1 is "django-...": its slug is looked up too).
ROUTES = [
    "/api/v4/",
    "/api/v4/packages/",
    "/api/v4/packages/1/",
    "/api/v4/packages/?category=apps&ordering=-title&limit=3",
    "/api/v4/categories/",
    "/api/v4/categories/1/",
    "/api/v4/categories/apps/",
    "/api/v4/grids/",
    "/api/v4/grids/5/",
    "/api/v4/grids/authentication/",
    "/api/v4/search/?q=django",
]
UNKNOWN_ROUTES = ["/", "/api/v4/nope/", "/api/v4/packages/1/grids/", "/api/v5/packages/", "/api/"]


async def test_api_root(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body == {
        "packages": "http://pkgindex.test/api/v4/packages/",
        "search": "http://pkgindex.test/api/v4/search/",
        "grids": "http://pkgindex.test/api/v4/grids/",
        "categories": "http://pkgindex.test/api/v4/categories/",
    }
    assert list(body) == ["packages", "search", "grids", "categories"]


async def test_api_root_links_follow_the_request_host(make_client: Any) -> None:
    async with make_client(base_url="https://djangopackages.org") as client:
        body = (await client.get("/api/v4/")).json()
        assert body["packages"] == "https://djangopackages.org/api/v4/packages/"
        # The links are live: each collection answers.
        for name in ("packages", "grids", "categories"):
            assert (await client.get(body[name])).status_code == 200


@pytest.mark.parametrize("route", ROUTES)
async def test_head_has_the_get_headers_and_no_body(
    client: httpx.AsyncClient, loaded: dict[str, Any], route: str
) -> None:
    get = await client.get(route)
    head = await client.head(route)
    assert get.status_code == 200, get.text
    assert get.content
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    assert head.headers["content-length"] == str(len(get.content))


async def test_head_of_an_error(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    missing = await client.head("/api/v4/packages/999/")
    assert (missing.status_code, missing.content) == (404, b"")
    assert missing.headers["content-type"] == PROBLEM
    bad = await client.head("/api/v4/packages/?limit=0")
    assert (bad.status_code, bad.content) == (400, b"")


def writes_allowed(route: str) -> set[str]:
    """The write methods a route has: POST on a collection, PUT/PATCH/DELETE on an object."""
    path = route.partition("?")[0].rstrip("/").split("/")
    if len(path) < 4 or path[3] not in ("packages", "grids", "categories"):
        return set()
    return {"POST"} if len(path) == 4 else {"PUT", "PATCH", "DELETE"}


@pytest.mark.parametrize("route", ROUTES)
async def test_options_lists_the_allowed_methods(
    client: httpx.AsyncClient, loaded: dict[str, Any], route: str
) -> None:
    response = await client.options(route)
    assert response.status_code == 200
    allowed = {method.strip() for method in response.headers["allow"].split(",")}
    assert allowed == {"GET", "HEAD", "OPTIONS"} | writes_allowed(route)


async def test_options_of_a_missing_object_still_describes_the_route(client: httpx.AsyncClient) -> None:
    response = await client.options("/api/v4/packages/no-such-package/")
    assert response.status_code == 200
    assert "GET" in response.headers["allow"]


@pytest.mark.parametrize("route", UNKNOWN_ROUTES)
async def test_options_of_an_unknown_route_is_a_404(client: httpx.AsyncClient, route: str) -> None:
    response = await client.options(route)
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize("route", UNKNOWN_ROUTES)
async def test_unknown_route_is_a_404_problem(client: httpx.AsyncClient, route: str) -> None:
    for method in ("GET", "POST"):
        response = await client.request(method, route)
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM
        assert response.json() == NOT_FOUND


@pytest.mark.parametrize(
    ("method", "route"),
    [
        (method, route)
        for method in ("POST", "PUT", "PATCH", "DELETE")
        for route in (
            "/api/v4/",
            "/api/v4/packages/",
            "/api/v4/packages/1/",
            "/api/v4/grids/5/",
            "/api/v4/categories/",
        )
        if method not in writes_allowed(route)
    ],
)
async def test_other_methods_are_a_405_problem(
    client: httpx.AsyncClient, loaded: dict[str, Any], method: str, route: str
) -> None:
    response = await client.request(method, route, json={"title": "x"})
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "about:blank",
        "title": "Method Not Allowed",
        "status": 405,
        "detail": f'Method "{method}" not allowed.',
    }
    allowed = {"GET", "HEAD", "OPTIONS"} | writes_allowed(route)
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
    # Nothing was written.
    assert (await client.get("/api/v4/packages/1/")).json()["title"] != "x"


@pytest.mark.parametrize("fmt", ["json", "api"])
@pytest.mark.parametrize("route", ROUTES)
async def test_format_json_and_api_are_answered_with_json(
    client: httpx.AsyncClient, loaded: dict[str, Any], route: str, fmt: str
) -> None:
    plain = await client.get(route)
    formatted = await client.get(f"{route}{'&' if '?' in route else '?'}format={fmt}")
    assert formatted.status_code == 200
    assert formatted.headers["content-type"] == "application/json"
    body, expected = formatted.json(), plain.json()
    if isinstance(body, dict) and "next" in body:
        # The envelope's links carry the format along; the rest is identical.
        for key in ("next", "previous"):
            assert (body[key] is None) == (expected[key] is None)
            if body[key] is not None:
                assert f"format={fmt}" in body[key]
        body = {k: v for k, v in body.items() if k not in ("next", "previous")}
        expected = {k: v for k, v in expected.items() if k not in ("next", "previous")}
    assert body == expected


@pytest.mark.parametrize(
    "route", ["/api/v4/", "/api/v4/packages/", "/api/v4/grids/5/", "/api/v4/search/?q=x"]
)
@pytest.mark.parametrize("fmt", ["xml", "html", "JSON", ""])
async def test_other_formats_are_a_400_naming_format(
    client: httpx.AsyncClient, loaded: dict[str, Any], route: str, fmt: str
) -> None:
    separator = "&" if "?" in route else "?"
    response = await client.get(f"{route}{separator}format={fmt}")
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert "'format'" in body["detail"]
    assert [error["loc"] for error in body["errors"]] == [["query", "format"]]


async def test_bad_request_problem_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v4/packages/?limit=0&offset=-1")
    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert list(body) == ["type", "title", "status", "detail", "errors"]
    assert (body["type"], body["title"], body["status"]) == ("about:blank", "Bad Request", 400)
    assert body["detail"].startswith("Invalid query parameter 'limit'")
    assert [error["loc"] for error in body["errors"]] == [["query", "limit"], ["query", "offset"]]
    assert all(error["msg"] and error["type"] for error in body["errors"])


async def test_domain_400_has_the_same_shape(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v4/packages/?ordering=stars")).json()
    assert list(body) == ["type", "title", "status", "detail", "errors"]
    assert body["status"] == 400
    assert body["errors"] == [
        {"loc": ["query", "ordering"], "msg": body["errors"][0]["msg"], "type": "value_error"}
    ]
    assert "stars" in body["errors"][0]["msg"]
