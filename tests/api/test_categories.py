"""/api/v4/categories/: representation, lookups and pagination."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

ORIGINAL = "https://djangopackages.org"
CATEGORIES = "/api/v4/categories/"
NOT_FOUND = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "Not found."}


def extra_category(cid: int, **fields: Any) -> dict[str, Any]:
    record = {
        "id": cid,
        "title": f"Category {cid}",
        "slug": f"category-{cid}",
        "description": "",
        "title_plural": f"Categories {cid}",
        "show_pypi": True,
        "created": "2020-01-01T00:00:00-05:00",
        "modified": "2020-01-02T00:00:00.000001-05:00",
    }
    return record | fields


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


async def test_every_category_in_the_list_equals_the_imported_record(
    make_client: Any, loaded: dict[str, Any]
) -> None:
    expected = sorted(loaded["categories"], key=lambda c: -c["id"])
    async with make_client(base_url=ORIGINAL, timezone="America/New_York") as client:
        body = (await client.get(CATEGORIES)).json()
    assert body == {"count": 6, "next": None, "previous": None, "results": expected}
    assert [list(item) for item in body["results"]] == [list(item) for item in expected]
    # show_pypi is false for one of them: a boolean that is really read back.
    assert {item["show_pypi"] for item in body["results"]} == {True, False}


async def test_every_category_detail_equals_the_imported_record(
    make_client: Any, loaded: dict[str, Any]
) -> None:
    async with make_client(base_url=ORIGINAL, timezone="America/New_York") as client:
        for expected in loaded["categories"]:
            by_id = await client.get(f"{CATEGORIES}{expected['id']}/")
            by_slug = await client.get(f"{CATEGORIES}{expected['slug']}/")
            assert by_id.status_code == by_slug.status_code == 200
            assert by_id.json() == by_slug.json() == expected
            assert list(by_id.json()) == list(expected)


async def test_category_timestamps_in_utc_by_default(
    client: httpx.AsyncClient, load: Any, loaded: dict[str, Any]
) -> None:
    await load({"categories": [extra_category(100)]})
    served = {item["id"]: item for item in (await client.get(CATEGORIES)).json()["results"]}
    for record in loaded["categories"]:
        assert served[record["id"]]["created"] == as_utc(record["created"])
        assert served[record["id"]]["modified"] == as_utc(record["modified"])
    assert served[100]["created"] == "2020-01-01T05:00:00Z"
    assert served[100]["modified"] == "2020-01-02T05:00:00.000001Z"


async def test_numeric_category_slugs(client: httpx.AsyncClient, load: Any, loaded: dict[str, Any]) -> None:
    await load({"categories": [extra_category(100, slug="2048"), extra_category(101, slug="3")]})
    assert (await client.get(f"{CATEGORIES}2048/")).json()["id"] == 100
    assert (await client.get(f"{CATEGORIES}3/")).json()["id"] == 3  # the id wins
    assert (await client.get(f"{CATEGORIES}101/")).json()["slug"] == "3"


@pytest.mark.parametrize(
    "ref", ["7", "no-such-category", "0", "99999999999", "²", "\u0661"]
)  # \u0661: Arabic-Indic one
async def test_unknown_category_is_a_404_problem(
    client: httpx.AsyncClient, loaded: dict[str, Any], ref: str
) -> None:
    response = await client.get(f"{CATEGORIES}{ref}/")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == NOT_FOUND


async def test_category_pages(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    first = (await client.get(CATEGORIES, params={"limit": 4})).json()
    assert [item["id"] for item in first["results"]] == [6, 5, 4, 3]
    assert first["next"] == "http://pkgindex.test/api/v4/categories/?limit=4&offset=4"
    assert first["previous"] is None
    second = (await client.get(first["next"])).json()
    assert [item["id"] for item in second["results"]] == [2, 1]
    assert second["next"] is None
    assert second["previous"] == "http://pkgindex.test/api/v4/categories/?limit=4"
    shifted = (await client.get(CATEGORIES, params={"limit": 2, "offset": 3})).json()
    assert [item["id"] for item in shifted["results"]] == [3, 2]
    assert shifted["previous"] == "http://pkgindex.test/api/v4/categories/?limit=2&offset=1"
    assert shifted["next"] == "http://pkgindex.test/api/v4/categories/?limit=2&offset=5"
    past = (await client.get(CATEGORIES, params={"offset": 6})).json()
    assert past["results"] == []
    assert past["previous"] == "http://pkgindex.test/api/v4/categories/?limit=20"


async def test_empty_collection(client: httpx.AsyncClient) -> None:
    assert (await client.get(CATEGORIES)).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }


async def test_category_limit_maximum(client: httpx.AsyncClient, load: Any) -> None:
    await load({"categories": [extra_category(100 + i) for i in range(101)]})
    capped = (await client.get(CATEGORIES, params={"limit": 1000})).json()
    assert capped["count"] == 101
    assert [item["id"] for item in capped["results"]] == list(range(200, 100, -1))
    assert capped["next"] == "http://pkgindex.test/api/v4/categories/?limit=100&offset=100"


@pytest.mark.parametrize(
    ("field", "value"), [("limit", "0"), ("limit", "-1"), ("limit", "ten"), ("offset", "z")]
)
async def test_invalid_category_paging_is_a_400(client: httpx.AsyncClient, field: str, value: str) -> None:
    assert_bad_query(await client.get(f"{CATEGORIES}?{field}={value}"), field)
