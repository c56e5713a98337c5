"""Query helpers shared by the repositories."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Integer, Row, Select, String, bindparam, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from pkgindex.db import dialect_of
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


class ByRef:
    """``query`` (over ``model``) narrowed to the row with an id or slug; an id wins over a numeric slug.

    Look-ups run on nearly every request, and building a statement costs more than running it, so both
    statements are built once, with bound parameters, and SQLAlchemy's compiled cache does the rest."""

    def __init__(self, query: Select[Any], model: Any) -> None:
        ref = bindparam("ref", type_=String())
        self.by_id_or_slug = (
            query.where(or_(model.id == bindparam("number", type_=Integer()), model.slug == ref))
            .order_by(model.slug == ref)
            .limit(1)
        )
        self.by_slug = query.where(model.slug == ref).limit(1)

    async def first(self, session: AsyncSession | AsyncConnection, ref: str) -> Row[Any] | None:
        if not can_name_a_row(ref):
            return None
        number = as_id(ref)
        if number is None:
            found = await session.execute(self.by_slug, {"ref": ref})
        else:
            found = await session.execute(self.by_id_or_slug, {"ref": ref, "number": number})
        row: Row[Any] | None = found.first()
        return row

    async def scalar(self, session: AsyncSession | AsyncConnection, ref: str) -> Any:
        row = await self.first(session, ref)
        return None if row is None else row[0]

    async def one(self, session: AsyncSession | AsyncConnection, ref: str) -> Row[Any]:
        """The row, or the API's 404."""
        row = await self.first(session, ref)
        if row is None:
            raise NotFound("Not found.")
        return row


# A row for a representation and the ids of its related rows (a package's grids, a grid's packages).
Represented = tuple[Row[Any], list[int]]


def representation_columns(model: Any) -> list[Any]:
    """The columns a resource's representation is built from: all but who created and changed it."""
    return [column for column in model.__table__.c if column.name not in {"created_by", "modified_by"}]


def ordered_ids(
    dialect: str, outer: Any, column: Any, where: ColumnElement[bool], order_by: Sequence[Any]
) -> Any:
    """A scalar subquery correlated to each row of ``outer``: the values of ``column`` in the rows matching
    ``where``, in order, so that a row and its relations come in one query. Read it with ``ids_from``."""
    if dialect == "postgresql":
        return select(func.array_agg(aggregate_order_by(column, *order_by))).where(where).scalar_subquery()
    # SQLite before 3.44 has no ORDER BY inside an aggregate; it concatenates an ordered subquery in order.
    ordered = select(column.label("value")).where(where).order_by(*order_by).correlate(outer).subquery()
    return select(func.group_concat(ordered.c.value)).scalar_subquery()


def ids_from(value: list[int] | str | None) -> list[int]:
    """The ids an ``ordered_ids`` column holds: a PostgreSQL array, SQLite text ``"3,1,2"``, or NULL."""
    if value is None:
        return []
    if isinstance(value, str):
        return [int(item) for item in value.split(",")]
    return value


async def page_of(
    session: AsyncSession | AsyncConnection, query: Select[Any], key: Any, limit: int, offset: int
) -> tuple[int, Sequence[Row[Any]]]:
    """The row count of the filtered, ordered ``query`` and one page of its rows (``key`` is the primary
    key of its table).

    The page's keys are picked first, on the key and ordering columns alone, and only those rows are
    then read in full with their relations: the rows skipped by the offset are never read or
    represented, so a deep page costs about what the first one does. A page past the end is not asked
    for, so any offset, however large, is an empty page rather than a database overflow."""
    counted = query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
    count = await session.scalar(counted) or 0
    if offset >= count:
        return count, []
    keys = query.with_only_columns(key, maintain_column_froms=True).limit(limit).offset(offset)
    return count, (await session.execute(query.where(key.in_(keys)))).all()


def binary_collation(column: Any, dialect: str) -> Any:
    """Order text by code point on every backend (SQLite's default; PostgreSQL needs "C")."""
    return column.collate("C") if dialect == "postgresql" else column


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


class Reader:
    """Reads for representations: Core rows, without the ORM, on a read connection
    (``deps.read_connection``) or a session. The repositories hold the writes."""

    def __init__(self, db: AsyncSession | AsyncConnection) -> None:
        self.db = db

    @property
    def dialect(self) -> str:
        return dialect_of(self.db)


class ResourceRepository(Generic[ModelT]):
    """What every v4 resource's repository has: look-up by id or slug, insert, delete, touch."""

    model: type[ModelT]
    _by_ref: ByRef
    _by_ref_for_update: ByRef

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._by_ref = ByRef(select(cls.model), cls.model)
        # Locks the row (PostgreSQL) until the transaction ends, so a conditional write checks and
        # changes the same version.
        cls._by_ref_for_update = ByRef(select(cls.model).with_for_update(of=cls.model), cls.model)

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return dialect_of(self.session)

    async def get(self, ref: str) -> ModelT:
        """The row with this id or slug; an id wins over a numeric slug."""
        row: ModelT = (await self._by_ref.one(self.session, ref))[0]
        return row

    async def get_for_update(self, ref: str) -> ModelT:
        """Like ``get``, locking the row until the transaction ends."""
        row: ModelT = (await self._by_ref_for_update.one(self.session, ref))[0]
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
