"""/api/v4/packages/: representation, lookups, pagination, filters and ordering, read back over HTTP
from the imported small dump and from a few hand-made records."""

import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cmp_to_key
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from tests.conftest import DBSETTINGS

ORIGINAL = "https://djangopackages.org"
ORIGINAL_ZONE = "America/New_York"
PACKAGES = "/api/v4/packages/"
TIMESTAMPS = ("last_updated", "last_fetched", "created", "modified")
ORDERING_FIELDS = (
    "id",
    "title",
    "created",
    "modified",
    "repo_watchers",
    "repo_forks",
    "last_updated",
    "last_fetched",
)
WORD = re.compile(r"[^\W_]+")

GRID_55 = {
    "id": 55,
    "title": "Settings",
    "slug": "settings",
    "description": "",
    "is_locked": False,
    "packages": [],
    "header": False,
    "created": "2011-03-01T10:00:00-05:00",
    "modified": "2025-07-04T12:00:00.000100-04:00",
}


def extra_package(pid: int, **fields: Any) -> dict[str, Any]:
    """A complete v4 package record that does not collide with the small dump (ids < 100)."""
    record = {
        "category": f"{ORIGINAL}/api/v4/categories/1/",
        "grids": [],
        "id": pid,
        "title": f"extra-{pid}",
        "slug": f"extra-{pid}",
        "last_updated": None,
        "last_fetched": None,
        "repo_url": f"https://github.com/extra/extra-{pid}",
        "pypi_version": None,
        "created": "2020-01-01T00:00:00-05:00",
        "modified": "2020-01-02T00:00:00-05:00",
        "repo_forks": 0,
        "repo_description": "",
        "pypi_url": "",
        "documentation_url": None,
        "repo_watchers": 0,
        "commits_over_52": [],
        "participants": [],
    }
    return record | fields


def link_id(url: str) -> int:
    return int(url.rstrip("/").rsplit("/", 1)[1])


def as_utc(value: str | None) -> str | None:
    """How a timestamp of the original is rendered in UTC: same instant, ``Z``, no fraction when
    there is none."""
    if value is None:
        return None
    text = datetime.fromisoformat(value).astimezone(UTC).isoformat()
    assert text.endswith("+00:00")
    return text[:-6] + "Z"


def original_client(make_client: Callable[..., httpx.AsyncClient]) -> httpx.AsyncClient:
    return make_client(base_url=ORIGINAL, timezone=ORIGINAL_ZONE)


async def all_ids(client: httpx.AsyncClient, **params: Any) -> list[int]:
    response = await client.get(PACKAGES, params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["next"] is None, "the test data fits one page of 100"
    ids = [item["id"] for item in body["results"]]
    assert body["count"] == len(ids)
    return ids


def assert_bad_query(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400
    assert body["title"] == "Bad Request"
    assert f"'{field}'" in body["detail"]
    assert [error["loc"] for error in body["errors"]] == [["query", field]]


# --- representation ---------------------------------------------------------------------------


async def test_every_package_in_the_list_equals_the_imported_record(
    make_client: Any, loaded: dict[str, Any]
) -> None:
    expected = sorted(loaded["packages"], key=lambda p: -p["id"])
    async with original_client(make_client) as client:
        response = await client.get(PACKAGES, params={"limit": 100})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    results = response.json()["results"]
    assert results == expected
    # Same field order as the original, record by record.
    assert [list(item) for item in results] == [list(item) for item in expected]


async def test_every_package_detail_equals_the_imported_record(
    make_client: Any, loaded: dict[str, Any]
) -> None:
    async with original_client(make_client) as client:
        for expected in loaded["packages"]:
            by_id = await client.get(f"{PACKAGES}{expected['id']}/")
            by_slug = await client.get(f"{PACKAGES}{expected['slug']}/")
            assert by_id.status_code == 200
            assert by_id.json() == expected
            assert list(by_id.json()) == list(expected)
            assert by_slug.status_code == 200
            assert by_slug.json() == expected


async def test_the_issue_record_comes_back_with_the_original_strings(make_client: Any, load: Any) -> None:
    category = {
        "id": 1,
        "title": "App",
        "slug": "apps",
        "description": "",
        "title_plural": "Apps",
        "show_pypi": True,
        "created": "2010-08-20T10:00:00-04:00",
        "modified": "2010-08-20T10:00:00-04:00",
    }
    await load({"categories": [category], "grids": [GRID_55], "packages": [DBSETTINGS]})
    async with original_client(make_client) as client:
        response = await client.get(f"{PACKAGES}1686/")
    assert response.json() == DBSETTINGS
    # The raw text too: no fraction on last_updated, none invented, none lost.
    assert '"last_updated":"2026-01-28T16:20:56-05:00"' in response.text
    assert '"created":"2013-02-21T06:07:16.164960-05:00"' in response.text
    assert '"documentation_url":null' in response.text


async def test_timestamps_are_rendered_in_utc_by_default(
    client: httpx.AsyncClient, loaded: dict[str, Any]
) -> None:
    response = await client.get(PACKAGES, params={"limit": 100})
    served = {item["id"]: item for item in response.json()["results"]}
    for record in loaded["packages"]:
        item = served[record["id"]]
        for name in TIMESTAMPS:
            assert item[name] == as_utc(record[name]), (record["id"], name)
            if item[name] is not None:
                assert item[name].endswith("Z")
                assert datetime.fromisoformat(item[name]) == datetime.fromisoformat(record[name])
    # The dump has both shapes: microseconds kept, and no fraction when there is none.
    assert any("." in item["created"] for item in served.values())
    assert any(item["last_updated"] and "." not in item["last_updated"] for item in served.values())


async def test_utc_rendering_literal_values(
    client: httpx.AsyncClient, load: Any, loaded: dict[str, Any]
) -> None:
    await load(
        {
            "packages": [
                extra_package(
                    2001,
                    created="2013-02-21T06:07:16.164960-05:00",
                    modified="2024-07-01T00:00:00.000100+02:00",
                    last_updated="2026-01-28T16:20:56-05:00",
                    last_fetched="2026-01-28T21:20:56.5Z",
                )
            ]
        }
    )
    item = (await client.get(f"{PACKAGES}2001/")).json()
    assert item["created"] == "2013-02-21T11:07:16.164960Z"
    assert item["modified"] == "2024-06-30T22:00:00.000100Z"
    assert item["last_updated"] == "2026-01-28T21:20:56Z"
    assert item["last_fetched"] == "2026-01-28T21:20:56.500000Z"
    assert item["category"] == "http://pkgindex.test/api/v4/categories/1/"


async def test_null_and_empty_values_are_kept_apart(
    client: httpx.AsyncClient, load: Any, loaded: dict[str, Any]
) -> None:
    await load(
        {
            "packages": [
                extra_package(2001, documentation_url=None, pypi_version=None, repo_url=""),
                extra_package(2002, documentation_url="", pypi_version="", repo_url=""),
            ]
        }
    )
    none = (await client.get(f"{PACKAGES}2001/")).json()
    empty = (await client.get(f"{PACKAGES}2002/")).json()
    assert (none["documentation_url"], none["pypi_version"]) == (None, None)
    assert (empty["documentation_url"], empty["pypi_version"]) == ("", "")
    assert (none["commits_over_52"], none["participants"], none["grids"]) == ([], [], [])
    assert (none["last_updated"], none["last_fetched"]) == (None, None)


async def test_grids_keep_the_order_the_import_gave(
    make_client: Any, load: Any, loaded: dict[str, Any]
) -> None:
    grid_ids = [10, 1, 8, 5]  # neither ascending nor descending
    record = extra_package(2001, grids=[f"{ORIGINAL}/api/v4/grids/{g}/" for g in grid_ids])
    await load({"packages": [record]})
    async with original_client(make_client) as client:
        detail = (await client.get(f"{PACKAGES}2001/")).json()
        listed = (await client.get(PACKAGES, params={"limit": 1})).json()["results"][0]
    assert [link_id(url) for url in detail["grids"]] == grid_ids
    assert listed == detail
    # The dump itself has packages whose grids are out of id order; they survived too.
    assert any(
        [link_id(u) for u in p["grids"]] != sorted(link_id(u) for u in p["grids"]) for p in loaded["packages"]
    )


# --- lookups ----------------------------------------------------------------------------------


async def test_numeric_slugs(client: httpx.AsyncClient, load: Any, loaded: dict[str, Any]) -> None:
    await load(
        {
            "packages": [
                extra_package(2001, slug="424242"),  # no package has that id
                extra_package(2002, slug="7"),  # package 7 exists: the id wins
            ]
        }
    )
    assert 7 in {p["id"] for p in loaded["packages"]}
    assert (await client.get(f"{PACKAGES}424242/")).json()["id"] == 2001
    assert (await client.get(f"{PACKAGES}7/")).json()["id"] == 7
    assert (await client.get(f"{PACKAGES}2002/")).json()["slug"] == "7"


@pytest.mark.parametrize(
    "ref",
    [
        "999",  # an unused id
        "no-such-package",
        "0",
        "-1",
        "99999999999",  # beyond the 32-bit id column
        "12345678901234567890123",  # beyond int64
        "²",  # str.isdigit() is true, int() fails
        "٣",  # Arabic-Indic three: not the id 3
        "django%20admin",
    ],
)
async def test_unknown_package_is_a_404_problem(
    client: httpx.AsyncClient, loaded: dict[str, Any], ref: str
) -> None:
    response = await client.get(f"{PACKAGES}{ref}/")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Not found.",
    }


# --- pagination -------------------------------------------------------------------------------


async def test_default_page_is_20_newest_ids_first(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    ids = sorted((p["id"] for p in loaded["packages"]), reverse=True)
    body = (await client.get(PACKAGES)).json()
    assert list(body) == ["count", "next", "previous", "results"]
    assert body["count"] == 60
    assert [item["id"] for item in body["results"]] == ids[:20]
    assert body["next"] == "http://pkgindex.test/api/v4/packages/?limit=20&offset=20"
    assert body["previous"] is None


async def test_following_next_walks_every_package_once(
    client: httpx.AsyncClient, loaded: dict[str, Any]
) -> None:
    url: str | None = f"{PACKAGES}?limit=7"
    seen: list[int] = []
    pages = 0
    while url:
        body = (await client.get(url)).json()
        seen += [item["id"] for item in body["results"]]
        url = body["next"]
        pages += 1
    assert seen == sorted((p["id"] for p in loaded["packages"]), reverse=True)
    assert pages == 9  # 8 pages of 7 and one of 4


@pytest.mark.parametrize(
    ("query", "expected_next", "expected_previous"),
    [
        ("limit=10&offset=10", "limit=10&offset=20", "limit=10"),  # previous drops offset at 0
        ("limit=10&offset=5", "limit=10&offset=15", "limit=10"),  # ... and below 0
        ("limit=10&offset=25", "limit=10&offset=35", "limit=10&offset=15"),
        ("limit=10&offset=50", None, "limit=10&offset=40"),  # last full page
        ("limit=10&offset=55", None, "limit=10&offset=45"),  # last, short page
        ("offset=1", "limit=20&offset=21", "limit=20"),  # limit is added
        # Keys re-encoded in sorted order, other parameters kept, as DRF's replace_query_param does.
        (
            "offset=10&limit=5&format=json&ordering=-title",
            "format=json&limit=5&offset=15&ordering=-title",
            "format=json&limit=5&offset=5&ordering=-title",
        ),
        (
            "q=django%20admin&limit=1&offset=1",
            "limit=1&offset=2&q=django+admin",
            "limit=1&q=django+admin",
        ),
    ],
)
async def test_next_and_previous_links_as_drf_builds_them(
    client: httpx.AsyncClient,
    loaded: dict[str, Any],
    query: str,
    expected_next: str | None,
    expected_previous: str | None,
) -> None:
    body = (await client.get(f"{PACKAGES}?{query}")).json()
    base = "http://pkgindex.test/api/v4/packages/?"
    assert body["next"] == (None if expected_next is None else base + expected_next)
    assert body["previous"] == (None if expected_previous is None else base + expected_previous)


async def test_links_keep_the_public_host(make_client: Any, loaded: dict[str, Any]) -> None:
    async with original_client(make_client) as client:
        body = (await client.get(PACKAGES, params={"limit": 5, "offset": 5})).json()
    assert body["next"] == f"{ORIGINAL}/api/v4/packages/?limit=5&offset=10"
    assert body["previous"] == f"{ORIGINAL}/api/v4/packages/?limit=5"


async def test_offset_past_the_end(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    body = (await client.get(PACKAGES, params={"offset": 100})).json()
    assert body == {
        "count": 60,
        "next": None,
        "previous": "http://pkgindex.test/api/v4/packages/?limit=20&offset=80",
        "results": [],
    }
    # Even beyond what the databases' OFFSET can hold, it is just an empty page.
    huge = await client.get(PACKAGES, params={"offset": 10**20})
    assert huge.status_code == 200
    assert huge.json()["results"] == []
    assert huge.json()["count"] == 60


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1.5", ""])
async def test_invalid_limit_is_a_400_naming_it(
    client: httpx.AsyncClient, loaded: dict[str, Any], limit: str
) -> None:
    assert_bad_query(await client.get(f"{PACKAGES}?limit={limit}"), "limit")


@pytest.mark.parametrize("offset", ["-1", "abc", "2.5"])
async def test_invalid_offset_is_a_400_naming_it(
    client: httpx.AsyncClient, loaded: dict[str, Any], offset: str
) -> None:
    assert_bad_query(await client.get(f"{PACKAGES}?offset={offset}"), "offset")


async def test_limit_above_the_maximum_is_served_as_100(
    client: httpx.AsyncClient, load: Any, loaded: dict[str, Any]
) -> None:
    await load({"packages": [extra_package(2001 + i) for i in range(45)]})  # 105 packages in all
    body = (await client.get(PACKAGES, params={"limit": 500})).json()
    assert body["count"] == 105
    assert len(body["results"]) == 100
    assert body["next"] == "http://pkgindex.test/api/v4/packages/?limit=100&offset=100"
    last = (await client.get(body["next"])).json()
    assert len(last["results"]) == 5
    assert last["previous"] == "http://pkgindex.test/api/v4/packages/?limit=100"
    exactly = (await client.get(PACKAGES, params={"limit": 100})).json()
    assert len(exactly["results"]) == 100


# --- filters ----------------------------------------------------------------------------------


def ids_where(loaded: dict[str, Any], keep: Callable[[dict[str, Any]], bool]) -> list[int]:
    return sorted((p["id"] for p in loaded["packages"] if keep(p)), reverse=True)


def in_category(category_id: int) -> Callable[[dict[str, Any]], bool]:
    return lambda p: link_id(p["category"]) == category_id


def in_grid(grid_id: int) -> Callable[[dict[str, Any]], bool]:
    return lambda p: grid_id in {link_id(url) for url in p["grids"]}


@pytest.mark.parametrize("ref", ["1", "apps", "3", "other", "5", "libraries"])
async def test_category_filter_by_id_or_slug(
    client: httpx.AsyncClient, loaded: dict[str, Any], ref: str
) -> None:
    category = next(c for c in loaded["categories"] if ref in (str(c["id"]), c["slug"]))
    assert await all_ids(client, category=ref) == ids_where(loaded, in_category(category["id"]))


async def test_category_filter_sees_every_category(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    total = 0
    for category in loaded["categories"]:
        ids = await all_ids(client, category=category["slug"])
        assert ids == ids_where(loaded, in_category(category["id"]))
        total += len(ids)
    assert total == 60
    # The dump has an empty category, so "no packages" is covered too.
    assert await all_ids(client, category="libraries") == []


@pytest.mark.parametrize(
    "ref", ["5", "authentication", "11", "authorization", "7", "content-management-systems"]
)
async def test_grid_filter_by_id_or_slug(client: httpx.AsyncClient, loaded: dict[str, Any], ref: str) -> None:
    grid = next(g for g in loaded["grids"] if ref in (str(g["id"]), g["slug"]))
    expected = ids_where(loaded, in_grid(grid["id"]))
    assert expected == sorted((link_id(url) for url in grid["packages"]), reverse=True)
    assert await all_ids(client, grid=ref) == expected


def extra_category(cid: int, slug: str) -> dict[str, Any]:
    return {
        "id": cid,
        "title": f"Category {slug}",
        "slug": slug,
        "created": "2020-01-01T00:00:00Z",
        "modified": "2020-01-01T00:00:00Z",
    }


async def test_filter_by_numeric_slug_prefers_the_id(
    client: httpx.AsyncClient, load: Any, loaded: dict[str, Any]
) -> None:
    # Category 49's slug is the id of category 60; a table scan would meet 49 first.
    await load(
        {
            "categories": [extra_category(49, "60"), extra_category(60, "sixty"), extra_category(51, "777")],
            "packages": [
                extra_package(2001, category=f"{ORIGINAL}/api/v4/categories/49/"),
                extra_package(2002, category=f"{ORIGINAL}/api/v4/categories/60/"),
                extra_package(2003, category=f"{ORIGINAL}/api/v4/categories/51/"),
            ],
        }
    )
    assert await all_ids(client, category="60") == [2002]
    assert await all_ids(client, category="sixty") == [2002]
    assert await all_ids(client, category="49") == [2001]
    assert await all_ids(client, category="777") == [2003]  # no category 777: the slug


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("category", "nope"),
        ("category", "999"),
        ("grid", "nope"),
        ("grid", "4"),
        ("grid", "99999999999"),
        ("category", "²"),
    ],
)
async def test_unknown_category_or_grid_is_a_400_naming_it(
    client: httpx.AsyncClient, loaded: dict[str, Any], field: str, value: str
) -> None:
    response = await client.get(PACKAGES, params={field: value})
    assert_bad_query(response, field)
    assert value in response.json()["detail"]


def text_matches(package: dict[str, Any], q: str) -> bool:
    """Every word of ``q`` starts a word of the title, slug or description (case-insensitively)."""
    words = set(WORD.findall(f"{package['title']} {package['slug']} {package['repo_description']}".lower()))
    return all(any(word.startswith(term) for word in words) for term in WORD.findall(q.lower()))


@pytest.mark.parametrize(
    "q", ["admin", "ADMIN", "auth", "djan", "django admin", "tool", "reusable providing"]
)
async def test_text_filter(client: httpx.AsyncClient, loaded: dict[str, Any], q: str) -> None:
    expected = ids_where(loaded, lambda p: text_matches(p, q))
    assert expected, "pick a query the dump matches"
    assert await all_ids(client, q=q) == expected


async def test_text_filter_without_a_match(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    assert await all_ids(client, q="zzyzx") == []
    assert await all_ids(client, q="admin zzyzx") == []


async def test_empty_filters_are_no_filters(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    everything = await all_ids(client)
    assert len(everything) == 60
    assert await all_ids(client, category="", grid="", q="", modified_after="") == everything


def modified_after(loaded: dict[str, Any], instant: datetime) -> list[int]:
    return ids_where(loaded, lambda p: datetime.fromisoformat(p["modified"]) > instant)


async def test_modified_after_forms(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    # The median package's own modified time: strictly after excludes that package.
    pivot = sorted(loaded["packages"], key=lambda p: datetime.fromisoformat(p["modified"]))[30]
    instant = datetime.fromisoformat(pivot["modified"])
    expected = modified_after(loaded, instant)
    assert len(expected) == 29
    assert pivot["id"] not in expected

    as_original = pivot["modified"]  # America/New_York offset
    as_z = as_utc(pivot["modified"])
    east = instant.astimezone(datetime.fromisoformat("2000-01-01T00:00:00+05:30").tzinfo).isoformat()
    assert "+05:30" in east
    assert await all_ids(client, modified_after=as_original) == expected
    assert await all_ids(client, modified_after=as_z) == expected
    assert await all_ids(client, modified_after=east) == expected  # '+' sent encoded as %2B

    # An unescaped '+' arrives as a space.
    raw = await client.get(f"{PACKAGES}?limit=100&modified_after={east}")
    assert b"+05:30" in raw.request.url.query
    assert [item["id"] for item in raw.json()["results"]] == expected
    spaced = await client.get(f"{PACKAGES}?limit=100&modified_after={east.replace('+', '%20')}")
    assert [item["id"] for item in spaced.json()["results"]] == expected


async def test_modified_after_bounds(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    assert len(await all_ids(client, modified_after="2000-01-01T00:00:00Z")) == 60
    assert await all_ids(client, modified_after="2030-01-01T00:00:00Z") == []
    assert len(await all_ids(client, modified_after="0001-01-01T00:00:00Z")) == 60


@pytest.mark.parametrize(
    "value",
    [
        "yesterday",
        "2026-13-01T00:00:00Z",
        "2026-01-01T00:00:00",  # naive
        "2026-01-01",  # a date is naive too
        "9999-12-31T23:00:00-05:00",  # beyond the last instant
        "0001-01-01T00:00:00+01:00",  # before the first
    ],
)
async def test_invalid_modified_after_is_a_400_naming_it(
    client: httpx.AsyncClient, loaded: dict[str, Any], value: str
) -> None:
    assert_bad_query(await client.get(PACKAGES, params={"modified_after": value}), "modified_after")


async def test_filters_combine(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    instant = datetime(2024, 1, 1, tzinfo=UTC)

    def keep(p: dict[str, Any]) -> bool:
        return (
            in_category(1)(p)
            and in_grid(5)(p)
            and text_matches(p, "django")
            and datetime.fromisoformat(p["modified"]) > instant
        )

    expected = ids_where(loaded, keep)
    assert 0 < len(expected) < len(ids_where(loaded, in_grid(5)))
    params = {
        "category": "apps",
        "grid": "authentication",
        "q": "django",
        "modified_after": "2024-01-01T00:00:00Z",
    }
    assert await all_ids(client, **params) == expected
    # ... with ordering and paging on top, and the filters carried into the links.
    body = (await client.get(PACKAGES, params={**params, "ordering": "title", "limit": 2})).json()
    assert body["count"] == len(expected)
    by_title = sorted((p for p in loaded["packages"] if p["id"] in expected), key=lambda p: p["title"])
    assert [item["id"] for item in body["results"]] == [p["id"] for p in by_title[:2]]
    query = parse_qs(urlsplit(body["next"]).query)
    assert query == {
        "category": ["apps"],
        "grid": ["authentication"],
        "q": ["django"],
        "modified_after": ["2024-01-01T00:00:00Z"],
        "ordering": ["title"],
        "limit": ["2"],
        "offset": ["2"],
    }


# --- ordering ---------------------------------------------------------------------------------


def expected_order(packages: list[dict[str, Any]], ordering: str) -> list[int]:
    """The order the API promises: each term in turn, nulls last when descending and first when
    ascending, ties broken by -id."""
    terms = [(term.removeprefix("-"), term.startswith("-")) for term in ordering.split(",")]
    if all(name != "id" for name, _ in terms):
        terms.append(("id", True))

    def value(package: dict[str, Any], name: str) -> Any:
        raw = package[name]
        return datetime.fromisoformat(raw) if raw is not None and name in TIMESTAMPS else raw

    def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
        for name, descending in terms:
            x, y = value(a, name), value(b, name)
            if x == y:
                continue
            if x is None or y is None:
                x_first = (x is None) != descending
                return -1 if x_first else 1
            ascending = -1 if x < y else 1
            return -ascending if descending else ascending
        return 0

    return [p["id"] for p in sorted(packages, key=cmp_to_key(compare))]


ORDERINGS = [
    *ORDERING_FIELDS,
    *(f"-{name}" for name in ORDERING_FIELDS),
    "-repo_watchers,title",
    "repo_forks,-last_updated",
    "last_fetched,id",
    "-last_updated,-repo_forks,title",
    " title , -id ",
]


@pytest.mark.parametrize("ordering", ORDERINGS)
async def test_ordering(client: httpx.AsyncClient, loaded: dict[str, Any], ordering: str) -> None:
    expected = expected_order(loaded["packages"], ordering.replace(" ", ""))
    assert await all_ids(client, ordering=ordering) == expected


async def test_the_dump_exercises_nulls_ties_and_case(loaded: dict[str, Any]) -> None:
    """The ordering tests above only prove something if the data has what they are about."""
    packages = loaded["packages"]
    assert any(p["last_updated"] is None for p in packages)
    assert any(p["last_fetched"] is None for p in packages)
    forks = [p["repo_forks"] for p in packages]
    assert len(set(forks)) < len(forks)
    titles = [p["title"] for p in packages]
    assert sorted(titles) != sorted(titles, key=str.lower)  # code point order differs from case-blind


async def test_ordering_by_title_is_by_code_point(
    client: httpx.AsyncClient, load: Any, loaded: dict[str, Any]
) -> None:
    titles = ["Zeta", "alpha", "Alpha", "éclair", "beta", "_under", "Émile", "alpha"]
    await load({"packages": [extra_package(2001 + i, title=t) for i, t in enumerate(titles)]})
    ids = [i for i in await all_ids(client, ordering="title") if i > 2000]
    assert ids == [2001 + i for i, _ in sorted(enumerate(titles), key=lambda it: (it[1], -it[0]))]


async def test_pages_of_an_ordering_with_ties_neither_repeat_nor_skip(
    client: httpx.AsyncClient, loaded: dict[str, Any]
) -> None:
    seen: list[int] = []
    for offset in range(0, 60, 7):
        body = (
            await client.get(PACKAGES, params={"ordering": "repo_forks", "limit": 7, "offset": offset})
        ).json()
        seen += [item["id"] for item in body["results"]]
    assert seen == expected_order(loaded["packages"], "repo_forks")


@pytest.mark.parametrize("ordering", ["stars", "-nope", "title,", "+title", "--id", "repo_url", "title;drop"])
async def test_unknown_ordering_is_a_400_naming_it(
    client: httpx.AsyncClient, loaded: dict[str, Any], ordering: str
) -> None:
    assert_bad_query(await client.get(PACKAGES, params={"ordering": ordering}), "ordering")
