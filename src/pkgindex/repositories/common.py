"""Query helpers shared by the repositories."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

# Ids are 32-bit integer columns: a larger number can only be a slug (and binding it would fail on
# PostgreSQL).
MAX_ID = 2**31 - 1


def as_id(ref: str) -> int | None:
    """``ref`` as an id when it is written in ASCII digits and fits the id column, else None."""
    if ref.isascii() and ref.isdigit() and len(ref) <= len(str(MAX_ID)):
        number = int(ref)
        return number if number <= MAX_ID else None
    return None


def id_or_slug(model: Any, ref: str) -> ColumnElement[bool]:
    """Match a row by its id (when ``ref`` is an id) or by its slug."""
    if not ref:
        return false()
    number = as_id(ref)
    if number is not None:
        return or_(model.id == number, model.slug == ref)
    return model.slug == ref  # type: ignore[no-any-return]


def id_before_slug(model: Any, ref: str) -> Any:
    """Ordering that puts the row matched by id before one whose (numeric) slug is ``ref``."""
    return model.slug == ref


async def lookup(session: AsyncSession, query: Select[Any], model: Any, ref: str) -> Any:
    """The first row of ``query`` (over ``model``) with this id or slug; an id wins over a numeric slug."""
    return await session.scalar(
        query.where(id_or_slug(model, ref)).order_by(id_before_slug(model, ref)).limit(1)
    )


async def count_rows(session: AsyncSession, query: Select[Any]) -> int:
    """Rows the filtered query would return, ignoring its ordering and paging."""
    counted = query.order_by(None).limit(None).offset(None)
    return await session.scalar(select(func.count()).select_from(counted.subquery())) or 0


async def page_of(
    session: AsyncSession, query: Select[Any], limit: int, offset: int
) -> tuple[int, Sequence[Any]]:
    """The row count of the (ordered) ``query`` and one page of it. A page past the end is not asked
    for, so any offset, however large, is an empty page rather than a database overflow."""
    count = await count_rows(session, query)
    if offset >= count:
        return count, []
    return count, (await session.scalars(query.limit(limit).offset(offset))).all()


def binary_collation(column: Any, dialect: str) -> Any:
    """Order text by code point on every backend (SQLite's default; PostgreSQL needs "C")."""
    return column.collate("C") if dialect == "postgresql" else column
