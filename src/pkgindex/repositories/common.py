"""Query helpers shared by the repositories."""

from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession


def id_or_slug(model: Any, ref: str) -> ColumnElement[bool]:
    """Match a row by its id (when ``ref`` is all digits) or by its slug."""
    if ref.isdigit() and len(ref) < 19:  # beyond int64 it can only be a slug
        return or_(model.id == int(ref), model.slug == ref)  # type: ignore[no-any-return]
    if not ref:
        return false()
    return model.slug == ref  # type: ignore[no-any-return]


async def count_rows(session: AsyncSession, query: Select[Any]) -> int:
    """Rows the filtered query would return, ignoring its ordering and paging."""
    counted = query.order_by(None).limit(None).offset(None)
    return await session.scalar(select(func.count()).select_from(counted.subquery())) or 0


def binary_collation(column: Any, dialect: str) -> Any:
    """Order text by code point on every backend (SQLite's default; PostgreSQL needs "C")."""
    return column.collate("C") if dialect == "postgresql" else column
