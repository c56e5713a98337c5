from collections import defaultdict
from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pkgindex.errors import NotFound
from pkgindex.models import Grid, Package, grid_package
from pkgindex.repositories.common import binary_collation, lookup, page_of
from pkgindex.repositories.search import rank_candidates


class GridRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def get(self, ref: str) -> Grid:
        """The grid with this id or slug; an id wins over a numeric slug."""
        grid: Grid | None = await lookup(self.session, select(Grid), Grid, ref)
        if grid is None:
            raise NotFound("Not found.")
        return grid

    async def list_page(self, limit: int, offset: int) -> tuple[int, Sequence[Grid]]:
        return await page_of(self.session, select(Grid).order_by(Grid.id.desc()), limit, offset)

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
