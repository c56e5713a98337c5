"""Query helpers shared by the repositories."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, false, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pkgindex.errors import Conflict, NotFound

# Ids are 32-bit integer columns: a larger number can only be a slug (and binding it would fail on
# PostgreSQL).
MAX_ID = 2**31 - 1


def as_id(ref: str) -> int | None:
    """``ref`` as an id when it is written in ASCII digits and fits the id column, else None."""
    if ref.isascii() and ref.isdigit() and len(ref) <= len(str(MAX_ID)):
        number = int(ref)
        return number if number <= MAX_ID else None
    return None


def can_name_a_row(ref: str) -> bool:
    """False for refs no row can have: empty, or holding NUL (which PostgreSQL cannot even compare)."""
    return bool(ref) and "\x00" not in ref


def id_or_slug(model: Any, ref: str) -> ColumnElement[bool]:
    """Match a row by its id (when ``ref`` is an id) or by its slug."""
    if not can_name_a_row(ref):
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
    if not can_name_a_row(ref):
        return None
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


async def lookup_for_update(session: AsyncSession, model: Any, ref: str) -> Any:
    """Like ``lookup`` over the whole row, locking it (PostgreSQL) until the transaction ends, so a
    conditional write checks and changes the same version."""
    if not can_name_a_row(ref):
        return None
    query = select(model).where(id_or_slug(model, ref)).order_by(id_before_slug(model, ref)).limit(1)
    return await session.scalar(query.with_for_update(of=model))


async def resolve_ids(session: AsyncSession, model: Any, refs: Sequence[int | str]) -> list[int | None]:
    """The id of each reference (an int is an id; a string an id or a slug, an id winning), None for
    each that names no row; one query for all of them."""
    numbers = {ref for ref in refs if isinstance(ref, int) and 1 <= ref <= MAX_ID}
    texts = {ref for ref in refs if isinstance(ref, str) and "\x00" not in ref}
    numbers |= {number for ref in texts if (number := as_id(ref)) is not None}
    if not numbers and not texts:
        return [None for _ in refs]
    conditions = []
    if numbers:
        conditions.append(model.id.in_(numbers))
    if texts:
        conditions.append(model.slug.in_(texts))
    ids: set[int] = set()
    by_slug: dict[str, int] = {}
    for row_id, slug in await session.execute(select(model.id, model.slug).where(or_(*conditions))):
        ids.add(row_id)
        by_slug[slug] = row_id
    found: list[int | None] = []
    for ref in refs:
        if isinstance(ref, int):
            found.append(ref if ref in ids else None)
            continue
        number = as_id(ref)
        found.append(number if number is not None and number in ids else by_slug.get(ref))
    return found


async def holder_of(session: AsyncSession, column: Any, value: Any, other_than: int | None) -> int | None:
    """The id of a row other than ``other_than`` whose ``column`` equals ``value``, if any."""
    query = select(column.class_.id).where(column == value)
    if other_than is not None:
        query = query.where(column.class_.id != other_than)
    found: int | None = await session.scalar(query.limit(1))
    return found


async def catch_up_id_sequence(session: AsyncSession, table: str) -> None:
    """On PostgreSQL, move ``table``'s id sequence past the largest stored id.

    Rows imported with explicit ids leave the sequence behind them, and the next generated id would
    collide. The sequence only ever moves forward (never below a value a concurrent transaction may
    have drawn), so this is safe to run before every insert."""
    if session.get_bind().dialect.name != "postgresql":
        return
    await session.execute(
        text(
            f"SELECT setval(seq, top) FROM (SELECT pg_get_serial_sequence('{table}', 'id') AS seq, "
            f"(SELECT max(id) FROM {table}) AS top) AS s "
            "WHERE top IS NOT NULL AND top > coalesce(pg_sequence_last_value(seq::regclass), 0)"
        )
    )


async def insert_row(session: AsyncSession, row: Any) -> Any:
    """Add a new row and flush it, so it has its id; a unique value taken meanwhile is a Conflict."""
    await catch_up_id_sequence(session, row.__tablename__)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{row.__tablename__} {row.slug!r} conflicts with a stored one") from exc
    return row


async def touch_rows(session: AsyncSession, model: Any, ids: Sequence[int], now: datetime, by: str) -> None:
    """Mark these rows modified, by ``by``, at ``now``."""
    if ids:
        await session.execute(
            update(model).where(model.id.in_(list(ids))).values(modified=now, modified_by=by),
            execution_options={"synchronize_session": "fetch"},
        )


ModelT = TypeVar("ModelT")


class ResourceRepository(Generic[ModelT]):
    """What every v4 resource's repository has: look-up by id or slug, insert, delete, touch."""

    model: type[ModelT]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def get(self, ref: str) -> ModelT:
        """The row with this id or slug; an id wins over a numeric slug."""
        row: ModelT | None = await lookup(self.session, select(self.model), self.model, ref)
        if row is None:
            raise NotFound("Not found.")
        return row

    async def get_for_update(self, ref: str) -> ModelT:
        """Like ``get``, locking the row until the transaction ends."""
        row: ModelT | None = await lookup_for_update(self.session, self.model, ref)
        if row is None:
            raise NotFound("Not found.")
        return row

    async def add(self, row: ModelT) -> ModelT:
        """Insert a new row; it has its id afterwards."""
        inserted: ModelT = await insert_row(self.session, row)
        return inserted

    async def delete(self, row: ModelT) -> None:
        await self.session.delete(row)
        await self.session.flush()

    async def touch(self, ids: Sequence[int], now: datetime, by: str) -> None:
        """Mark these rows modified (their representation changed through another object)."""
        await touch_rows(self.session, self.model, ids, now, by)
