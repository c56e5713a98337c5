from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, func, select

from pkgindex.errors import NotFound
from pkgindex.models import Category, Package
from pkgindex.repositories.common import ByRef, Reader, ResourceRepository, page_of

# What a category's representation is built from.
REPRESENTED = select(*(c for c in Category.__table__.c if c.name not in {"created_by", "modified_by"}))
REPRESENTED_BY_REF = ByRef(REPRESENTED, Category)


class CategoryReader(Reader):
    async def read(self, ref: str) -> Row[Any]:
        """The category with this id or slug, for its representation."""
        row = await REPRESENTED_BY_REF.first(self.db, ref)
        if row is None:
            raise NotFound("Not found.")
        return row

    async def list_page(self, limit: int, offset: int) -> tuple[int, Sequence[Row[Any]]]:
        return await page_of(self.db, REPRESENTED.order_by(Category.id.desc()), Category.id, limit, offset)


class CategoryRepository(ResourceRepository[Category]):
    model = Category

    async def package_count(self, category_id: int) -> int:
        """How many packages are in the category."""
        query = select(func.count()).select_from(Package).where(Package.category_id == category_id)
        return await self.session.scalar(query) or 0
