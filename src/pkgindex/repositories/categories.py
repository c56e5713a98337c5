from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, select

from pkgindex.models import Category, Package
from pkgindex.repositories.common import ByRef, Reader, ResourceRepository, page_of, representation_columns

# What a category's representation is built from.
REPRESENTED = select(*representation_columns(Category))
REPRESENTED_BY_REF = ByRef(REPRESENTED, Category)


class CategoryReader(Reader):
    async def read(self, ref: str) -> Row[Any]:
        """The category with this id or slug, for its representation."""
        return await REPRESENTED_BY_REF.one(self.db, ref)

    async def list_page(self, limit: int, offset: int) -> tuple[int, Sequence[Row[Any]]]:
        return await page_of(self.db, REPRESENTED.order_by(Category.id.desc()), Category.id, limit, offset)


class CategoryRepository(ResourceRepository[Category]):
    model = Category

    async def package_count(self, category_id: int) -> int:
        """How many packages are in the category."""
        query = select(func.count()).select_from(Package).where(Package.category_id == category_id)
        return await self.session.scalar(query) or 0
