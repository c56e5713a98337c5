"""The refresh state of a package, and asking for a refresh."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Response

from pkgindex.api.auth import WriterDep
from pkgindex.api.deps import Links, LinksDep, SessionDep, ZoneDep
from pkgindex.api.etags import READ_RESPONSES, IfNoneMatch, read_response, written_response
from pkgindex.api.presenters import in_zone_or_none
from pkgindex.api.problems import problem_responses
from pkgindex.models import PackageRefresh
from pkgindex.refresh import state
from pkgindex.repositories.packages import PackageRepository
from pkgindex.schemas.refresh import RefreshStateRead

router = APIRouter(prefix="/packages", tags=["refresh"])


def present_state(
    package_id: int, row: PackageRefresh | None, links: Links, zone: ZoneInfo
) -> RefreshStateRead:
    now = datetime.now(UTC)
    if row is None:  # never looked at: due as soon as a refresher runs
        return RefreshStateRead(
            package=links.package(package_id),
            due=True,
            next_due=None,
            leased_until=None,
            last_attempt=None,
            last_success=None,
            last_error=None,
            last_error_at=None,
            error_count=0,
            skipped_reason=None,
            repo_archived=None,
            repo_moved_to=None,
            repo_missing=False,
            pypi_missing=False,
            pushed_at=None,
            activity_pending=False,
        )
    leased = row.lease_expires if row.lease_expires and row.lease_expires > now else None
    return RefreshStateRead(
        package=links.package(package_id),
        due=row.next_due <= now and leased is None,
        next_due=in_zone_or_none(row.next_due, zone),
        leased_until=in_zone_or_none(leased, zone),
        last_attempt=in_zone_or_none(row.last_attempt, zone),
        last_success=in_zone_or_none(row.last_success, zone),
        last_error=row.last_error,
        last_error_at=in_zone_or_none(row.last_error_at, zone),
        error_count=row.error_count,
        skipped_reason=row.skipped_reason,
        repo_archived=row.repo_archived,
        repo_moved_to=row.repo_moved_to,
        repo_missing=row.repo_missing,
        pypi_missing=row.pypi_missing,
        pushed_at=in_zone_or_none(row.pushed_at, zone),
        activity_pending=row.activity_pending,
    )


@router.get(
    "/{ref}/refresh/",
    response_model=RefreshStateRead,
    summary="Get the refresh state of a package",
    description="When the package's GitHub and PyPI stats were fetched, what went wrong, and when they "
    "are fetched next.",
    responses={**READ_RESPONSES, **problem_responses(400, 404)},
)
async def get_refresh_state(
    ref: str, session: SessionDep, links: LinksDep, zone: ZoneDep, if_none_match: IfNoneMatch = None
) -> Response:
    package = await PackageRepository(session).get(ref)
    row = await session.get(PackageRefresh, package.id)
    return read_response(present_state(package.id, row, links, zone), if_none_match)


@router.post(
    "/{ref}/refresh/",
    status_code=202,
    response_model=RefreshStateRead,
    summary="Refresh a package soon",
    description="Needs a token with the `write` scope. Makes the package due now: the next refresher "
    "cycle fetches it. Answers 202 with the refresh state; poll its `Location`.",
    responses={
        202: {"headers": {"Location": {"description": "The refresh state.", "schema": {"type": "string"}}}},
        **problem_responses(400, 401, 403, 404),
    },
)
async def request_refresh(
    ref: str, caller: WriterDep, session: SessionDep, links: LinksDep, zone: ZoneDep
) -> Response:
    package = await PackageRepository(session).get(ref)
    await state.make_due(session, package.id)
    row = await session.get(PackageRefresh, package.id, populate_existing=True)
    location = f"{links.package(package.id)}refresh/"
    return written_response(present_state(package.id, row, links, zone), 202, {"Location": location})
