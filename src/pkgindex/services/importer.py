"""Loading v4 JSON (a dump, a list page or one object) into the index, all or nothing."""

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pkgindex.errors import ImportFailed
from pkgindex.models import Category, Grid, Package, grid_package
from pkgindex.schemas.records import CategoryRecord, GridRecord, PackageRecord

# Rows per INSERT statement: well under both backends' limits on bound parameters.
BATCH = 500
KINDS: dict[str, type[BaseModel]] = {"categories": CategoryRecord, "grids": GridRecord, "packages": PackageRecord}


@dataclass
class ImportBatch:
    """Every record of one or more files, validated, in dependency order."""

    categories: list[CategoryRecord] = field(default_factory=list)
    grids: list[GridRecord] = field(default_factory=list)
    packages: list[PackageRecord] = field(default_factory=list)
    # Where each record came from, for errors found after validation: (kind, id) -> "file: packages[3]".
    origin: dict[tuple[str, int], str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.categories) + len(self.grids) + len(self.packages)


@dataclass
class ImportCounts:
    created: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    updated: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def summary(self) -> str:
        parts = [f"{self.created[k] + self.updated[k]} {k} ({self.created[k]} new, {self.updated[k]} updated)"
                 for k in KINDS]
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


def read_file(path: Path, batch: ImportBatch) -> None:
    """Parse and validate one file into ``batch``; raise ImportFailed naming file, record and field."""
    try:
        document = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ImportFailed(f"{path}: cannot read JSON: {exc}") from exc
    for kind, position, item in _records(path, document):
        where = f"{path}: {kind}[{position}]"
        if isinstance(item, dict) and "id" in item:
            where += f" (id {item['id']})"
        try:
            record = KINDS[kind].model_validate(item)
        except ValidationError as exc:
            error = exc.errors()[0]
            name = ".".join(str(part) for part in error["loc"]) or "record"
            raise ImportFailed(f"{where}: field '{name}': {error['msg']}") from None
        getattr(batch, kind).append(record)
        batch.origin[(kind, record.id)] = where  # type: ignore[attr-defined]


def _records(path: Path, document: Any) -> Iterable[tuple[str, int, Any]]:
    if isinstance(document, dict) and any(kind in document for kind in KINDS):
        for kind in KINDS:
            items = document.get(kind, [])
            if not isinstance(items, list):
                raise ImportFailed(f"{path}: '{kind}' must be a list")
            yield from ((kind, i, item) for i, item in enumerate(items))
        return
    if isinstance(document, dict) and isinstance(document.get("results"), list):
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
    """Upsert every record by id and reconcile grid membership; the caller's transaction makes it
    all or nothing. ``progress`` is called with the number of records just written."""
    _check_unique(batch)
    await _check_stored_collisions(session, batch)
    counts = ImportCounts()
    upserts: Sequence[tuple[str, Any, list[dict[str, Any]]]] = (
        ("categories", Category, [r.model_dump() for r in batch.categories]),
        ("grids", Grid, [r.model_dump(exclude={"packages"}) for r in batch.grids]),
        ("packages", Package, [_package_row(r) for r in batch.packages]),
    )
    for kind, model, rows in upserts:
        existing = await _existing_ids(session, model, [row["id"] for row in rows])
        counts.updated[kind] = len(existing)
        counts.created[kind] = len(rows) - len(existing)
        if kind == "packages":
            await _check_references(session, batch)
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            try:
                await _upsert(session, model, chunk)
            except IntegrityError as exc:  # e.g. two stored rows swapping slugs
                first, last = chunk[0]["id"], chunk[-1]["id"]
                raise ImportFailed(f"{kind} with ids {first}..{last}: {exc.orig}") from None
            progress(len(chunk))
    await _reconcile_membership(session, batch)
    return counts


def _package_row(record: PackageRecord) -> dict[str, Any]:
    row = record.model_dump(exclude={"category", "grids"})
    row["category_id"] = record.category
    return row


def _check_unique(batch: ImportBatch) -> None:
    """The same id or slug twice in one import is ambiguous; name the second record."""
    for kind in KINDS:
        seen_ids: set[int] = set()
        seen_slugs: set[str] = set()
        seen_repos: set[str] = set()
        for record in getattr(batch, kind):
            if record.id in seen_ids:
                raise ImportFailed(f"{batch.origin[(kind, record.id)]}: field 'id': {record.id} appears twice")
            if kind == "packages" and record.repo_url:
                if record.repo_url in seen_repos:
                    raise ImportFailed(
                        f"{batch.origin[(kind, record.id)]}: field 'repo_url': {record.repo_url!r} appears twice"
                    )
                seen_repos.add(record.repo_url)
            if record.slug in seen_slugs:
                raise ImportFailed(
                    f"{batch.origin[(kind, record.id)]}: field 'slug': {record.slug!r} is used by another record"
                )
            seen_ids.add(record.id)
            seen_slugs.add(record.slug)


UNIQUE_FIELDS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "categories": (Category, ("slug",)),
    "grids": (Grid, ("slug",)),
    "packages": (Package, ("slug", "repo_url")),
}


async def _check_stored_collisions(session: AsyncSession, batch: ImportBatch) -> None:
    """A slug or repo_url that a stored row with another id already has; name the record."""
    for kind, (model, names) in UNIQUE_FIELDS.items():
        records = getattr(batch, kind)
        for name in names:
            wanted = {getattr(r, name): r.id for r in records if getattr(r, name)}
            values = list(wanted)
            column = getattr(model, name)
            for start in range(0, len(values), BATCH * 10):
                chunk = values[start : start + BATCH * 10]
                for stored_id, value in await session.execute(select(model.id, column).where(column.in_(chunk))):
                    if wanted[value] != stored_id:
                        where = batch.origin[(kind, wanted[value])]
                        raise ImportFailed(f"{where}: field '{name}': {value!r} belongs to stored id {stored_id}")


async def _existing_ids(session: AsyncSession, model: Any, ids: list[int]) -> set[int]:
    found: set[int] = set()
    for start in range(0, len(ids), BATCH * 10):
        chunk = ids[start : start + BATCH * 10]
        found.update(await session.scalars(select(model.id).where(model.id.in_(chunk))))
    return found


async def _check_references(session: AsyncSession, batch: ImportBatch) -> None:
    """Every category, grid and package a record points to must exist after this import."""
    categories = {c.id for c in batch.categories} | set(await session.scalars(select(Category.id)))
    grids = {g.id for g in batch.grids} | set(await session.scalars(select(Grid.id)))
    packages = {p.id for p in batch.packages} | set(await session.scalars(select(Package.id)))
    for package in batch.packages:
        where = batch.origin[("packages", package.id)]
        if package.category not in categories:
            raise ImportFailed(f"{where}: field 'category': no category with id {package.category}")
        for grid_id in package.grids:
            if grid_id not in grids:
                raise ImportFailed(f"{where}: field 'grids': no grid with id {grid_id}")
    for grid in batch.grids:
        for package_id in grid.packages:
            if package_id not in packages:
                raise ImportFailed(f"{batch.origin[('grids', grid.id)]}: field 'packages': no package with id {package_id}")


async def _upsert(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(model)
    columns = [name for name in rows[0] if name != "id"]
    statement = statement.on_conflict_do_update(
        index_elements=[model.id], set_={name: statement.excluded[name] for name in columns}
    )
    await session.execute(statement, rows)


async def _reconcile_membership(session: AsyncSession, batch: ImportBatch) -> None:
    """Membership from both sides: a package's ``grids`` and a grid's ``packages`` each replace what
    was stored for that package or grid; when both are imported, a pair named by either side holds."""
    if not batch.packages and not batch.grids:
        return
    from_packages = {p.id: list(dict.fromkeys(p.grids)) for p in batch.packages}
    from_grids = {g.id: set(g.packages) for g in batch.grids}
    stored: dict[int, list[int]] = {}
    for grid_id, package_id in await session.execute(
        select(grid_package.c.grid_id, grid_package.c.package_id).order_by(
            grid_package.c.package_id, grid_package.c.position_in_package, grid_package.c.grid_id
        )
    ):
        stored.setdefault(package_id, []).append(grid_id)

    touched = set(from_packages) | {p for members in from_grids.values() for p in members}
    touched |= {p for p, grids in stored.items() if any(g in from_grids for g in grids)}
    memberships: dict[int, list[int]] = {}
    for package_id in touched:
        if package_id in from_packages:
            grids = from_packages[package_id]
        else:
            grids = [g for g in stored.get(package_id, []) if g not in from_grids or package_id in from_grids[g]]
        added = sorted(g for g, members in from_grids.items() if package_id in members and g not in grids)
        memberships[package_id] = grids + added

    ids = sorted(touched)
    for start in range(0, len(ids), BATCH * 10):
        await session.execute(delete(grid_package).where(grid_package.c.package_id.in_(ids[start : start + BATCH * 10])))
    rows = [
        {"grid_id": grid_id, "package_id": package_id, "position_in_package": position}
        for package_id, grids in memberships.items()
        for position, grid_id in enumerate(grids)
    ]
    for start in range(0, len(rows), BATCH * 2):
        await session.execute(grid_package.insert(), rows[start : start + BATCH * 2])
