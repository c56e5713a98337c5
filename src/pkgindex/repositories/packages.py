import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select

from pkgindex.errors import InvalidQuery
from pkgindex.models import Category, Grid, Package, grid_package
from pkgindex.repositories.common import (
    ByRef,
    Reader,
    Represented,
    ResourceRepository,
    binary_collation,
    ids_from,
    ordered_ids,
    page_of,
    representation_columns,
)
from pkgindex.repositories.search import matches, rank_candidates

# The fields a client may order packages by; each may also be prefixed with "-" for descending.
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


CATEGORY_ID = ByRef(select(Category.id), Category)
GRID_ID = ByRef(select(Grid.id), Grid)


@dataclass(frozen=True)
class PackageFilter:
    category: str | None = None
    grid: str | None = None
    q: str | None = None
    modified_after: datetime | None = None


def parse_ordering(value: str | None) -> list[tuple[str, bool]]:
    """``"-repo_watchers,title"`` -> ``[("repo_watchers", True), ("title", False)]``; 400 if unknown."""
    if value is None or not value.strip():
        return [("id", True)]
    terms = []
    for raw in value.split(","):
        term = raw.strip()
        name = term.removeprefix("-")
        if name not in ORDERING_FIELDS:
            allowed = ", ".join(ORDERING_FIELDS)
            raise InvalidQuery("ordering", f"unknown field {term!r}; allowed: {allowed} (each also with '-')")
        terms.append((name, term.startswith("-")))
    return terms


@functools.cache
def represented(dialect: str) -> Select[Any]:
    """Packages with their grid ids, in the order each package lists them, as column ``grid_ids``."""
    grid_ids = ordered_ids(
        dialect,
        Package,
        grid_package.c.grid_id,
        grid_package.c.package_id == Package.id,
        (grid_package.c.position_in_package, grid_package.c.grid_id),
    )
    return select(*representation_columns(Package), grid_ids.label("grid_ids"))


@functools.cache
def represented_by_ref(dialect: str) -> ByRef:
    return ByRef(represented(dialect), Package)


class PackageRepository(ResourceRepository[Package]):
    model = Package

    async def grid_ids(self, package_ids: Iterable[int]) -> dict[int, list[int]]:
        """Each package's grid ids, in the order the package lists them."""
        grids: dict[int, list[int]] = defaultdict(list)
        ids = list(package_ids)
        if not ids:
            return grids
        query = (
            select(grid_package.c.package_id, grid_package.c.grid_id)
            .where(grid_package.c.package_id.in_(ids))
            .order_by(grid_package.c.package_id, grid_package.c.position_in_package, grid_package.c.grid_id)
        )
        for package_id, grid_id in await self.session.execute(query):
            grids[package_id].append(grid_id)
        return grids

    async def search_candidates(self, q: str, limit: int) -> Sequence[Any]:
        """Packages matching ``q``, best candidates first, each with its category title."""
        query = (
            rank_candidates(select(Package, Category.title.label("category_title")), Package, self.dialect, q)
            .join(Category, Category.id == Package.category_id)
            .limit(limit)
        )
        return (await self.session.execute(query)).all()


class PackageReader(Reader):
    async def read(self, ref: str) -> Represented:
        """The package with this id or slug, for its representation: one query."""
        row = await represented_by_ref(self.dialect).one(self.db, ref)
        return row, ids_from(row.grid_ids)

    async def list_page(
        self, where: PackageFilter, ordering: list[tuple[str, bool]], limit: int, offset: int
    ) -> tuple[int, list[Represented]]:
        query = (
            represented(self.dialect)
            .where(*await self._conditions(where))
            .order_by(*self._order_by(ordering))
        )
        count, rows = await page_of(self.db, query, Package.id, limit, offset)
        return count, [(row, ids_from(row.grid_ids)) for row in rows]

    async def _conditions(self, where: PackageFilter) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if where.category is not None:
            category_id = await CATEGORY_ID.scalar(self.db, where.category)
            if category_id is None:
                raise InvalidQuery("category", f"no category with id or slug {where.category!r}")
            conditions.append(Package.category_id == category_id)
        if where.grid is not None:
            grid_id = await GRID_ID.scalar(self.db, where.grid)
            if grid_id is None:
                raise InvalidQuery("grid", f"no grid with id or slug {where.grid!r}")
            members = select(grid_package.c.package_id).where(grid_package.c.grid_id == grid_id)
            conditions.append(Package.id.in_(members))
        if where.q is not None:
            conditions.append(matches(Package, self.dialect, where.q))
        if where.modified_after is not None:
            conditions.append(Package.modified > where.modified_after)
        return conditions

    def _order_by(self, ordering: list[tuple[str, bool]]) -> list[Any]:
        clauses = []
        for name, descending in ordering:
            column: Any = getattr(Package, name)
            if name == "title":
                column = binary_collation(column, self.dialect)
            if Package.__table__.c[name].nullable:
                # Nulls sort as "oldest": last when descending, first when ascending, on every backend.
                clauses.append(column.desc().nulls_last() if descending else column.asc().nulls_first())
            else:
                # No nulls to place: a plain direction lets PostgreSQL walk the column's index (a
                # NULLS clause the index does not have means a full scan and a sort on every page).
                clauses.append(column.desc() if descending else column.asc())
        if all(name != "id" for name, _ in ordering):
            clauses.append(Package.id.desc())  # a total order keeps pages stable
        return clauses
