"""The importer: accepted shapes, exact values, grid membership from both sides, and errors."""

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tests.conftest import DBSETTINGS, ClientFactory, Loader

from pkgindex.cli import sample_path
from pkgindex.db import unit_of_work
from pkgindex.errors import ImportFailed
from pkgindex.models import Package, grid_package
from pkgindex.services.importer import ImportBatch, import_batch, read_file

BASE = "https://djangopackages.org/api/v4/"
ORIGIN = "https://djangopackages.org"
NY = "America/New_York"


def ids(links: list[str]) -> list[int]:
    return [int(re.search(r"/(\d+)/$", link).group(1)) for link in links]  # type: ignore[union-attr]


def category(id_: int = 1) -> dict[str, Any]:
    return {
        "id": id_,
        "title": f"Category {id_}",
        "slug": f"category-{id_}",
        "description": "",
        "title_plural": f"Categories {id_}",
        "show_pypi": True,
        "created": "2010-08-20T10:04:55.211343-04:00",
        "modified": "2022-06-12T09:31:03-04:00",
    }


def grid(id_: int, packages: list[int]) -> dict[str, Any]:
    return {
        "id": id_,
        "title": f"Grid {id_}",
        "slug": f"grid-{id_}",
        "description": "",
        "is_locked": False,
        "packages": [f"{BASE}packages/{p}/" for p in packages],
        "header": False,
        "created": "2012-06-18T11:03:27.145529-04:00",
        "modified": "2026-01-28T14:37:51-05:00",
    }


def package(id_: int, grids: list[int], **fields: Any) -> dict[str, Any]:
    return {
        **DBSETTINGS,
        "category": f"{BASE}categories/1/",
        "grids": [f"{BASE}grids/{g}/" for g in grids],
        "id": id_,
        "title": f"package-{id_:03d}",
        "slug": f"package-{id_}",
        "repo_url": f"https://github.com/example/package-{id_}",
        **fields,
    }


async def memberships(factory: async_sessionmaker[AsyncSession]) -> dict[int, list[int]]:
    """Each package's grid ids in the package's order."""
    async with factory() as session:
        rows = await session.execute(
            select(grid_package.c.package_id, grid_package.c.grid_id).order_by(
                grid_package.c.package_id, grid_package.c.position_in_package
            )
        )
        result: dict[int, list[int]] = {}
        for package_id, grid_id in rows:
            result.setdefault(package_id, []).append(grid_id)
        return result


# A base: package 1 in grids [10, 11], package 2 in [12, 10], package 3 in [11], package 4 in none.
BASE_DUMP = {
    "categories": [category(1)],
    "grids": [grid(10, [1, 2]), grid(11, [1, 3]), grid(12, [2])],
    "packages": [package(1, [10, 11]), package(2, [12, 10]), package(3, [11]), package(4, [])],
}


@pytest.fixture
async def base(load: Loader) -> dict[str, Any]:
    await load(BASE_DUMP)
    return BASE_DUMP


# --- the bundled sample ----------------------------------------------------------------------------


def test_sample_is_a_consistent_v4_dump() -> None:
    sample = json.loads(sample_path().read_text())
    assert 30 <= len(sample["packages"]) <= 40
    assert 4 <= len(sample["grids"]) <= 6
    assert {c["title"] for c in sample["categories"]} == {"App", "Framework", "Other", "Project"}
    assert DBSETTINGS in sample["packages"]
    by_id = {p["id"]: p for p in sample["packages"]}
    for g in sample["grids"]:
        members = [by_id[i] for i in ids(g["packages"])]
        assert members == sorted(members, key=lambda p: (p["title"], p["id"]))
        for p in members:
            assert f"{BASE}grids/{g['id']}/" in p["grids"]
    for p in sample["packages"]:
        assert len(p["commits_over_52"]) in (0, 52)
        for g_id in ids(p["grids"]):
            assert (
                f"{BASE}packages/{p['id']}/"
                in next(g for g in sample["grids"] if g["id"] == g_id)["packages"]
            )


async def test_sample_round_trips_through_the_api(load: Loader, make_client: ClientFactory) -> None:
    sample = json.loads(sample_path().read_text())
    counts = await load(sample)
    assert counts.created == {
        "categories": 4,
        "grids": len(sample["grids"]),
        "packages": len(sample["packages"]),
    }
    async with make_client(base_url=ORIGIN, timezone=NY) as client:
        for kind in ("categories", "grids", "packages"):
            for record in sample[kind]:
                response = await client.get(f"/api/v4/{kind}/{record['id']}/")
                assert response.json() == record


# --- accepted shapes ------------------------------------------------------------------------------


async def test_a_list_page_a_single_object_and_a_list(load: Loader, make_client: ClientFactory) -> None:
    await load({"count": 1, "next": None, "previous": None, "results": [category(1)]})
    # A single grid: it has a "packages" key like a dump, but it is an object.
    counts = await load(grid(10, []))
    assert counts.created["grids"] == 1
    counts = await load([package(1, [10]), package(2, []), grid(11, [2])])
    assert counts.created == {"categories": 0, "grids": 1, "packages": 2}
    counts = await load({"count": 2, "next": None, "previous": None, "results": [package(2, [11])]})
    assert counts.updated["packages"] == 1
    async with make_client(base_url=ORIGIN) as client:
        response = await client.get("/api/v4/grids/10/")
        assert ids(response.json()["packages"]) == [1]


async def test_several_files_are_one_import(
    session_factory: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    files = {
        "packages.json": [package(1, [10]), package(2, [10])],
        "grids.json": {"grids": [grid(10, [1, 2])]},
        "category.json": category(1),
    }
    batch = ImportBatch()
    for name, document in files.items():
        (tmp_path / name).write_text(json.dumps(document))
        read_file(tmp_path / name, batch)
    async with unit_of_work(session_factory) as session:
        counts = await import_batch(session, batch)
    assert counts.created == {"categories": 1, "grids": 1, "packages": 2}
    assert await memberships(session_factory) == {1: [10], 2: [10]}


async def test_reimport_is_idempotent(
    load: Loader, small_dump: dict[str, Any], session_factory: async_sessionmaker[AsyncSession]
) -> None:
    first = await load(small_dump)
    before = await memberships(session_factory)
    again = await load(small_dump)
    assert again.updated == first.created
    assert again.created == {"categories": 0, "grids": 0, "packages": 0}
    assert await memberships(session_factory) == before


# --- exact values -----------------------------------------------------------------------------------


async def test_null_and_empty_string_microseconds_and_no_commit_data(
    base: dict[str, Any], load: Loader, make_client: ClientFactory
) -> None:
    records = [
        package(5, [], documentation_url=None, pypi_version=None, commits_over_52=[]),
        package(6, [], documentation_url="", pypi_version="", last_updated=None, last_fetched=None),
        package(7, [], created="2013-02-21T06:07:16.000001-05:00", modified="2026-01-28T14:37:50.999999Z"),
    ]
    await load(records)
    async with make_client(base_url=ORIGIN, timezone=NY) as client:
        served = [(await client.get(f"/api/v4/packages/{r['id']}/")).json() for r in records]
    assert served[0] == records[0]
    assert served[1] == records[1]
    assert served[2]["created"] == "2013-02-21T06:07:16.000001-05:00"
    assert served[2]["modified"] == "2026-01-28T09:37:50.999999-05:00"


async def test_commit_counts_must_be_52_or_none(load: Loader, base: dict[str, Any]) -> None:
    with pytest.raises(ImportFailed, match=r"packages\[0\] \(id 5\): field 'commits_over_52'"):
        await load([package(5, [], commits_over_52=[0] * 51)])


# --- grid membership from both sides ---------------------------------------------------------------


async def test_a_package_replaces_its_memberships(
    base: dict[str, Any], load: Loader, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    await load(package(1, [12, 10]))  # leaves 11, joins 12, order as given
    assert await memberships(session_factory) == {1: [12, 10], 2: [12, 10], 3: [11]}
    await load(package(2, []))
    assert await memberships(session_factory) == {1: [12, 10], 3: [11]}


async def test_a_grid_replaces_its_members_and_keeps_other_grids_order(
    base: dict[str, Any],
    load: Loader,
    session_factory: async_sessionmaker[AsyncSession],
    make_client: ClientFactory,
) -> None:
    # Grid 10 drops package 2 and gains packages 3 and 4; nobody else's order changes.
    await load(grid(10, [1, 3, 4]))
    assert await memberships(session_factory) == {1: [10, 11], 2: [12], 3: [11, 10], 4: [10]}
    async with make_client(base_url=ORIGIN) as client:
        assert ids((await client.get("/api/v4/grids/10/")).json()["packages"]) == [1, 3, 4]
        assert ids((await client.get("/api/v4/packages/3/")).json()["grids"]) == [11, 10]
    # Emptying a grid removes only its memberships.
    await load(grid(11, []))
    assert await memberships(session_factory) == {1: [10], 2: [12], 3: [10], 4: [10]}


async def test_both_sides_in_one_import(
    base: dict[str, Any], load: Loader, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    # Consistent sides: the result is exactly what they say.
    await load({"grids": [grid(12, [3])], "packages": [package(3, [11, 12]), package(2, [10])]})
    assert await memberships(session_factory) == {1: [10, 11], 2: [10], 3: [11, 12]}
    # One side names a pair the other does not: a pair named by either side holds.
    await load({"grids": [grid(11, [4])], "packages": [package(4, [12])]})
    assert await memberships(session_factory) == {1: [10], 2: [10], 3: [12], 4: [12, 11]}


# --- errors (the CLI tests check the same through the command, on a database with data) ---------------


async def test_errors_name_file_record_and_field_and_roll_back(
    base: dict[str, Any],
    session_factory: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    async def snapshot() -> list[Any]:
        async with session_factory() as session:
            rows = (await session.scalars(select(Package).order_by(Package.id))).all()
            return [(p.id, p.title, p.slug, p.repo_url, p.modified) for p in rows] + [
                await memberships(session_factory)
            ]

    async def import_file(path: Path) -> None:
        batch = ImportBatch()
        read_file(path, batch)
        async with unit_of_work(session_factory) as session:
            await import_batch(session, batch)

    before = await snapshot()
    cases: list[tuple[Any, str]] = [
        (
            [package(1, [11], title="changed"), package(5, [], slug="package-2")],
            r"packages\[1\] \(id 5\): field 'slug'",
        ),
        (
            [package(1, [11]), package(5, [], repo_url=package(3, [])["repo_url"])],
            r"\(id 5\): field 'repo_url'",
        ),
        ([package(1, [11]), package(1, [])], r"packages\[1\] \(id 1\): field 'id'"),
        ([package(5, [], category=f"{BASE}grids/1/")], r"field 'category': Value error"),
        ([package(5, [99])], r"field 'grids': no grid with id 99"),
        ([package(5, [], created=1361444836)], r"field 'created'"),
        ([package(5, [], participants="zlorf")], r"field 'participants'"),
        ([{"id": 5, "title": "x"}], r"record \[0\]: not a v4"),
        (["just a string"], r"record \[0\]"),
        ({"packages": ["https://x/api/v4/packages/1/"]}, r"packages\[0\]: "),
    ]
    for document, pattern in cases:
        path = tmp_path / "case.json"
        path.write_text(json.dumps(document))
        with pytest.raises(ImportFailed, match=f"^{re.escape(str(path))}: .*{pattern}"):
            await import_file(path)
        assert await snapshot() == before, document


async def test_swapping_slugs_of_stored_rows_is_refused(base: dict[str, Any], load: Loader) -> None:
    one, two = copy.deepcopy(BASE_DUMP["packages"][:2])
    one["slug"], two["slug"] = two["slug"], one["slug"]
    with pytest.raises(ImportFailed, match=r"field 'slug': 'package-\d' belongs to stored id \d"):
        await load([one, two])


async def test_an_import_leaves_planner_statistics_on_postgresql(
    committed_database_url: str, backend: str, small_dump_path: Path
) -> None:
    """Right after an import the planner knows the table sizes (else a fresh index is read with
    sequential scans and sorts until autovacuum runs)."""
    if backend != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    from sqlalchemy import text

    from pkgindex.config import Settings
    from pkgindex.db import make_engine, make_session_factory

    engine = make_engine(Settings(database_url=committed_database_url))
    try:
        reltuples = text("SELECT reltuples FROM pg_class WHERE relname = 'package'")
        async with engine.connect() as conn:
            assert await conn.scalar(reltuples) <= 0  # never analyzed
        batch = ImportBatch()
        read_file(small_dump_path, batch)
        async with unit_of_work(make_session_factory(engine)) as session:
            counts = await import_batch(session, batch)
        async with engine.connect() as conn:
            assert await conn.scalar(reltuples) == counts.created["packages"] == 60
    finally:
        await engine.dispose()
