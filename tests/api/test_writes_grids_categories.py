"""Grid and category writes over HTTP: membership edited from the grid's side, category deletion rules,
round trips, and the validation errors, each leaving the database unchanged."""

from typing import Any

import pytest
from test_writes_common import (
    API,
    DATA,
    Factory,
    Writer,
    error_loc,
    first,
    new_category,
    new_grid,
    snapshot,
    writer,
)

__all__ = ["writer"]  # the fixture, re-exported for pytest

GRIDS = f"{API}/grids/"
CATEGORIES = f"{API}/categories/"


def package_link(package_id: int) -> str:
    return f"http://pkgindex.test/api/v4/packages/{package_id}/"


async def test_create_a_grid_with_packages(writer: Writer) -> None:
    packages = (await writer.client.get(f"{API}/packages/?limit=3")).json()["results"]
    body = {
        **new_grid(),
        "packages": [packages[0]["id"], packages[1]["slug"], package_link(packages[2]["id"])],
    }
    response = await writer.send("POST", GRIDS, json=body)
    assert response.status_code == 201, response.text
    grid = response.json()
    assert response.headers["location"] == f"http://pkgindex.test/api/v4/grids/{grid['id']}/"
    assert sorted(grid["packages"]) == sorted(package_link(p["id"]) for p in packages)
    for package in packages:
        seen = (await writer.client.get(f"{API}/packages/{package['id']}/")).json()
        # The new grid goes last among the package's grids; the package counts as modified.
        assert seen["grids"] == [*package["grids"], f"http://pkgindex.test/api/v4/grids/{grid['id']}/"]
        assert seen["modified"] == grid["modified"]


async def test_grid_membership_is_editable_from_the_grid(writer: Writer) -> None:
    grids = (await writer.client.get(GRIDS)).json()["results"]
    grid = next(g for g in grids if len(g["packages"]) >= 2)
    kept, dropped = grid["packages"][0], grid["packages"][1]
    response = await writer.send("PATCH", f"{GRIDS}{grid['slug']}/", json={"packages": [kept]})
    assert response.status_code == 200, response.text
    assert response.json()["packages"] == [kept]
    dropped_package = (await writer.client.get(dropped)).json()
    assert f"http://pkgindex.test/api/v4/grids/{grid['id']}/" not in dropped_package["grids"]


async def test_grid_and_category_round_trip(writer: Writer, session_factory: Factory) -> None:
    for collection in ("grids", "categories"):
        for item in (await writer.client.get(f"{API}/{collection}/")).json()["results"]:
            before = await snapshot(session_factory, DATA)
            response = await writer.send("PUT", f"{API}/{collection}/{item['id']}/", json=item)
            assert response.status_code == 200, response.text
            assert response.json() == item
            assert await snapshot(session_factory, DATA) == before


async def test_delete_a_grid_keeps_its_packages(writer: Writer) -> None:
    grid = next(g for g in (await writer.client.get(GRIDS)).json()["results"] if g["packages"])
    response = await writer.send("DELETE", f"{GRIDS}{grid['id']}/")
    assert (response.status_code, response.content) == (204, b"")
    assert (await writer.client.get(f"{GRIDS}{grid['id']}/")).status_code == 404
    for link in grid["packages"]:
        package = await writer.client.get(link)
        assert package.status_code == 200
        assert f"http://pkgindex.test/api/v4/grids/{grid['id']}/" not in package.json()["grids"]


async def test_category_crud(writer: Writer) -> None:
    response = await writer.send("POST", CATEGORIES, json=new_category())
    assert response.status_code == 201, response.text
    category = response.json()
    assert (category["title_plural"], category["show_pypi"]) == ("", True)
    url = response.headers["location"]
    response = await writer.send("PATCH", url, json={"show_pypi": False, "title_plural": "Testings"})
    assert response.status_code == 200, response.text
    assert (response.json()["show_pypi"], response.json()["title"]) == (False, "Testing")
    assert (await writer.send("DELETE", url)).status_code == 204
    assert (await writer.client.get(url)).status_code == 404


async def test_a_category_with_packages_cannot_be_deleted(writer: Writer) -> None:
    package = await first(writer.client, "packages")
    problem = await writer.rejected(409, "DELETE", package["category"])
    assert "package" in problem["detail"]


@pytest.mark.parametrize(
    ("collection", "field", "value", "loc"),
    [
        ("grids", "title", "", ["body", "title"]),
        ("grids", "title", "x" * 101, ["body", "title"]),
        ("grids", "slug", "bad/slug", ["body", "slug"]),
        ("grids", "slug", "2024", ["body", "slug"]),
        ("grids", "is_locked", "yes", ["body", "is_locked"]),
        ("grids", "header", 1, ["body", "header"]),
        ("grids", "description", "nul\x00", ["body", "description"]),
        ("grids", "packages", ["no-such-package"], ["body", "packages", 0]),
        ("grids", "packages", [999999], ["body", "packages", 0]),
        ("grids", "packages", ["https://x.example/api/v4/categories/1/"], ["body", "packages", 0]),
        ("categories", "title", "x" * 51, ["body", "title"]),
        ("categories", "slug", "", ["body", "slug"]),
        ("categories", "slug", "x" * 51, ["body", "slug"]),
        ("categories", "title_plural", "x" * 51, ["body", "title_plural"]),
        ("categories", "show_pypi", None, ["body", "show_pypi"]),
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_invalid_values_are_422_naming_the_field(
    writer: Writer, method: str, collection: str, field: str, value: Any, loc: list[Any]
) -> None:
    if method == "POST":
        url, body = f"{API}/{collection}/", new_grid() if collection == "grids" else new_category()
    else:
        current = await first(writer.client, collection)
        url, body = f"{API}/{collection}/{current['id']}/", current
    problem = await writer.rejected(422, method, url, json={**body, field: value})
    assert error_loc(problem)[: len(loc)] == loc, problem


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
@pytest.mark.parametrize("collection", ["grids", "categories"])
async def test_a_taken_slug_is_409(writer: Writer, method: str, collection: str) -> None:
    items = (await writer.client.get(f"{API}/{collection}/")).json()["results"]
    if method == "POST":
        url, body = f"{API}/{collection}/", new_grid() if collection == "grids" else new_category()
    else:
        url, body = f"{API}/{collection}/{items[0]['id']}/", items[0]
    problem = await writer.rejected(409, method, url, json={**body, "slug": items[1]["slug"]})
    assert error_loc(problem) == ["body", "slug"]
