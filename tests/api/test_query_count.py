"""The list and detail endpoints issue a fixed number of SQL statements, whatever the page size."""

from typing import Any

import httpx
import pytest

# (route, the most statements it may take): count, page, related ids, plus one per filter lookup.
LISTS = [
    ("/api/v4/packages/", 3),
    ("/api/v4/packages/?ordering=-repo_watchers,title", 3),
    ("/api/v4/packages/?category=apps&grid=authentication&q=django&modified_after=2020-01-01T00:00:00Z", 5),
    ("/api/v4/grids/", 3),
    ("/api/v4/categories/", 2),
]


async def statements(client: httpx.AsyncClient, counter: Any, url: str) -> int:
    before = counter.count
    response = await client.get(url)
    assert response.status_code == 200, response.text
    return int(counter.count - before)


def with_limit(route: str, limit: int) -> str:
    return f"{route}{'&' if '?' in route else '?'}limit={limit}"


@pytest.mark.parametrize(("route", "most"), LISTS)
async def test_list_statements_do_not_grow_with_the_page(
    client: httpx.AsyncClient, loaded: dict[str, Any], query_counter: Any, route: str, most: int
) -> None:
    one = await statements(client, query_counter, with_limit(route, 1))
    many = await statements(client, query_counter, with_limit(route, 50))
    assert (await client.get(with_limit(route, 50))).json()["results"], "the page must hold rows"
    assert one == many
    assert 0 < many <= most


async def test_the_big_pages_really_hold_related_rows(
    client: httpx.AsyncClient, loaded: dict[str, Any]
) -> None:
    """Without relations to load there would be no N+1 to catch."""
    packages = (await client.get("/api/v4/packages/?limit=50")).json()["results"]
    assert sum(len(p["grids"]) for p in packages) > 50
    grids = (await client.get("/api/v4/grids/?limit=50")).json()["results"]
    assert sum(len(g["packages"]) for g in grids) > 50


@pytest.mark.parametrize(
    "routes",
    [
        ["/api/v4/packages/?offset=100", "/api/v4/packages/"],  # an empty page costs no more
        ["/api/v4/grids/7/", "/api/v4/grids/5/"],  # an empty grid and a full one
        ["/api/v4/packages/1/", "/api/v4/packages/63/"],  # no grids and four
    ],
)
async def test_statements_do_not_grow_with_relations(
    client: httpx.AsyncClient, loaded: dict[str, Any], query_counter: Any, routes: list[str]
) -> None:
    small, large = [await statements(client, query_counter, route) for route in routes]
    assert small <= large <= 3
