from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pkgindex.errors import NotFound
from pkgindex.models import Category
from pkgindex.repositories.common import lookup, page_of


class CategoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ref: str) -> Category:
        """The category with this id or slug; an id wins over a numeric slug."""
        category: Category | None = await lookup(self.session, select(Category), Category, ref)
        if category is None:
            raise NotFound("Not found.")
        return category

    async def list_page(self, limit: int, offset: int) -> tuple[int, Sequence[Category]]:
        return await page_of(self.session, select(Category).order_by(Category.id.desc()), limit, offset)
