from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pkgindex.errors import NotFound
from pkgindex.models import Category, Package
from pkgindex.repositories.common import insert_row, lookup, lookup_for_update, page_of


class CategoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ref: str) -> Category:
        """The category with this id or slug; an id wins over a numeric slug."""
        category: Category | None = await lookup(self.session, select(Category), Category, ref)
        if category is None:
            raise NotFound("Not found.")
        return category

    async def get_for_update(self, ref: str) -> Category:
        """Like ``get``, locking the row until the transaction ends."""
        category: Category | None = await lookup_for_update(self.session, Category, ref)
        if category is None:
            raise NotFound("Not found.")
        return category

    async def add(self, category: Category) -> Category:
        """Insert a new category; it has its id afterwards."""
        inserted: Category = await insert_row(self.session, category)
        return inserted

    async def delete(self, category: Category) -> None:
        await self.session.delete(category)
        await self.session.flush()

    async def list_page(self, limit: int, offset: int) -> tuple[int, Sequence[Category]]:
        return await page_of(self.session, select(Category).order_by(Category.id.desc()), limit, offset)

    async def package_count(self, category_id: int) -> int:
        """How many packages are in the category."""
        query = select(func.count()).select_from(Package).where(Package.category_id == category_id)
        return await self.session.scalar(query) or 0
