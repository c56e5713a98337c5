"""/api/v4/grids/: representation, lookups, pagination and the order of a grid's packages."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

ORIGINAL = "https://djangopackages.org"
GRIDS = "/api/v4/grids/"
NOT_FOUND = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "Not found."}


def extra_grid(gid: int, **fields: Any) -> dict[str, Any]:
    record = {
        "id": gid,
        "title": f"Grid {gid}",
        "slug": f"grid-{gid}",
        "description": "",
        "is_locked": False,
        "packages": [],
        "header": False,
        "created": "2020-01-01T00:00:00-05:00",
        "modified": "2020-01-02T00:00:00-05:00",
    }
    return record | fields


def extra_package(pid: int, title: str, grids: list[int]) -> dict[str, Any]:
    return {
        "category": f"{ORIGINAL}/api/v4/categories/1/",
        "grids": [f"{ORIGINAL}/api/v4/grids/{g}/" for g in grids],
        "id": pid,
        "title": title,
        "slug": f"extra-{pid}",
        "repo_url": "",
        "created": "2020-01-01T00:00:00Z",
        "modified": "2020-01-01T00:00:00Z",
    }


def link_id(url: str) -> int:
    return int(url.rstrip("/").rsplit("/", 1)[1])


def as_utc(value: str) -> str:
    text = datetime.fromisoformat(value).astimezone(UTC).isoformat()
    return text[:-6] + "Z"


def assert_bad_query(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400
    assert f"'{field}'" in body["detail"]
    assert [error["loc"] for error in body["errors"]] == [["query", field]]


async def test_every_grid_in_the_list_equals_the_imported_record(
    make_client: Any, loaded: dict[str, Any]
) -> None:
    expected = sorted(loaded["grids"], key=lambda g: -g["id"])
    async with make_client(base_url=ORIGINAL, timezone="America/New_York") as client:
        body = (await client.get(GRIDS)).json()
    assert body["count"] == len(expected) == 8
    assert body["results"] == expected
    assert [list(item) for item in body["results"]] == [list(item) for item in expected]
    # The dump's grids list their packages by title, and one is empty.
    assert any(grid["packages"] == [] for grid in body["results"])


async def test_every_grid_detail_equals_the_imported_record(make_client: Any, loaded: dict[str, Any]) -> None:
    async with make_client(base_url=ORIGINAL, timezone="America/New_York") as client:
        for expected in loaded["grids"]:
            by_id = await client.get(f"{GRIDS}{expected['id']}/")
            by_slug = await client.get(f"{GRIDS}{expected['slug']}/")
            assert by_id.status_code == by_slug.status_code == 200
            assert by_id.json() == by_slug.json() == expected
            assert list(by_id.json()) == list(expected)


async def test_grid_timestamps_and_links_by_default(
    client: httpx.AsyncClient, loaded: dict[str, Any]
) -> None:
    served = {item["id"]: item for item in (await client.get(GRIDS)).json()["results"]}
    for record in loaded["grids"]:
        item = served[record["id"]]
        assert item["created"] == as_utc(record["created"])
        assert item["modified"] == as_utc(record["modified"])
        assert [link_id(url) for url in item["packages"]] == [link_id(url) for url in record["packages"]]
        assert all(url.startswith("http://pkgindex.test/api/v4/packages/") for url in item["packages"])


async def test_grid_packages_are_ordered_by_title_code_point_then_id(
    client: httpx.AsyncClient, load: Any, loaded: dict[str, Any]
) -> None:
    titles = {
        2001: "Zeta",
        2002: "alpha",
        2003: "Alpha",
        2004: "éclair",
        2005: "beta",
        2006: "alpha",  # same title: by id
        2007: "_under",
        2008: "Émile",
        2009: "zeta",
        2010: "Alpha",
    }
    # The grid names its packages in no particular order; some only say it from the package side.
    grid = extra_grid(
        200, packages=[f"{ORIGINAL}/api/v4/packages/{pid}/" for pid in (2006, 2001, 2009, 2002)]
    )
    packages = [extra_package(pid, title, [200]) for pid, title in sorted(titles.items(), reverse=True)]
    await load({"grids": [grid], "packages": packages})
    expected = [pid for pid, _ in sorted(titles.items(), key=lambda item: (item[1], item[0]))]
    assert expected[:4] == [2003, 2010, 2001, 2007]  # upper case before "_" before lower case
    detail = (await client.get(f"{GRIDS}200/")).json()
    assert [link_id(url) for url in detail["packages"]] == expected
    listed = next(item for item in (await client.get(GRIDS)).json()["results"] if item["id"] == 200)
    assert listed["packages"] == detail["packages"]

    # The order follows the titles, not the order of import: rename one and it moves.
    await load({"packages": [extra_package(2001, "aardvark", [200])]})
    moved = (await client.get(f"{GRIDS}200/")).json()
    titles[2001] = "aardvark"
    assert [link_id(url) for url in moved["packages"]] == [
        pid for pid, _ in sorted(titles.items(), key=lambda item: (item[1], item[0]))
    ]


async def test_numeric_grid_slugs(client: httpx.AsyncClient, load: Any, loaded: dict[str, Any]) -> None:
    await load({"grids": [extra_grid(200, slug="2024"), extra_grid(201, slug="5")]})
    assert (await client.get(f"{GRIDS}2024/")).json()["id"] == 200
    assert (await client.get(f"{GRIDS}5/")).json()["id"] == 5  # the id wins
    assert (await client.get(f"{GRIDS}201/")).json()["slug"] == "5"


@pytest.mark.parametrize(
    "ref", ["2", "no-such-grid", "0", "99999999999", "²", "\u0665"]
)  # \u0665: Arabic-Indic five
async def test_unknown_grid_is_a_404_problem(
    client: httpx.AsyncClient, loaded: dict[str, Any], ref: str
) -> None:
    response = await client.get(f"{GRIDS}{ref}/")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == NOT_FOUND


async def test_grid_pages(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    ids = sorted((g["id"] for g in loaded["grids"]), reverse=True)
    first = (await client.get(GRIDS, params={"limit": 3})).json()
    assert [item["id"] for item in first["results"]] == ids[:3]
    assert first["next"] == "http://pkgindex.test/api/v4/grids/?limit=3&offset=3"
    assert first["previous"] is None
    middle = (await client.get(first["next"])).json()
    assert [item["id"] for item in middle["results"]] == ids[3:6]
    assert middle["previous"] == "http://pkgindex.test/api/v4/grids/?limit=3"
    assert middle["next"] == "http://pkgindex.test/api/v4/grids/?limit=3&offset=6"
    last = (await client.get(middle["next"])).json()
    assert [item["id"] for item in last["results"]] == ids[6:]
    assert last["next"] is None
    assert last["previous"] == "http://pkgindex.test/api/v4/grids/?limit=3&offset=3"
    default = (await client.get(GRIDS)).json()
    assert (default["count"], default["next"], default["previous"]) == (8, None, None)
    past = (await client.get(GRIDS, params={"offset": 30, "limit": 10})).json()
    assert past == {
        "count": 8,
        "next": None,
        "previous": "http://pkgindex.test/api/v4/grids/?limit=10&offset=20",
        "results": [],
    }


async def test_grid_limit_default_and_maximum(
    client: httpx.AsyncClient, load: Any, loaded: dict[str, Any]
) -> None:
    await load({"grids": [extra_grid(1000 + i) for i in range(100)]})  # 108 grids
    default = (await client.get(GRIDS)).json()
    assert len(default["results"]) == 20
    assert default["next"] == "http://pkgindex.test/api/v4/grids/?limit=20&offset=20"
    capped = (await client.get(GRIDS, params={"limit": 101})).json()
    assert capped["count"] == 108
    assert len(capped["results"]) == 100
    assert capped["next"] == "http://pkgindex.test/api/v4/grids/?limit=100&offset=100"


@pytest.mark.parametrize(
    ("field", "value"), [("limit", "0"), ("limit", "-5"), ("limit", "x"), ("offset", "-1")]
)
async def test_invalid_grid_paging_is_a_400(client: httpx.AsyncClient, field: str, value: str) -> None:
    assert_bad_query(await client.get(f"{GRIDS}?{field}={value}"), field)
