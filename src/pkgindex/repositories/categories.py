from collections.abc import Sequence

from sqlalchemy import func, select

from pkgindex.models import Category, Package
from pkgindex.repositories.common import ResourceRepository, page_of


class CategoryRepository(ResourceRepository[Category]):
    model = Category

    async def list_page(self, limit: int, offset: int) -> tuple[int, Sequence[Category]]:
        return await page_of(self.session, select(Category).order_by(Category.id.desc()), limit, offset)

    async def package_count(self, category_id: int) -> int:
        """How many packages are in the category."""
        query = select(func.count()).select_from(Package).where(Package.category_id == category_id)
        return await self.session.scalar(query) or 0
