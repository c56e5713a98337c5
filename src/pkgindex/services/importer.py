"""Loading v4 JSON (a dump, a list page, one object or a list of objects) into the index.

Every record is validated and every reference and uniqueness rule checked before the first write;
the caller's transaction makes the whole import all or nothing.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from pkgindex.errors import ImportFailed
from pkgindex.models import Category, Grid, Package
from pkgindex.repositories.common import catch_up_id_sequence
from pkgindex.repositories.grids import reconcile_membership
from pkgindex.schemas.records import CategoryRecord, GridRecord, PackageRecord

# Rows per INSERT statement, and ids per IN (...) list: well under both backends' parameter limits.
BATCH = 500
CHUNK = 5000
AnyRecord = CategoryRecord | GridRecord | PackageRecord
KINDS: dict[str, type[AnyRecord]] = {
    "categories": CategoryRecord,
    "grids": GridRecord,
    "packages": PackageRecord,
}


@dataclass
class ImportBatch:
    """Every record of one or more files, validated, by kind."""

    categories: list[CategoryRecord] = field(default_factory=list)
    grids: list[GridRecord] = field(default_factory=list)
    packages: list[PackageRecord] = field(default_factory=list)
    # Where each record came from, for errors found after validation, in the order of the lists
    # above: "dump.json: packages[3] (id 7)"; and by id (the first record with that id).
    places: dict[str, list[str]] = field(default_factory=lambda: {kind: [] for kind in KINDS})
    origin: dict[tuple[str, int], str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.categories) + len(self.grids) + len(self.packages)

    def records(self, kind: str) -> list[AnyRecord]:
        return list(getattr(self, kind))

    def add(self, kind: str, record: AnyRecord, where: str) -> None:
        getattr(self, kind).append(record)
        self.places[kind].append(where)
        self.origin.setdefault((kind, record.id), where)

    def fail(self, kind: str, record_id: int, name: str, message: str) -> ImportFailed:
        return ImportFailed(f"{self.origin[(kind, record_id)]}: field '{name}': {message}")


@dataclass
class ImportCounts:
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def summary(self) -> str:
        parts = [
            f"{self.created[k] + self.updated[k]} {k} ({self.created[k]} new, {self.updated[k]} updated)"
            for k in KINDS
        ]
        return "Imported " + ", ".join(parts) + "."


def kind_of(item: Any) -> str:
    """Which v4 resource a JSON object is, by the fields only that resource has."""
    if isinstance(item, dict):
        if "commits_over_52" in item or "repo_url" in item:
            return "packages"
        if "is_locked" in item or "packages" in item:
            return "grids"
        if "title_plural" in item or "show_pypi" in item:
            return "categories"
    raise ValueError("not a v4 category, grid or package object")


def is_dump(document: Any) -> bool:
    """``{"categories": [...], "grids": [...], "packages": [...]}``. A grid also has a ``packages``
    key; it is told apart by its ``id``."""
    return isinstance(document, dict) and "id" not in document and any(kind in document for kind in KINDS)


def read_file(path: Path, batch: ImportBatch) -> None:
    """Parse and validate one file into ``batch``; raise ImportFailed naming file, record and field."""
    try:
        document = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ImportFailed(f"{path}: cannot read JSON: {exc}") from None
    for kind, position, item in _records(path, document):
        where = f"{path}: {kind}[{position}]"
        if isinstance(item, dict) and "id" in item:
            where += f" (id {item['id']})"
        try:
            record = KINDS[kind].model_validate(item)
        except ValidationError as exc:
            error = exc.errors()[0]
            if not error["loc"]:
                raise ImportFailed(f"{where}: {error['msg']}") from None
            name = ".".join(str(part) for part in error["loc"])
            raise ImportFailed(f"{where}: field '{name}': {error['msg']}") from None
        batch.add(kind, record, where)


def _records(path: Path, document: Any) -> Iterable[tuple[str, int, Any]]:
    if is_dump(document):
        for kind in KINDS:
            items = document.get(kind, [])
            if not isinstance(items, list):
                raise ImportFailed(f"{path}: '{kind}' must be a list")
            yield from ((kind, i, item) for i, item in enumerate(items))
        return
    if isinstance(document, dict) and "id" not in document and isinstance(document.get("results"), list):
        document = document["results"]  # one page of a list endpoint
    items = document if isinstance(document, list) else [document]
    for i, item in enumerate(items):
        try:
            kind = kind_of(item)
        except ValueError as exc:
            raise ImportFailed(f"{path}: record [{i}]: {exc}") from None
        yield kind, i, item


async def import_batch(
    session: AsyncSession, batch: ImportBatch, progress: Callable[[int], None] = lambda n: None
) -> ImportCounts:
    """Upsert every record by id and reconcile grid membership. Everything is checked before the
    first write. ``progress`` is called with the number of records just written."""
    _check_unique(batch)
    await _check_stored_collisions(session, batch)
    await _check_references(session, batch)
    counts = ImportCounts()
    upserts: list[tuple[str, Any, list[dict[str, Any]]]] = [
        ("categories", Category, [r.model_dump() for r in batch.categories]),
        ("grids", Grid, [r.model_dump(exclude={"packages"}) for r in batch.grids]),
        ("packages", Package, [_package_row(r) for r in batch.packages]),
    ]
    for kind, model, rows in upserts:
        existing = await _existing_ids(session, model, [row["id"] for row in rows])
        counts.updated[kind] = len(existing)
        counts.created[kind] = len(rows) - len(existing)
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            try:
                await _upsert(session, model, chunk)
            except DBAPIError as exc:  # what validation cannot see, e.g. a NUL byte on PostgreSQL
                first, last = chunk[0]["id"], chunk[-1]["id"]
                raise ImportFailed(f"{kind} with ids {first}..{last}: {exc.orig}") from None
            progress(len(chunk))
    await _reconcile_membership(session, batch)
    for table in ("category", "grid", "package"):
        await catch_up_id_sequence(session, table)  # explicit ids leave the sequences behind
    if session.get_bind().dialect.name == "postgresql":
        # Planner statistics now, not when autovacuum gets round to it: without them a freshly loaded
        # index is read with sequential scans and sorts (a page of packages: 7 ms instead of 0.4 ms).
        await session.execute(text("ANALYZE category, grid, package, grid_package"))
    return counts


def _package_row(record: PackageRecord) -> dict[str, Any]:
    row = record.model_dump(exclude={"category", "grids"})
    row["category_id"] = record.category
    return row


def _check_unique(batch: ImportBatch) -> None:
    """The same id, slug or repo_url twice in one import is ambiguous; name the second record."""
    for kind in KINDS:
        seen: dict[str, set[Any]] = {"id": set(), "slug": set(), "repo_url": set()}
        for record, where in zip(batch.records(kind), batch.places[kind], strict=True):
            for name, values in seen.items():
                value = getattr(record, name, "")
                if value == "":
                    continue  # only a non-empty repo_url must be unique
                if value in values:
                    raise ImportFailed(f"{where}: field '{name}': {value!r} appears twice in this import")
                values.add(value)


UNIQUE_FIELDS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "categories": (Category, ("slug",)),
    "grids": (Grid, ("slug",)),
    "packages": (Package, ("slug", "repo_url")),
}


async def _check_stored_collisions(session: AsyncSession, batch: ImportBatch) -> None:
    """A slug or repo_url that a stored row with another id already has; name the record."""
    for kind, (model, names) in UNIQUE_FIELDS.items():
        for name in names:
            wanted = {getattr(r, name): r.id for r in batch.records(kind) if getattr(r, name)}
            values = list(wanted)
            column = getattr(model, name)
            for start in range(0, len(values), CHUNK):
                query = select(model.id, column).where(column.in_(values[start : start + CHUNK]))
                for stored_id, value in await session.execute(query):
                    if wanted[value] != stored_id:
                        message = f"{value!r} belongs to stored id {stored_id}"
                        raise batch.fail(kind, wanted[value], name, message)


async def _existing_ids(session: AsyncSession, model: Any, ids: list[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        found.update(await session.scalars(select(model.id).where(model.id.in_(ids[start : start + CHUNK]))))
    return found


async def _check_references(session: AsyncSession, batch: ImportBatch) -> None:
    """Every category, grid and package a record points to must exist after this import."""
    if not batch.packages and not batch.grids:
        return
    categories = {c.id for c in batch.categories} | set(await session.scalars(select(Category.id)))
    grids = {g.id for g in batch.grids} | set(await session.scalars(select(Grid.id)))
    packages = {p.id for p in batch.packages} | set(await session.scalars(select(Package.id)))
    for package in batch.packages:
        if package.category not in categories:
            raise batch.fail("packages", package.id, "category", f"no category with id {package.category}")
        for grid_id in package.grids:
            if grid_id not in grids:
                raise batch.fail("packages", package.id, "grids", f"no grid with id {grid_id}")
    for grid in batch.grids:
        for package_id in grid.packages:
            if package_id not in packages:
                raise batch.fail("grids", grid.id, "packages", f"no package with id {package_id}")


async def _upsert(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT (id) DO UPDATE, through Core: the ORM's bulk path is several times
    slower and gains nothing here."""
    if not rows:
        return
    table = model.__table__
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    columns = [name for name in rows[0] if name != "id"]
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.id], set_={name: statement.excluded[name] for name in columns}
    )
    connection = await session.connection()
    await connection.execute(statement, rows)


async def _reconcile_membership(session: AsyncSession, batch: ImportBatch) -> None:
    """Membership from both sides: see ``reconcile_membership``."""
    await reconcile_membership(
        session,
        {p.id: p.grids for p in batch.packages},
        {g.id: set(g.packages) for g in batch.grids},
    )
