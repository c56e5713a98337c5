"""Package writes over HTTP: create, replace, change, delete; relations by hyperlink, id or slug; what a
new repo_url or pypi_url clears; and every validation error, each leaving the database unchanged."""

from typing import Any

import httpx
import pytest
from sqlalchemy import select
from test_writes_common import API, DATA, Factory, Writer, error_loc, first, new_package, snapshot, writer

from pkgindex.models import Package

__all__ = ["writer"]  # the fixture, re-exported for pytest

PACKAGES = f"{API}/packages/"


async def stored(session_factory: Factory, package_id: int) -> Package:
    async with session_factory() as session:
        row = await session.scalar(select(Package).where(Package.id == package_id))
        assert row is not None
        return row


async def test_create_answers_201_with_location_and_the_read_shape(
    writer: Writer, session_factory: Factory
) -> None:
    body = await new_package(writer.client)
    grids = (await writer.client.get(f"{API}/grids/")).json()["results"][:2]
    body["grids"] = [
        grids[0]["url"] if "url" in grids[0] else f"http://x/api/v4/grids/{grids[0]['id']}/",
        grids[1]["slug"],
    ]
    response = await writer.send("POST", PACKAGES, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"http://pkgindex.test/api/v4/packages/{created['id']}/"
    assert response.headers["etag"]
    assert created["slug"] == body["slug"]
    assert created["grids"] == [f"http://pkgindex.test/api/v4/grids/{g['id']}/" for g in grids]
    assert (created["repo_watchers"], created["last_fetched"], created["pypi_version"]) == (0, None, None)
    assert created["created"] == created["modified"]
    again = await writer.client.get(response.headers["location"])
    assert again.json() == created
    assert again.headers["etag"] == response.headers["etag"]
    row = await stored(session_factory, created["id"])
    assert (row.created_by, row.modified_by) == ("editor", "editor")
    # The grid lists its new member, and is marked modified by the same token.
    grid = (await writer.client.get(f"{API}/grids/{grids[1]['id']}/")).json()
    assert f"http://pkgindex.test/api/v4/packages/{created['id']}/" in grid["packages"]
    assert grid["modified"] == created["modified"]


async def test_read_only_fields_in_a_post_are_ignored(writer: Writer) -> None:
    body = {
        **await new_package(writer.client),
        "id": 5,
        "repo_watchers": 999,
        "pypi_version": "9",
        "created": "2001-01-01T00:00:00Z",
        "participants": "not even a list",
    }
    response = await writer.send("POST", PACKAGES, json=body)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"] != 5
    assert (created["repo_watchers"], created["pypi_version"]) == (0, None)
    assert not created["created"].startswith("2001")


async def test_post_gets_a_fresh_id_after_an_import_with_explicit_ids(writer: Writer) -> None:
    # The small dump was imported with explicit ids: the PostgreSQL sequence must not hand out one of them.
    ids = set()
    for n in range(3):
        body = {**await new_package(writer.client), "slug": f"fresh-{n}", "repo_url": ""}
        response = await writer.send("POST", PACKAGES, json=body)
        assert response.status_code == 201, response.text
        ids.add(response.json()["id"])
    assert len(ids) == 3


async def test_a_get_body_sent_back_with_put_changes_nothing(
    writer: Writer, session_factory: Factory
) -> None:
    for package in (await writer.client.get(PACKAGES + "?limit=10")).json()["results"]:
        before = await snapshot(session_factory, DATA)
        response = await writer.send("PUT", f"{PACKAGES}{package['slug']}/", json=package)
        assert response.status_code == 200, response.text
        assert response.json() == package
        assert await snapshot(session_factory, DATA) == before


async def test_put_replaces_and_patch_changes_only_what_is_given(
    writer: Writer, session_factory: Factory
) -> None:
    package = await first(writer.client, "packages")
    url = f"{PACKAGES}{package['id']}/"
    response = await writer.send("PATCH", url, json={"title": "Renamed"})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["title"] == "Renamed"
    assert patched["modified"] > package["modified"]
    assert {k: v for k, v in patched.items() if k not in ("title", "modified")} == {
        k: v for k, v in package.items() if k not in ("title", "modified")
    }
    assert (await stored(session_factory, package["id"])).modified_by == "editor"
    # PUT without the optional fields resets them to their defaults.
    response = await writer.send(
        "PUT", url, json={"category": package["category"], "title": "T", "slug": package["slug"]}
    )
    assert response.status_code == 200, response.text
    replaced = response.json()
    assert (replaced["grids"], replaced["repo_url"], replaced["pypi_url"], replaced["documentation_url"]) == (
        [],
        "",
        "",
        None,
    )


async def test_relations_by_hyperlink_id_or_slug(writer: Writer) -> None:
    package = await first(writer.client, "packages")
    categories = (await writer.client.get(f"{API}/categories/")).json()["results"]
    grids = (await writer.client.get(f"{API}/grids/")).json()["results"]
    url = f"{PACKAGES}{package['id']}/"
    for category_ref in (
        categories[1]["id"],
        categories[1]["slug"],
        f"https://elsewhere.example/api/v4/categories/{categories[1]['id']}/",
        f"http://pkgindex.test/api/v4/categories/{categories[1]['slug']}/",
    ):
        response = await writer.send("PATCH", url, json={"category": category_ref})
        assert response.status_code == 200, response.text
        assert response.json()["category"] == f"http://pkgindex.test/api/v4/categories/{categories[1]['id']}/"
    refs = [
        grids[2]["slug"],
        grids[0]["id"],
        f"http://pkgindex.test/api/v4/grids/{grids[1]['id']}/",
        grids[0]["slug"],
    ]
    response = await writer.send("PATCH", url, json={"grids": refs})
    assert response.status_code == 200, response.text
    # In the order given, duplicates dropped.
    assert response.json()["grids"] == [
        f"http://pkgindex.test/api/v4/grids/{g['id']}/" for g in (grids[2], grids[0], grids[1])
    ]


async def test_a_new_repo_url_clears_repository_stats_and_schedules_a_refresh(writer: Writer) -> None:
    packages = (await writer.client.get(PACKAGES + "?ordering=-repo_watchers")).json()["results"]
    package = next(p for p in packages if p["pypi_version"] and p["last_fetched"])
    response = await writer.send(
        "PATCH", f"{PACKAGES}{package['id']}/", json={"repo_url": "https://gitlab.com/someone/else"}
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["repo_watchers"], changed["repo_forks"], changed["repo_description"]) == (0, 0, "")
    assert (changed["participants"], changed["commits_over_52"], changed["last_updated"]) == ([], [], None)
    assert changed["last_fetched"] is None
    assert changed["pypi_version"] == package["pypi_version"]  # PyPI is still the same source

    response = await writer.send(
        "PATCH", f"{PACKAGES}{package['id']}/", json={"pypi_url": "https://pypi.org/project/else/"}
    )
    assert response.json()["pypi_version"] is None


async def test_an_unchanged_url_keeps_the_stats(writer: Writer) -> None:
    package = (await writer.client.get(PACKAGES + "?ordering=-repo_watchers")).json()["results"][0]
    response = await writer.send(
        "PATCH", f"{PACKAGES}{package['id']}/", json={"repo_url": package["repo_url"], "title": "X"}
    )
    assert response.json()["repo_watchers"] == package["repo_watchers"]
    assert response.json()["last_fetched"] == package["last_fetched"]


@pytest.mark.parametrize(
    ("field", "value", "loc"),
    [
        ("title", "", ["body", "title"]),
        ("title", "   ", ["body", "title"]),
        ("title", "x" * 101, ["body", "title"]),
        ("title", None, ["body", "title"]),
        ("title", "nul\x00byte", ["body", "title"]),
        ("slug", "has space", ["body", "slug"]),
        ("slug", "ünïcode", ["body", "slug"]),
        ("slug", "x" * 101, ["body", "slug"]),
        ("slug", "12345", ["body", "slug"]),
        ("repo_url", "https://example.com/a/b", ["body", "repo_url"]),
        ("repo_url", "ftp://github.com/a/b", ["body", "repo_url"]),
        ("repo_url", "github.com/a/b", ["body", "repo_url"]),
        ("repo_url", "https://github.com/" + "x" * 250, ["body", "repo_url"]),
        ("pypi_url", "not a url", ["body", "pypi_url"]),
        ("pypi_url", "javascript:alert(1)", ["body", "pypi_url"]),
        ("documentation_url", "mailto:someone@example.com", ["body", "documentation_url"]),
        ("category", "no-such-category", ["body", "category"]),
        ("category", 999999, ["body", "category"]),
        ("category", "https://x.example/api/v4/grids/1/", ["body", "category"]),
        ("category", True, ["body", "category"]),
        ("grids", ["no-such-grid"], ["body", "grids", 0]),
        ("grids", "not-a-list", ["body", "grids"]),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_invalid_values_are_422_naming_the_field(
    writer: Writer, method: str, field: str, value: Any, loc: list[Any]
) -> None:
    if method == "POST":
        url, body = PACKAGES, await new_package(writer.client)
    else:
        current = await first(writer.client, "packages")
        url, body = f"{PACKAGES}{current['id']}/", current
    problem = await writer.rejected(422, method, url, json={**body, field: value})
    assert error_loc(problem)[: len(loc)] == loc, problem


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("field", ["slug", "repo_url"])
async def test_a_taken_slug_or_repo_url_is_409(writer: Writer, method: str, field: str) -> None:
    packages = (await writer.client.get(PACKAGES)).json()["results"]
    taken = next(p for p in packages[1:] if p["repo_url"])
    if method == "POST":
        url, body = PACKAGES, await new_package(writer.client)
    else:
        url, body = f"{PACKAGES}{packages[0]['id']}/", packages[0]
    problem = await writer.rejected(409, method, url, json={**body, field: taken[field]})
    assert error_loc(problem) == ["body", field]


async def test_delete_removes_the_package_from_its_grids(writer: Writer, session_factory: Factory) -> None:
    packages = (await writer.client.get(PACKAGES + "?limit=100")).json()["results"]
    package = next(p for p in packages if p["grids"])
    response = await writer.send("DELETE", f"{PACKAGES}{package['slug']}/")
    assert (response.status_code, response.content) == (204, b"")
    assert (await writer.client.get(f"{PACKAGES}{package['id']}/")).status_code == 404
    for grid_url in package["grids"]:
        grid = (await writer.client.get(grid_url)).json()
        assert f"http://pkgindex.test/api/v4/packages/{package['id']}/" not in grid["packages"]
    await writer.rejected(404, "DELETE", f"{PACKAGES}{package['id']}/")


async def test_an_empty_repo_url_may_repeat(writer: Writer) -> None:
    for n in range(2):
        body = {**await new_package(writer.client), "slug": f"norepo-{n}", "repo_url": ""}
        assert (await writer.send("POST", PACKAGES, json=body)).status_code == 201


async def test_a_stored_legacy_url_round_trips(writer: Writer, client: httpx.AsyncClient) -> None:
    # Formats are checked on values that change: a repo_url on a host no longer accepted stays as it is.
    package = await first(writer.client, "packages")
    url = f"{PACKAGES}{package['id']}/"
    from pkgindex.db import unit_of_work

    async with unit_of_work(writer.session_factory) as session:
        row = await session.get(Package, package["id"])
        assert row is not None
        row.repo_url = "http://code.google.com/p/legacy"
    legacy = (await client.get(url)).json()
    response = await writer.send("PUT", url, json={**legacy, "title": "Still legacy"})
    assert response.status_code == 200, response.text
    assert response.json()["repo_url"] == "http://code.google.com/p/legacy"
