"""Refresher tests: a real database of the test's own (the refresher commits on several connections)
and the fake GitHub/PyPI over loopback HTTP, reached through the same settings as production."""

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pkgindex.config import Settings
from pkgindex.db import SessionFactory, make_engine, make_session_factory, unit_of_work
from pkgindex.main import create_app
from pkgindex.models import Category, Package, PackageRefresh
from pkgindex.refresh.runner import Refresher, Summary
from tests.fakeupstream import FakeProject, FakeRepo, FakeState, FakeUpstream

TOKEN = "ghp_test_token_0001"
NOW = datetime.now(UTC)


def commits(*days_ago: float) -> list[datetime]:
    """Commit dates, given as days before now."""
    return sorted(NOW - timedelta(days=days) for days in days_ago)


@pytest.fixture
def upstream() -> Iterator[FakeUpstream]:
    with FakeUpstream(FakeState()) as fake:
        yield fake


class World:
    """The database, the fake upstream, and ways to run the refresher and read the results."""

    def __init__(self, url: str, fake: FakeUpstream, engine: AsyncEngine) -> None:
        self.url = url
        self.fake = fake
        self.state: FakeState = fake.state
        self.engine = engine
        self.factory: SessionFactory = make_session_factory(engine)
        self._next_id = 1

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "database_url": self.url,
            "github_token": TOKEN,
            "github_api_url": self.fake.github_api_url,
            "github_graphql_url": self.fake.github_graphql_url,
            "pypi_url": self.fake.pypi_url,
            "upstream_timeout": 2.0,
            "upstream_backoff": 0.01,
            "activity_retry_delay": 0.2,
            **overrides,
        }
        return Settings(**values)

    async def refresh(self, *, every: bool = False, **overrides: Any) -> Summary:
        """One pass of a fresh worker, as `pkgindex refresh` runs it."""
        refresher = Refresher(self.settings(**overrides), self.factory)
        try:
            if every:
                await refresher.make_due(every=True)
            return await refresher.run_pass()
        finally:
            await refresher.aclose()

    def client(self, **overrides: Any) -> httpx.AsyncClient:
        app = create_app(self.settings(**overrides), session_factory=self.factory)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pkgindex.test")

    def github(self, full_name: str, **fields: Any) -> FakeRepo:
        """A repository upstream (and nothing in the index)."""
        repo = FakeRepo(id=self._next_id, full_name=full_name, **fields)
        self._next_id += 1
        if repo.commits and repo.pushed_at is None:
            repo.pushed_at = max(repo.commits)
        return self.state.add_repo(repo)

    def pypi(self, name: str, *versions: str, **fields: Any) -> FakeProject:
        return self.state.add_project(
            FakeProject(name=name, releases=dict.fromkeys(versions, False), **fields)
        )

    async def add_package(self, slug: str, *, repo_url: str = "", pypi_url: str = "", **values: Any) -> int:
        """A package in the index, as an import would leave it (never fetched unless told)."""
        async with unit_of_work(self.factory) as session:
            category = await session.scalar(select(Category.id).limit(1))
            if category is None:
                category = await session.scalar(
                    insert(Category)
                    .values(
                        title="Apps",
                        slug="apps",
                        description="",
                        title_plural="Apps",
                        show_pypi=True,
                        created=NOW,
                        modified=NOW,
                    )
                    .returning(Category.id)
                )
            row = {
                "category_id": category,
                "title": slug,
                "slug": slug,
                "repo_url": repo_url,
                "pypi_url": pypi_url,
                "pypi_version": None,
                "documentation_url": None,
                "repo_watchers": 0,
                "repo_forks": 0,
                "repo_description": "",
                "commits_over_52": [0] * 52,
                "participants": [],
                "last_updated": None,
                "last_fetched": None,
                "created": NOW - timedelta(days=400),
                "modified": NOW - timedelta(days=400),
                **values,
            }
            return int(await session.scalar(insert(Package).values(**row).returning(Package.id)) or 0)

    async def package(self, package_id: int) -> dict[str, Any]:
        """The v4 representation, through the API."""
        async with self.client() as client:
            response = await client.get(f"/api/v4/packages/{package_id}/")
            assert response.status_code == 200, response.text
            return dict(response.json())

    async def refresh_state(self, package_id: int) -> dict[str, Any]:
        async with self.client() as client:
            response = await client.get(f"/api/v4/packages/{package_id}/refresh/")
            assert response.status_code == 200, response.text
            return dict(response.json())

    async def row(self, package_id: int) -> PackageRefresh | None:
        async with unit_of_work(self.factory) as session:
            return await session.get(PackageRefresh, package_id)


@pytest.fixture
async def world(committed_database_url: str, upstream: FakeUpstream) -> AsyncIterator[World]:
    engine = make_engine(Settings(database_url=committed_database_url))
    try:
        yield World(committed_database_url, upstream, engine)
    finally:
        await engine.dispose()
