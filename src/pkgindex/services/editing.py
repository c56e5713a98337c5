"""Creating, changing and deleting packages, grids and categories: the rules that span repositories.

``values`` are the writable fields of a request body, already checked for type and length: all of
them for POST and PUT, only the given ones for PATCH. Everything is checked before the first write
(422 for a bad value or an unknown reference, 409 for a taken slug or repo_url); the caller's unit of
work makes a failed write leave nothing behind either way.

- ``modified`` (and ``modified_by``) change only when something does: a PUT of what a GET returned
  writes nothing. Membership is part of both sides' representations, so a package gaining or losing a
  grid marks that grid modified as well, and the other way round, for clients syncing by ``modified``.
- Formats the import does not enforce (URLs, the code host of ``repo_url``, digit-only slugs) are
  checked only on values that change, so any stored value round-trips.
- A new ``repo_url`` or ``pypi_url`` clears the stats that came from the old source and sets
  ``last_fetched`` to null: a null ``last_fetched`` is what schedules a package for a refresh.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from pkgindex.errors import DuplicateValue, InUse, InvalidField
from pkgindex.models import Category, Grid, Package
from pkgindex.refresh import state as refresh_state
from pkgindex.repositories.categories import CategoryRepository
from pkgindex.repositories.common import holder_of, resolve_ids
from pkgindex.repositories.grids import GridRepository, reconcile_membership
from pkgindex.repositories.packages import PackageRepository
from pkgindex.schemas.common import utc_now
from pkgindex.schemas.writes import http_url_problem, repo_url_problem, slug_problem

CATEGORY_FIELDS = ("title", "slug", "description", "title_plural", "show_pypi")
GRID_FIELDS = ("title", "slug", "description", "is_locked", "header")
PACKAGE_FIELDS = ("title", "slug", "repo_url", "pypi_url", "documentation_url")


# What a package's repository and PyPI project supply; cleared when their URL changes.
def no_repo_stats() -> dict[str, Any]:
    """What a package knows of its repository before the refresher has looked."""
    return {
        "repo_watchers": 0,
        "repo_forks": 0,
        "repo_description": "",
        "participants": [],
        "commits_over_52": [],
        "last_updated": None,
    }


@dataclass
class Editor:
    """One caller's edits within one unit of work; ``by`` is the name of the caller's token."""

    session: AsyncSession
    by: str
    now: datetime = field(default_factory=utc_now)

    # --- categories ---------------------------------------------------------------------------------

    async def create_category(self, values: dict[str, Any]) -> Category:
        await self._check_slug(Category, None, values["slug"])
        category = Category(created=self.now, created_by=self.by)
        self._assign(category, values, CATEGORY_FIELDS)
        self._stamp(category)
        return await CategoryRepository(self.session).add(category)

    async def change_category(self, category: Category, values: dict[str, Any]) -> bool:
        if "slug" in values:
            await self._check_slug(Category, category, values["slug"])
        changed = self._assign(category, values, CATEGORY_FIELDS)
        if changed:
            self._stamp(category)
            await self.session.flush()
        return changed

    async def delete_category(self, category: Category) -> None:
        repository = CategoryRepository(self.session)
        if count := await repository.package_count(category.id):
            raise InUse(f"The category still has {count} package(s); move or delete them first.")
        await repository.delete(category)

    # --- grids --------------------------------------------------------------------------------------

    async def create_grid(self, values: dict[str, Any]) -> Grid:
        self._check_new_slug(None, values["slug"])
        members = await self._resolve(Package, "packages", values.get("packages", []))
        await self._check_unique(Grid.slug, None, values["slug"], "slug")
        grid = Grid(created=self.now, created_by=self.by)
        self._assign(grid, values, GRID_FIELDS)
        self._stamp(grid)
        await GridRepository(self.session).add(grid)
        await self._set_members(grid, set(), set(members))
        return grid

    async def change_grid(self, grid: Grid, values: dict[str, Any]) -> bool:
        if "slug" in values:
            self._check_new_slug(grid, values["slug"])
        members = None
        if "packages" in values:
            members = set(await self._resolve(Package, "packages", values["packages"]))
        if "slug" in values:
            await self._check_unique(Grid.slug, grid, values["slug"], "slug")
        changed = False
        if members is not None:
            stored = set((await GridRepository(self.session).package_ids([grid.id]))[grid.id])
            changed = await self._set_members(grid, stored, members)
        changed = self._assign(grid, values, GRID_FIELDS) or changed
        if changed:
            self._stamp(grid)
            await self.session.flush()
        return changed

    async def delete_grid(self, grid: Grid) -> None:
        repository = GridRepository(self.session)
        members = (await repository.package_ids([grid.id]))[grid.id]
        await reconcile_membership(self.session, {}, {grid.id: set()})
        await PackageRepository(self.session).touch(members, self.now, self.by)
        await repository.delete(grid)

    async def _set_members(self, grid: Grid, stored: set[int], members: set[int]) -> bool:
        if stored == members:
            return False
        changed = await reconcile_membership(self.session, {}, {grid.id: members})
        await PackageRepository(self.session).touch(sorted(changed), self.now, self.by)
        return True

    # --- packages -----------------------------------------------------------------------------------

    async def create_package(self, values: dict[str, Any]) -> Package:
        self._check_package_formats(None, values)
        category_id = (await self._resolve(Category, "category", [values["category"]], single=True))[0]
        grids = await self._resolve(Grid, "grids", values.get("grids", []))
        await self._check_package_unique(None, values)
        package = Package(
            category_id=category_id,
            pypi_version=None,
            last_fetched=None,  # never fetched: due for a refresh
            created=self.now,
            created_by=self.by,
            **no_repo_stats(),
        )
        package.repo_url = package.pypi_url = ""
        package.documentation_url = None
        self._assign(package, values, PACKAGE_FIELDS)
        self._stamp(package)
        await PackageRepository(self.session).add(package)
        await self._set_grids(package, [], grids)
        return package

    async def change_package(self, package: Package, values: dict[str, Any]) -> bool:
        self._check_package_formats(package, values)
        category_id = package.category_id
        if "category" in values:
            category_id = (await self._resolve(Category, "category", [values["category"]], single=True))[0]
        grids = await self._resolve(Grid, "grids", values["grids"]) if "grids" in values else None
        await self._check_package_unique(package, values)
        changed = category_id != package.category_id
        package.category_id = category_id
        if grids is not None:
            stored = (await PackageRepository(self.session).grid_ids([package.id]))[package.id]
            changed = await self._set_grids(package, stored, grids) or changed
        old_repo_url, old_pypi_url, old_docs = package.repo_url, package.pypi_url, package.documentation_url
        changed = self._assign(package, values, PACKAGE_FIELDS) or changed
        if package.documentation_url != old_docs:
            package.documentation_url_from_pypi = False  # a person's link: the refresher keeps it
        if package.repo_url != old_repo_url:
            stats = no_repo_stats()
            self._assign(package, stats, tuple(stats))
            package.last_fetched = None
        if package.pypi_url != old_pypi_url:
            package.pypi_version = None
            package.last_fetched = None
        if (package.repo_url, package.pypi_url) != (old_repo_url, old_pypi_url):
            await refresh_state.make_due(self.session, package.id, self.now)  # after the UPDATE: lock order
        if changed:
            self._stamp(package)
            await self.session.flush()
        return changed

    async def delete_package(self, package: Package) -> None:
        grids = (await PackageRepository(self.session).grid_ids([package.id]))[package.id]
        await reconcile_membership(self.session, {package.id: []}, {})
        await GridRepository(self.session).touch(grids, self.now, self.by)
        await PackageRepository(self.session).delete(package)

    async def _set_grids(self, package: Package, stored: list[int], grids: list[int]) -> bool:
        grids = list(dict.fromkeys(grids))
        if stored == grids:
            return False
        await reconcile_membership(self.session, {package.id: grids}, {})
        await GridRepository(self.session).touch(sorted(set(stored) ^ set(grids)), self.now, self.by)
        return True

    def _check_package_formats(self, package: Package | None, values: dict[str, Any]) -> None:
        """Formats of the values that change (422)."""
        if "slug" in values:
            self._check_new_slug(package, values["slug"])

        def changes(name: str) -> bool:
            return name in values and (package is None or getattr(package, name) != values[name])

        if changes("repo_url") and (problem := repo_url_problem(values["repo_url"])):
            raise InvalidField(("repo_url",), problem)
        for name in ("pypi_url", "documentation_url"):
            if changes(name) and values[name] and (problem := http_url_problem(values[name])):
                raise InvalidField((name,), problem)

    async def _check_package_unique(self, package: Package | None, values: dict[str, Any]) -> None:
        """Slug and (non-empty) repo_url belong to no other package (409)."""
        if "slug" in values:
            await self._check_unique(Package.slug, package, values["slug"], "slug")
        if values.get("repo_url"):
            await self._check_unique(Package.repo_url, package, values["repo_url"], "repo_url")

    # --- shared -------------------------------------------------------------------------------------

    def _assign(self, row: Any, values: dict[str, Any], names: Sequence[str]) -> bool:
        """Set the given ``names`` of ``values`` on ``row``; whether any of them changed."""
        changed = False
        for name in names:
            if name in values and getattr(row, name) != values[name]:
                setattr(row, name, values[name])
                changed = True
        return changed

    def _stamp(self, row: Category | Grid | Package) -> None:
        row.modified = self.now
        row.modified_by = self.by

    def _check_new_slug(self, row: Any, slug: str) -> None:
        if (row is None or row.slug != slug) and (problem := slug_problem(slug)):
            raise InvalidField(("slug",), problem)

    async def _check_slug(self, model: Any, row: Any, slug: str) -> None:
        self._check_new_slug(row, slug)
        await self._check_unique(model.slug, row, slug, "slug")

    async def _check_unique(self, column: Any, row: Any, value: Any, name: str) -> None:
        if row is not None and getattr(row, name) == value:
            return
        holder = await holder_of(self.session, column, value, None if row is None else row.id)
        if holder is not None:
            raise DuplicateValue(name, f"{value!r} already belongs to id {holder}")

    async def _resolve(
        self, model: Any, name: str, refs: Sequence[int | str], single: bool = False
    ) -> list[int]:
        """The ids of ``refs``; 422 naming the first that is unknown."""
        ids = await resolve_ids(self.session, model, refs)
        for position, (ref, found) in enumerate(zip(refs, ids, strict=True)):
            if found is None:
                loc: tuple[str | int, ...] = (name,) if single else (name, position)
                raise InvalidField(loc, f"no {model.__tablename__} with id or slug {ref!r}")
        return [found for found in ids if found is not None]
