import functools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from pkgindex.models import Grid, Package, grid_package
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
from pkgindex.repositories.search import rank_candidates

# Ids per IN (...) list and rows per INSERT: well under both backends' parameter limits.
CHUNK = 5000
ROWS_PER_INSERT = 1000


async def reconcile_membership(
    session: AsyncSession, from_packages: dict[int, list[int]], from_grids: dict[int, set[int]]
) -> set[int]:
    """Set grid membership from both sides; returns the ids of the packages whose grids changed.

    ``from_packages`` maps a package to its grids, in order: they replace its stored memberships.
    ``from_grids`` maps a grid to its packages: they replace the grid's members, and a package not in
    ``from_packages`` keeps its other grids in their order, a newly added grid going last. When both
    sides name a pair, the pair holds. Used by the import and by the write routes."""
    if not from_packages and not from_grids:
        return set()
    from_packages = {p: list(dict.fromkeys(grids)) for p, grids in from_packages.items()}
    named = set(from_packages).union(*from_grids.values())
    query = select(grid_package.c.grid_id, grid_package.c.package_id).order_by(
        grid_package.c.package_id, grid_package.c.position_in_package, grid_package.c.grid_id
    )
    if len(named) + len(from_grids) <= CHUNK:  # else reading the whole table is cheaper
        in_given_grids = select(grid_package.c.package_id).where(grid_package.c.grid_id.in_(list(from_grids)))
        query = query.where(
            or_(grid_package.c.package_id.in_(named), grid_package.c.package_id.in_(in_given_grids))
        )
    stored: dict[int, list[int]] = {}
    for grid_id, package_id in await session.execute(query):
        stored.setdefault(package_id, []).append(grid_id)

    grids_naming: dict[int, list[int]] = {}  # package id -> given grids that list it
    for grid_id, members in sorted(from_grids.items()):
        for package_id in members:
            grids_naming.setdefault(package_id, []).append(grid_id)
    touched = set(from_packages) | set(grids_naming)
    touched |= {p for p, grids in stored.items() if any(g in from_grids for g in grids)}
    memberships: dict[int, list[int]] = {}
    for package_id in touched:
        if package_id in from_packages:
            grids = from_packages[package_id]
        else:
            kept = stored.get(package_id, [])
            grids = [g for g in kept if g not in from_grids or package_id in from_grids[g]]
        added = [g for g in grids_naming.get(package_id, []) if g not in grids]
        memberships[package_id] = grids + added

    unchanged = {p for p, grids in memberships.items() if stored.get(p, []) == grids}
    ids = sorted(touched - unchanged)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        await session.execute(delete(grid_package).where(grid_package.c.package_id.in_(chunk)))
    rows = [
        {"grid_id": grid_id, "package_id": package_id, "position_in_package": position}
        for package_id in ids
        for position, grid_id in enumerate(memberships[package_id])
    ]
    for start in range(0, len(rows), ROWS_PER_INSERT):
        await session.execute(grid_package.insert(), rows[start : start + ROWS_PER_INSERT])
    return set(ids)


@functools.cache
def represented(dialect: str) -> Select[Any]:
    """Grids with their package ids, by package title then id as the original lists them, as column
    ``package_ids``."""
    package_ids = ordered_ids(
        dialect,
        Grid,
        grid_package.c.package_id,
        and_(grid_package.c.grid_id == Grid.id, Package.id == grid_package.c.package_id),
        (binary_collation(Package.title, dialect), Package.id),
    )
    return select(*representation_columns(Grid), package_ids.label("package_ids"))


@functools.cache
def represented_by_ref(dialect: str) -> ByRef:
    return ByRef(represented(dialect), Grid)


class GridReader(Reader):
    async def read(self, ref: str) -> Represented:
        """The grid with this id or slug, for its representation: one query."""
        row = await represented_by_ref(self.dialect).one(self.db, ref)
        return row, ids_from(row.package_ids)

    async def list_page(self, limit: int, offset: int) -> tuple[int, list[Represented]]:
        query = represented(self.dialect).order_by(Grid.id.desc())
        count, rows = await page_of(self.db, query, Grid.id, limit, offset)
        return count, [(row, ids_from(row.package_ids)) for row in rows]


class GridRepository(ResourceRepository[Grid]):
    model = Grid

    async def package_ids(self, grid_ids: Iterable[int]) -> dict[int, list[int]]:
        """Each grid's package ids, ordered by package title then id as the original lists them."""
        members: dict[int, list[int]] = defaultdict(list)
        ids = list(grid_ids)
        if not ids:
            return members
        query = (
            select(grid_package.c.grid_id, grid_package.c.package_id)
            .join(Package, Package.id == grid_package.c.package_id)
            .where(grid_package.c.grid_id.in_(ids))
            .order_by(grid_package.c.grid_id, binary_collation(Package.title, self.dialect), Package.id)
        )
        for grid_id, package_id in await self.session.execute(query):
            members[grid_id].append(package_id)
        return members

    async def search_candidates(self, q: str, limit: int) -> Sequence[Grid]:
        """Grids matching ``q``, best candidates first."""
        query = rank_candidates(select(Grid), Grid, self.dialect, q).limit(limit)
        return (await self.session.scalars(query)).all()
