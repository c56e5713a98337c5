"""The refresher's database side: which packages are due, who works on them, and writing results.

Claiming: due rows (``next_due <= now``, no live lease) are taken ``FOR UPDATE SKIP LOCKED`` and
stamped with a lease in one short transaction, so workers on one PostgreSQL never take the same
package; a worker that dies leaves a lease that expires, and the package is taken by another. SQLite
ignores the locking clause; there, one process refreshes.

Writing: each source's fields are written with a guard on the URL they were fetched for (``repo_url``
for repository stats, ``pypi_url`` for PyPI's), as single-statement updates of only those columns.
An API edit that lands during a fetch is therefore kept: editable fields are never written here, and
stats fetched for a URL that was changed meanwhile are dropped (the package is due again at once).
"""

import os
import socket
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, literal, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from pkgindex.db import SessionFactory, unit_of_work
from pkgindex.models import Package, PackageRefresh
from pkgindex.refresh.hosts import Job, Outcome

REPO_FIELDS = (
    "repo_watchers",
    "repo_forks",
    "repo_description",
    "participants",
    "commits_over_52",
    "last_updated",
)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def now_utc() -> datetime:
    return datetime.now(UTC)


async def ensure_rows(session: AsyncSession, now: datetime) -> None:
    """Give every package without refresh state one, due now (new packages, imported ones)."""
    missing = (
        select(Package.id, literal(now, PackageRefresh.next_due.type))
        .where(~select(PackageRefresh.package_id).where(PackageRefresh.package_id == Package.id).exists())
        .order_by(Package.id)  # workers inserting at once take the same keys in the same order: no deadlock
    )
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(PackageRefresh)
        .from_select(["package_id", "next_due"], missing)
        .on_conflict_do_nothing(index_elements=["package_id"])  # another worker inserted it first
    )
    await session.execute(statement)


async def make_due(session: AsyncSession, package_id: int, now: datetime | None = None) -> None:
    """Schedule one package for the next cycle (an explicit request, or new URLs to fetch)."""
    now = now or now_utc()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(PackageRefresh).values(package_id=package_id, next_due=now, **NEW_ROW)
    await session.execute(
        statement.on_conflict_do_update(index_elements=["package_id"], set_={"next_due": now})
    )


NEW_ROW: dict[str, Any] = {
    "error_count": 0,
    "repo_missing": False,
    "pypi_missing": False,
    "activity_pending": False,
}


async def make_all_due(session: AsyncSession, now: datetime, package_ids: Sequence[int] | None = None) -> int:
    await ensure_rows(session, now)
    statement = update(PackageRefresh).values(next_due=now)
    if package_ids is not None:
        statement = statement.where(PackageRefresh.package_id.in_(package_ids))
    result = await session.execute(statement)
    return result.rowcount  # type: ignore[attr-defined, no-any-return]


async def count_due(session: AsyncSession, now: datetime) -> int:
    return await session.scalar(select(func.count()).where(_claimable(now))) or 0


def _claimable(now: datetime) -> Any:
    return and_(
        PackageRefresh.next_due <= now,
        or_(PackageRefresh.lease_expires.is_(None), PackageRefresh.lease_expires <= now),
    )


async def claim(
    factory: SessionFactory, owner: str, limit: int, lease_seconds: float, only: Sequence[int] | None = None
) -> list[Job]:
    """Take up to ``limit`` due packages for ``owner`` and return what is known of them."""
    now = now_utc()
    async with unit_of_work(factory) as session:
        await ensure_rows(session, now)
        query = select(PackageRefresh.package_id).where(_claimable(now))
        if only is not None:
            query = query.where(PackageRefresh.package_id.in_(only))
        query = (
            query.order_by(PackageRefresh.next_due, PackageRefresh.package_id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        ids = list(await session.scalars(query))
        if not ids:
            return []
        await session.execute(
            update(PackageRefresh)
            .where(PackageRefresh.package_id.in_(ids))
            .values(lease_owner=owner, lease_expires=now + timedelta(seconds=lease_seconds))
        )
        rows = await session.execute(
            select(Package, PackageRefresh)
            .join(PackageRefresh, PackageRefresh.package_id == Package.id)
            .where(Package.id.in_(ids))
            .order_by(Package.id)
        )
        return [_job(package, state) for package, state in rows.all()]


def _job(package: Package, state: PackageRefresh) -> Job:
    return Job(
        id=package.id,
        slug=package.slug,
        repo_url=package.repo_url,
        pypi_url=package.pypi_url,
        documentation_url=package.documentation_url,
        documentation_url_from_pypi=package.documentation_url_from_pypi,
        last_fetched=package.last_fetched,
        repo_watchers=package.repo_watchers,
        repo_forks=package.repo_forks,
        repo_description=package.repo_description,
        participants=list(package.participants or []),
        commits_over_52=list(package.commits_over_52 or []),
        last_updated=package.last_updated,
        pypi_version=package.pypi_version,
        fetched_repo_url=state.fetched_repo_url,
        fetched_pypi_url=state.fetched_pypi_url,
        etag_owner=state.etag_owner,
        repo_etag=state.repo_etag,
        contributors_etag=state.contributors_etag,
        activity_etag=state.activity_etag,
        commits_etag=state.commits_etag,
        pypi_etag=state.pypi_etag,
        pushed_at=state.pushed_at,
        contributors_fetched=state.contributors_fetched,
        activity_week=state.activity_week,
        activity_pending=state.activity_pending,
    )


async def renew(factory: SessionFactory, owner: str, ids: Sequence[int], lease_seconds: float) -> None:
    """Extend this worker's leases on packages it is still working on."""
    if not ids:
        return
    async with unit_of_work(factory) as session:
        await session.execute(
            update(PackageRefresh)
            .where(PackageRefresh.package_id.in_(ids), PackageRefresh.lease_owner == owner)
            .values(lease_expires=now_utc() + timedelta(seconds=lease_seconds))
        )


async def release(factory: SessionFactory, owner: str) -> None:
    """Give up every lease of this worker (on shutdown): its packages are due for others at once."""
    async with unit_of_work(factory) as session:
        await session.execute(
            update(PackageRefresh)
            .where(PackageRefresh.lease_owner == owner)
            .values(lease_owner=None, lease_expires=None)
        )


async def finish(
    factory: SessionFactory,
    owner: str,
    job: Job,
    outcomes: Sequence[Outcome],
    *,
    next_due: datetime,
    error_backoff: float,
    max_backoff: float,
) -> bool:
    """Record what the sources learned about one package; whether any v4 value changed."""
    now = now_utc()
    errors = [outcome.error for outcome in outcomes if outcome.error]
    skipped = [outcome.skipped for outcome in outcomes if outcome.skipped]
    fetched = any(not outcome.skipped for outcome in outcomes)
    async with unit_of_work(factory) as session:
        # Lock the package row: an API edit waits for this transaction, or this one for the edit.
        current = (
            await session.execute(
                select(
                    Package.repo_url,
                    Package.pypi_url,
                    Package.documentation_url,
                    Package.documentation_url_from_pypi,
                )
                .where(Package.id == job.id)
                .with_for_update()
            )
        ).one_or_none()
        if current is None:  # deleted meanwhile; its refresh state went with it
            return False
        # Stats fetched for a URL that an edit changed meanwhile belong to nothing: drop them.
        urls_held = (current.repo_url, current.pypi_url) == (job.repo_url, job.pypi_url)
        values: dict[str, Any] = {}
        if urls_held:
            for outcome in outcomes:
                values.update(outcome.values)
            person_set_docs = (
                current.documentation_url is not None and not current.documentation_url_from_pypi
            )
            if "documentation_url" in values and person_set_docs:
                del values["documentation_url"]  # a link a person set is never replaced
            values = {name: value for name, value in values.items() if value != job.v4_stats()[name]}
            if "documentation_url" in values:
                values["documentation_url_from_pypi"] = values["documentation_url"] is not None
        succeeded = urls_held and fetched and not errors
        if values or succeeded:
            stamps: dict[str, Any] = {"modified": now} if values else {}
            if succeeded:
                stamps["last_fetched"] = now
            await session.execute(update(Package).where(Package.id == job.id).values(**values, **stamps))

        state: dict[str, Any] = {"last_attempt": now, "skipped_reason": "; ".join(skipped) or None}
        for outcome in outcomes:
            state.update(outcome.state)
        if errors:
            count = 1 + (
                await session.scalar(
                    select(PackageRefresh.error_count).where(PackageRefresh.package_id == job.id)
                )
                or 0
            )
            backoff = min(max_backoff, error_backoff * 2 ** (count - 1))
            state.update(
                last_error="; ".join(errors),
                last_error_at=now,
                error_count=count,
                next_due=min(next_due, now + timedelta(seconds=backoff)),
            )
        else:
            state.update(error_count=0, next_due=next_due)
            if succeeded:
                state["last_success"] = now
        if not urls_held:
            state = {"last_attempt": now, "next_due": now}  # fetch the new URLs at once
        # Let go of the lease, unless it expired and another worker has taken the package over.
        mine = PackageRefresh.lease_owner == owner
        await session.execute(
            update(PackageRefresh)
            .where(PackageRefresh.package_id == job.id)
            .values(
                **state,
                lease_owner=case((mine, null()), else_=PackageRefresh.lease_owner),
                lease_expires=case((mine, null()), else_=PackageRefresh.lease_expires),
            )
        )
    return bool(values)
