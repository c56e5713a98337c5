"""GET /api/v4/search/ and the ``q`` filter of /api/v4/packages/, on SQLite (FTS5) and PostgreSQL
(tsvector with a GIN index): the result shape, the ranking, the matcher, the index's upkeep and use."""

from collections.abc import Iterable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from tests.conftest import Loader

from pkgindex.db import unit_of_work
from pkgindex.services.search import MAX_RESULTS

API = "https://djangopackages.org/api/v4"
SEARCH_KEYS = [
    "description",
    "title",
    "created",
    "modified",
    "weight",
    "item_type",
    "title_no_prefix",
    "slug",
    "slug_no_prefix",
    "clean_title",
    "category",
    "absolute_url",
    "repo_watchers",
    "repo_forks",
    "pypi_downloads",
    "usage",
    "participants",
    "last_committed",
    "last_released",
]
CREATED = "2015-04-22T21:34:42.409828-04:00"
MODIFIED = "2026-01-28T16:20:56-05:00"
LAST_UPDATED = "2025-12-01T08:00:00-05:00"
NASTY_QUERIES = [
    '"',
    "'",
    '"unclosed',
    "it's",
    "filter & forms",
    "filter | forms",
    "!filter",
    "filter:*",
    "filter:A",
    "*",
    "filter*",
    "(filter",
    "forms)",
    "(filter | forms) & !x",
    "NEAR(filter forms)",
    "NEAR",
    "filter AND",
    "OR forms",
    "AND OR NOT",
    "filter NOT forms",
    "^filter",
    "title:filter",
    "filter <-> forms",
    "filter <2> forms",
    "\\",
    "%",
    "_",
    "%_%",
    "{filter}",
    "+filter -forms",
    "filter\x00",
    "\x00",
    "''''",
    '"filter"*',
    "column:",
    "-",
    "django-",
    ";DROP TABLE package;--",
]


def category(id: int = 1, title: str = "App", slug: str = "apps") -> dict[str, Any]:
    return {
        "id": id,
        "title": title,
        "slug": slug,
        "description": "",
        "title_plural": title + "s",
        "show_pypi": True,
        "created": CREATED,
        "modified": MODIFIED,
    }


def package(
    id: int,
    title: str,
    slug: str | None = None,
    description: str = "",
    stars: int = 0,
    forks: int = 0,
    participants: Iterable[str] = (),
    category_id: int = 1,
    last_updated: str | None = LAST_UPDATED,
) -> dict[str, Any]:
    slug = slug or title.lower().replace(" ", "-")
    return {
        "category": f"{API}/categories/{category_id}/",
        "grids": [],
        "id": id,
        "title": title,
        "slug": slug,
        "last_updated": last_updated,
        "last_fetched": None,
        "repo_url": f"https://github.com/example/{slug}",
        "pypi_version": None,
        "created": CREATED,
        "modified": MODIFIED,
        "repo_forks": forks,
        "repo_description": description,
        "pypi_url": "",
        "documentation_url": None,
        "repo_watchers": stars,
        "commits_over_52": [],
        "participants": list(participants),
    }


def grid(id: int, title: str, slug: str | None = None, description: str = "") -> dict[str, Any]:
    return {
        "id": id,
        "title": title,
        "slug": slug or title.lower().replace(" ", "-"),
        "description": description,
        "is_locked": False,
        "packages": [],
        "header": False,
        "created": CREATED,
        "modified": MODIFIED,
    }


def dump(packages: list[dict[str, Any]], grids: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"categories": [category()], "grids": grids or [], "packages": packages}


async def search(client: httpx.AsyncClient, q: str) -> list[dict[str, Any]]:
    response = await client.get("/api/v4/search/", params={"q": q})
    assert response.status_code == 200, response.text
    hits = response.json()
    assert isinstance(hits, list)
    return hits


async def slugs(client: httpx.AsyncClient, q: str) -> list[str]:
    return [hit["slug"] for hit in await search(client, q)]


async def package_slugs(client: httpx.AsyncClient, q: str) -> set[str]:
    response = await client.get("/api/v4/packages/", params={"q": q, "limit": 100})
    assert response.status_code == 200, response.text
    return {item["slug"] for item in response.json()["results"]}


def sql_literal(value: Any) -> str:
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


async def execute(session_factory: async_sessionmaker[AsyncSession], *statements: str) -> None:
    async with unit_of_work(session_factory) as session:
        for statement in statements:
            await session.execute(text(statement))


# --- shape -----------------------------------------------------------------------------------


async def test_hit_shape_key_order_and_types(client: httpx.AsyncClient, load: Loader) -> None:
    await load(
        dump(
            [
                package(
                    7,
                    "django-DB_Settings 2",
                    slug="django-dbsettings",
                    description="Settings stored in the database.",
                    stars=1234,
                    forks=56,
                    participants=["alice", "bob"],
                )
            ]
        )
    )
    [hit] = await search(client, "dbsettings")
    assert list(hit) == SEARCH_KEYS
    assert hit == {
        "description": "Settings stored in the database.",
        "title": "django-DB_Settings 2",
        "created": "2015-04-23T01:34:42.409828Z",
        "modified": "2026-01-28T21:20:56Z",
        "weight": hit["weight"],
        "item_type": "package",
        "title_no_prefix": "DB_Settings 2",
        "slug": "django-dbsettings",
        "slug_no_prefix": "dbsettings",
        "clean_title": "djangodbsettings2",
        "category": "App",
        "absolute_url": "/packages/p/django-dbsettings/",
        "repo_watchers": 1234,
        "repo_forks": 56,
        "pypi_downloads": None,
        "usage": None,
        "participants": "alice,bob",
        "last_committed": "2025-12-01T13:00:00Z",
        "last_released": None,
    }
    # Exact slug match without the prefix (1000) + every word in the slug (100) + 10 * log10(1235).
    assert hit["weight"] == 1000 + 100 + 31


async def test_nulls_and_empty_participants(client: httpx.AsyncClient, load: Loader) -> None:
    await load(dump([package(1, "lonely", last_updated=None)]))
    [hit] = await search(client, "lonely")
    assert hit["last_committed"] is None
    assert hit["participants"] == ""
    assert hit["repo_watchers"] == 0


async def test_timestamps_in_the_configured_zone(make_client: Any, load: Loader) -> None:
    await load(dump([package(1, "django-zoned")], [grid(1, "Zoned Things")]))
    async with make_client(timezone="America/New_York") as client:
        hits = await search(client, "zoned")
    assert {hit["item_type"] for hit in hits} == {"package", "grid"}
    for hit in hits:
        assert hit["created"] == CREATED  # the very strings the original served
        assert hit["modified"] == MODIFIED
    assert next(hit for hit in hits if hit["item_type"] == "package")["last_committed"] == LAST_UPDATED
    async with make_client(timezone="Asia/Kolkata") as client:
        hits = await search(client, "zoned")
    assert {hit["modified"] for hit in hits} == {"2026-01-29T02:50:56+05:30"}


async def test_the_loaded_sample_is_searchable(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    for record in loaded["packages"][:10]:
        hits = await search(client, record["slug"])
        assert hits[0]["slug"] == record["slug"]
        assert hits[0]["item_type"] == "package"
        assert hits[0]["title"] == record["title"]
        assert hits[0]["repo_watchers"] == record["repo_watchers"]
        assert hits[0]["participants"] == ",".join(record["participants"])
        assert hits[0]["weight"] >= 1000
    for record in loaded["grids"]:
        hits = await search(client, record["title"])
        grid_hit = next(hit for hit in hits if hit["item_type"] == "grid" and hit["slug"] == record["slug"])
        assert grid_hit["weight"] >= 1000
        assert grid_hit["absolute_url"] == f"/grids/g/{record['slug']}/"


# --- ranking ---------------------------------------------------------------------------------


async def test_exact_match_first_even_when_a_more_popular_package_matches(
    client: httpx.AsyncClient, load: Loader
) -> None:
    await load(
        dump(
            [
                package(1, "django-filter", stars=3),
                package(2, "django-filter-extras", description="More filter for django-filter.", stars=90000),
                package(3, "filterpaginator", stars=50000),
                package(4, "Django Forms Builder", slug="forms-builder", stars=70000),
                package(5, "Crispy", slug="django-crispy-forms", description="DRY forms.", stars=1),
            ]
        )
    )
    for q in ("django-filter", "filter", "Django-Filter", "  FILTER  ", "django-FILTER"):
        assert (await slugs(client, q))[0] == "django-filter", q
    assert set(await slugs(client, "filter")) == {"django-filter", "django-filter-extras", "filterpaginator"}
    # Non-exact hits follow by weight: every word in the title, then popularity.
    assert await slugs(client, "filter") == ["django-filter", "django-filter-extras", "filterpaginator"]
    # An exact slug match counts as much as a title match, with or without the prefix.
    for q in ("crispy-forms", "django-crispy-forms", "crispy"):
        assert (await slugs(client, q))[0] == "django-crispy-forms", q
    assert (await slugs(client, "forms"))[0] == "forms-builder"  # no exact match: the popular one


async def test_verbatim_exact_match_beats_the_prefixed_form(client: httpx.AsyncClient, load: Loader) -> None:
    await load(
        dump(
            [
                package(1, "filter", description="A django filter.", stars=100000),
                package(2, "django-filter", stars=1),
            ]
        )
    )
    assert await slugs(client, "django-filter") == ["django-filter", "filter"]
    assert await slugs(client, "filter") == ["filter", "django-filter"]
    weights = [hit["weight"] for hit in await search(client, "django-filter")]
    assert weights[0] > weights[1] >= 1000


async def test_exact_grid_match_first(client: httpx.AsyncClient, load: Loader) -> None:
    await load(
        dump(
            [package(1, "django-payments-plus", stars=100000)],
            [grid(1, "Payments", description="Taking money."), grid(2, "Payment gateways")],
        )
    )
    hits = await search(client, "payments")
    assert [(hit["item_type"], hit["slug"]) for hit in hits] == [
        ("grid", "payments"),
        ("package", "django-payments-plus"),
    ]
    assert ("grid", "payment-gateways") in [
        (hit["item_type"], hit["slug"]) for hit in await search(client, "pay")
    ]


async def test_weights_never_increase_and_ties_are_stable(client: httpx.AsyncClient, load: Loader) -> None:
    await load(
        dump(
            [package(i, f"widget-{i}", stars=(i * 37) % 500) for i in range(1, 12)],
            [grid(1, "Widgets"), grid(2, "More widgets")],
        )
    )
    hits = await search(client, "widget")
    weights = [hit["weight"] for hit in hits]
    assert weights == sorted(weights, reverse=True)
    assert hits == await search(client, "widget")


# --- matching --------------------------------------------------------------------------------


async def test_prefix_matching(client: httpx.AsyncClient, load: Loader) -> None:
    await load(
        dump(
            [
                package(1, "django-dbsettings", description="Application settings in the database."),
                package(2, "channels.redis", slug="channels_redis", description="Redis layer."),
                package(3, "unrelated"),
            ]
        )
    )
    for q in ("dbset", "DBSET", "dbsettings", "django-dbset", "databa", "applic sett"):
        assert await slugs(client, q) == ["django-dbsettings"], q
        assert await package_slugs(client, q) == {"django-dbsettings"}, q
    # Punctuation separates words the same way on both backends.
    for q in ("redis", "channels redis", "channels.redis", "channels_redis", "layer"):
        assert await slugs(client, q) == ["channels_redis"], q
    # A prefix must start a word.
    assert await slugs(client, "settings") == ["django-dbsettings"]  # from the description
    assert await slugs(client, "bsettings") == []
    assert await slugs(client, "ttings") == []


async def test_every_word_is_required(client: httpx.AsyncClient, load: Loader) -> None:
    await load(
        dump(
            [
                package(1, "django-rest-framework", description="Web APIs for Django."),
                package(2, "django-rest-auth", description="Authentication endpoints."),
                package(3, "framework-tools", description="Not a rest-ful thing."),
            ],
            [grid(1, "REST frameworks", slug="rest-frameworks")],
        )
    )
    assert set(await slugs(client, "rest framework")) == {
        "django-rest-framework",
        "framework-tools",
        "rest-frameworks",
    }
    assert await slugs(client, "rest auth") == ["django-rest-auth"]
    assert await slugs(client, "rest apis") == ["django-rest-framework"]  # a word from the description
    assert await slugs(client, "rest auth framework") == []
    assert await package_slugs(client, "rest auth") == {"django-rest-auth"}
    assert await package_slugs(client, "framework web") == {"django-rest-framework"}
    # Operators are words like any other, never syntax.
    assert await slugs(client, "rest AND auth") == []
    assert await slugs(client, "rest OR auth") == []


async def test_grids_are_hits(client: httpx.AsyncClient, load: Loader) -> None:
    await load(
        dump([], [grid(3, "Admin interfaces", slug="admin-interfaces", description="Skins for the admin.")])
    )
    [hit] = await search(client, "skins")
    assert list(hit) == SEARCH_KEYS
    assert hit["item_type"] == "grid"
    assert hit["absolute_url"] == "/grids/g/admin-interfaces/"
    assert hit["description"] == "Skins for the admin."
    assert hit["category"] == ""
    assert (hit["repo_watchers"], hit["repo_forks"], hit["participants"]) == (0, 0, "")
    assert hit["last_committed"] is None
    assert hit["clean_title"] == "admininterfaces"


@pytest.mark.parametrize("q", ["", " ", "\t\n", "!!!", "---", "&|!", "()", '""', "*:", "_", "__", "—", "…"])
async def test_queries_without_words_find_nothing(
    client: httpx.AsyncClient, loaded: dict[str, Any], q: str
) -> None:
    assert await search(client, q) == []


async def test_missing_q_finds_nothing(client: httpx.AsyncClient, loaded: dict[str, Any]) -> None:
    response = await client.get("/api/v4/search/")
    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("q", NASTY_QUERIES)
async def test_match_syntax_is_never_interpreted(client: httpx.AsyncClient, load: Loader, q: str) -> None:
    await load(dump([package(1, "django-filter"), package(2, "django-forms")]))
    hits = await search(client, q)
    assert len(hits) <= 2
    response = await client.get("/api/v4/packages/", params={"q": q})
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["results"], list)


async def test_at_most_twenty_results(client: httpx.AsyncClient, load: Loader) -> None:
    await load(
        dump(
            [package(i, f"gadget-{i}", stars=i) for i in range(1, 31)],
            [grid(i, f"Gadget set {i}") for i in range(1, 6)],
        )
    )
    hits = await search(client, "gadget")
    assert len(hits) == MAX_RESULTS
    # The most popular come first among equal matches.
    assert [hit["slug"] for hit in hits[:3]] == ["gadget-30", "gadget-29", "gadget-28"]
    response = await client.get("/api/v4/packages/", params={"q": "gadget", "limit": 100})
    assert response.json()["count"] == 30


async def test_unicode_queries(client: httpx.AsyncClient, load: Loader) -> None:
    await load(
        dump(
            [
                package(1, "Café Société", slug="cafe-societe", description="Pour l'école."),
                package(2, "日本語 tools", slug="nihongo", description="Translations for 日本語."),
                package(3, "plain"),
            ]
        )
    )
    for q in ("café", "CAFÉ", "Soci", "société", "école", "ÉCOLE", "l'école"):
        assert await slugs(client, q) == ["cafe-societe"], q
    assert await slugs(client, "日本") == ["nihongo"]
    assert await slugs(client, "日本語") == ["nihongo"]
    for q in ("🙂", "ß", "İstanbul", "\u0301", "ꙮ", "\uff12\uff10\uff12\uff14"):
        assert await search(client, q) == [], q


async def test_q_longer_than_200_is_a_problem(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/v4/search/", params={"q": "a" * 200})).status_code == 200
    response = await client.get("/api/v4/search/", params={"q": "a" * 201})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 400
    assert "'q'" in body["detail"]
    assert body["errors"][0]["loc"] == ["query", "q"]


# --- arbitrary input -------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(max_size=200))
async def test_arbitrary_text_never_errors(client: httpx.AsyncClient, load: Loader, q: str) -> None:
    await load(
        dump([package(1, "django-filter", description="Filter querysets."), package(2, "café", slug="cafe")])
    )
    hits = await search(client, q)
    assert len(hits) <= 2
    response = await client.get("/api/v4/packages/", params={"q": q})
    assert response.status_code == 200, response.text
    assert isinstance(response.json()["results"], list)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(q=st.text(alphabet=st.sampled_from(list("ab \"'&|!:*()-<>^~+{}[]\\%_,.;NEAROTDn")), max_size=40))
async def test_operator_soup_never_errors(client: httpx.AsyncClient, load: Loader, q: str) -> None:
    await load(dump([package(1, "a-b", description="ab ba NEAR AND OR NOT")]))
    await search(client, q)
    response = await client.get("/api/v4/packages/", params={"q": q})
    assert response.status_code == 200, response.text


# --- the index follows the data --------------------------------------------------------------


async def test_index_follows_imports_updates_and_deletes(
    client: httpx.AsyncClient,
    load: Loader,
    session_factory: async_sessionmaker[AsyncSession],
    backend: str,
) -> None:
    await load(
        dump(
            [package(1, "django-alpha", description="First widget."), package(2, "django-omega")],
            [grid(1, "Alpha grid", slug="alpha-grid", description="Alphas.")],
        )
    )
    assert await slugs(client, "alpha") == ["django-alpha", "alpha-grid"]

    # Re-import with new text: the old words stop matching, the new ones start.
    await load(
        dump(
            [package(1, "django-beta", description="Second gizmo.")],
            [grid(1, "Beta grid", slug="beta-grid", description="Betas.")],
        )
    )
    assert await slugs(client, "alpha") == []
    assert await slugs(client, "widget") == []
    assert await slugs(client, "beta") == ["django-beta", "beta-grid"]
    assert await slugs(client, "gizmo") == ["django-beta"]
    assert await package_slugs(client, "beta") == {"django-beta"}

    # Plain SQL: updates of indexed and of other columns, inserts, deletes.
    await execute(
        session_factory,
        "UPDATE package SET repo_description = 'Now a zeppelin.' WHERE id = 1",
        "UPDATE package SET repo_watchers = 99 WHERE id = 1",
        "UPDATE grid SET title = 'Gamma grid' WHERE id = 1",
    )
    assert await slugs(client, "zeppelin") == ["django-beta"]
    assert await slugs(client, "gizmo") == []
    assert await slugs(client, "beta") == ["django-beta", "beta-grid"]  # the grid's slug still says beta
    assert await slugs(client, "gamma") == ["beta-grid"]
    assert (await search(client, "zeppelin"))[0]["repo_watchers"] == 99

    await execute(
        session_factory,
        "INSERT INTO package (id, category_id, title, slug, repo_url, pypi_url, repo_watchers, repo_forks, "
        "repo_description, commits_over_52, participants, created, modified) VALUES (3, 1, 'django-delta', "
        "'django-delta', '', '', 0, 0, 'Inserted by hand.', '[]', '[]', '2020-01-01 00:00:00+00:00', "
        "'2020-01-01 00:00:00+00:00')",
    )
    assert await slugs(client, "delta") == ["django-delta"]
    assert await slugs(client, "inserted hand") == ["django-delta"]

    await execute(session_factory, "DELETE FROM package WHERE id IN (1, 3)", "DELETE FROM grid WHERE id = 1")
    for q in ("zeppelin", "delta", "gamma", "beta"):
        assert await slugs(client, q) == [], q
    assert await slugs(client, "omega") == ["django-omega"]

    if backend == "sqlite":  # the external-content index agrees with its tables, row for row
        await execute(
            session_factory,
            "INSERT INTO package_fts(package_fts) VALUES ('integrity-check')",
            "INSERT INTO grid_fts(grid_fts) VALUES ('integrity-check')",
        )


# --- the index is used -----------------------------------------------------------------------


async def test_postgresql_search_uses_the_gin_indexes(
    client: httpx.AsyncClient,
    load: Loader,
    engine: AsyncEngine,
    session_factory: async_sessionmaker[AsyncSession],
    backend: str,
) -> None:
    if backend != "postgresql":
        pytest.skip("the GIN expression indexes are PostgreSQL's")
    await load(
        dump([package(1, "django-dbsettings")], [grid(1, "Dbsettings helpers", slug="dbsettings-helpers")])
    )
    # Enough rows that a sequential scan is the costlier plan, and fresh statistics.
    await execute(
        session_factory,
        "INSERT INTO package (id, category_id, title, slug, repo_url, pypi_url, repo_watchers, repo_forks, "
        "repo_description, commits_over_52, participants, created, modified) "
        "SELECT n, 1, 'package ' || n, 'package-' || n, '', '', n % 1000, 0, "
        "'Some description of package number ' || n || ' with words.', '[]', '[]', now(), now() "
        "FROM generate_series(10, 20009) AS n",
        "INSERT INTO grid (id, title, slug, description, is_locked, header, created, modified) "
        "SELECT n, 'Grid ' || n, 'grid-' || n, 'Grid number ' || n, false, false, now(), now() "
        "FROM generate_series(10, 20009) AS n",
        "ANALYZE package",
        "ANALYZE grid",
    )

    # Capture the statements the app sends for one search, with their parameters.
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if "to_tsquery" in statement:
            sent.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        assert await slugs(client, "dbsett") == ["django-dbsettings", "dbsettings-helpers"]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)
    assert len(sent) == 2  # one for packages, one for grids

    plans = []
    async with session_factory() as session, session.begin():
        conn = await session.connection()
        for name, (statement, parameters) in zip(("package_search", "grid_search"), sent, strict=True):
            # As sent: a custom plan, for these parameter values.
            result = await conn.exec_driver_sql("EXPLAIN " + statement, parameters)
            plans.append("\n".join(row[0] for row in result))
            # A generic plan, for any parameter values, as a cached prepared statement may get.
            await conn.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            await conn.exec_driver_sql(f"PREPARE {name} AS {statement}")
            arguments = ", ".join(sql_literal(value) for value in parameters)
            result = await conn.exec_driver_sql(f"EXPLAIN EXECUTE {name}({arguments})")
            generic = "\n".join(row[0] for row in result)
            assert "$1" in generic, generic
            plans[-1] += "\n\ngeneric:\n" + generic
            await conn.exec_driver_sql(f"DEALLOCATE {name}")
    package_plan, grid_plan = plans
    assert "Bitmap Index Scan on ix_package_search" in package_plan, package_plan
    assert "Seq Scan on package" not in package_plan, package_plan
    assert package_plan.count("Bitmap Index Scan on ix_package_search") == 2, package_plan
    assert "Bitmap Index Scan on ix_grid_search" in grid_plan, grid_plan
    assert "Seq Scan on grid" not in grid_plan, grid_plan
    assert grid_plan.count("Bitmap Index Scan on ix_grid_search") == 2, grid_plan
    print(package_plan, grid_plan, sep="\n\n")


async def test_format_parameter_and_head(client: httpx.AsyncClient, load: Loader) -> None:
    await load(dump([package(1, "django-formatted")]))
    for fmt in ("json", "api"):
        response = await client.get("/api/v4/search/", params={"q": "formatted", "format": fmt})
        assert response.status_code == 200
        assert [hit["slug"] for hit in response.json()] == ["django-formatted"]
    response = await client.head("/api/v4/search/", params={"q": "formatted"})
    assert response.status_code == 200
