from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pkgindex.errors import NotFound
from pkgindex.models import Category
from pkgindex.repositories.common import count_rows, id_or_slug


class CategoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, ref: str) -> Category:
        """The category with this id or slug; an id wins over a numeric slug."""
        query = select(Category).where(id_or_slug(Category, ref)).order_by(Category.slug == ref).limit(1)
        category = await self.session.scalar(query)
        if category is None:
            raise NotFound("Not found.")
        return category

    async def list_page(self, limit: int, offset: int) -> tuple[int, Sequence[Category]]:
        query = select(Category).order_by(Category.id.desc())
        count = await count_rows(self.session, query)
        rows = (await self.session.scalars(query.limit(limit).offset(offset))).all()
        return count, rows
