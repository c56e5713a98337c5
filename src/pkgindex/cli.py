"""The ``pkgindex`` command. Every subcommand reads the same settings (``PKGINDEX_*``)."""

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
import uvicorn
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from pkgindex import migrations
from pkgindex.config import Settings, get_settings
from pkgindex.db import make_engine, make_session_factory, unit_of_work
from pkgindex.errors import Conflict, ImportFailed, NotFound
from pkgindex.models import ApiToken, Package
from pkgindex.ops.logs import logging_config
from pkgindex.refresh.runner import Refresher
from pkgindex.repositories.packages import PackageRepository
from pkgindex.services import tokens
from pkgindex.services.importer import ImportBatch, ImportCounts, import_batch, read_file

app = typer.Typer(
    help="pkgindex: an index of software packages with a Django Packages API v4.",
    no_args_is_help=True,
    add_completion=False,
)
token_app = typer.Typer(
    help="Manage API tokens. A token is printed once, at creation; only its hash is stored.",
    no_args_is_help=True,
)
app.add_typer(token_app, name="token")
err = Console(stderr=True)
T = TypeVar("T")


def sample_path() -> Path:
    """The bundled sample dataset (a few dozen real packages)."""
    return Path(str(resources.files("pkgindex") / "data" / "sample.json"))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on [default: PKGINDEX_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on [default: PKGINDEX_PORT]")] = None,
    workers: Annotated[
        int | None, typer.Option(min=1, help="Worker processes [default: PKGINDEX_WORKERS]")
    ] = None,
) -> None:
    """Serve the API with uvicorn: JSON logs, graceful shutdown on SIGTERM."""
    settings = get_settings()
    workers = workers or settings.workers
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Each worker writes its metrics there; a scrape of any worker reports them all.
        metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="pkgindex-metrics-")
    try:
        _serve(settings, host, port, workers)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def _serve(settings: Settings, host: str | None, port: int | None, workers: int) -> None:
    uvicorn.run(
        "pkgindex.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        root_path=settings.root_path,
        # Forwarded headers are applied by the app itself, from PKGINDEX_FORWARDED_ALLOW_IPS only.
        proxy_headers=False,
        server_header=False,
        log_config=logging_config(settings.log_level),
        access_log=False,
        # On SIGTERM: stop accepting, let requests in flight finish (up to this long), then shut down.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
    )


SHUTDOWN_GRACE_SECONDS = 30


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to the newest migration."""
    migrations.upgrade(get_settings().database_url)
    err.print(f"Database is at revision {migrations.head_revision()}.")


@app.command("import")
def import_files(
    files: Annotated[
        list[Path] | None,
        typer.Argument(metavar="FILE", help="v4 JSON files: a dump, a list page, one object or a list."),
    ] = None,
    sample: Annotated[bool, typer.Option("--sample", help="Import the bundled sample dataset.")] = False,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing if the index has packages.")
    ] = False,
) -> None:
    """Load v4 JSON, upserting by id. All files are one transaction: on any error nothing changes."""
    paths = list(files or []) + ([sample_path()] if sample else [])
    if not paths:
        raise typer.BadParameter("give at least one FILE, or --sample")
    try:
        counts = asyncio.run(_import(paths, if_empty))
    except ImportFailed as exc:
        fail(f"Import failed, nothing was changed: {exc}")
    except DBAPIError as exc:
        fail(f"Import failed, nothing was changed: {exc.orig} (did you run `pkgindex migrate`?)")
    except OSError as exc:  # e.g. the database server refuses connections
        fail(f"Import failed, nothing was changed: cannot reach the database: {exc}")
    if counts is None:
        err.print("The index already has packages; nothing imported.")
    else:
        typer.echo(counts.summary())


def fail(message: str) -> NoReturn:
    """Print ``message`` on stderr as is (no markup, no wrapping) and exit with status 1."""
    err.print(escape(message), style="red", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


async def _import(paths: list[Path], if_empty: bool) -> ImportCounts | None:
    engine = make_engine(get_settings())
    try:
        async with unit_of_work(make_session_factory(engine)) as session:
            if if_empty and await session.scalar(select(func.count()).select_from(Package)):
                return None
            batch = ImportBatch()
            for path in paths:
                read_file(path, batch)
            with Progress(
                TextColumn("importing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                disable=not sys.stderr.isatty(),
            ) as bar:
                task = bar.add_task("import", total=len(batch))
                return await import_batch(session, batch, progress=lambda n: bar.advance(task, n))
    finally:
        await engine.dispose()


async def _in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = make_engine(get_settings())
    try:
        async with unit_of_work(make_session_factory(engine)) as session:
            return await work(session)
    finally:
        await engine.dispose()


def _run_db(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``work`` in one transaction, turning domain and database errors into a message and exit 1."""
    try:
        return asyncio.run(_in_transaction(work))
    except (Conflict, NotFound, tokens.InvalidTokenName) as exc:
        fail(str(exc))
    except DBAPIError as exc:
        fail(f"Database error: {exc.orig} (did you run `pkgindex migrate`?)")
    except OSError as exc:
        fail(f"Cannot reach the database: {exc}")


@app.command()
def refresh(
    every: Annotated[bool, typer.Option("--all", help="Refresh every package, due or not.")] = False,
    slugs: Annotated[
        list[str] | None,
        typer.Option("--package", metavar="SLUG", help="Refresh this package (id or slug) now; repeatable."),
    ] = None,
    loop: Annotated[
        bool, typer.Option("--loop", help="Keep refreshing what falls due, until interrupted.")
    ] = False,
) -> None:
    """Fetch GitHub and PyPI stats of the packages that are due, then print a summary.

    Several `pkgindex refresh` processes (or replicas) on one PostgreSQL share the work."""
    try:
        summary_lines, failed = asyncio.run(_refresh(every, slugs or [], loop))
    except NotFound as exc:
        fail(str(exc))
    except DBAPIError as exc:
        fail(f"Database error: {exc.orig} (did you run `pkgindex migrate`?)")
    except OSError as exc:
        fail(f"Cannot reach the database: {exc}")
    for line in summary_lines:
        typer.echo(line)
    if slugs and failed:
        raise typer.Exit(1)


async def _refresh(every: bool, slugs: list[str], loop: bool) -> tuple[list[str], int]:
    settings = get_settings()
    engine = make_engine(settings)
    refresher = Refresher(settings, make_session_factory(engine))
    try:
        only: list[int] | None = None
        if slugs:
            async with unit_of_work(refresher.factory) as session:
                only = []
                for slug in slugs:
                    try:
                        only.append((await PackageRepository(session).get(slug)).id)
                    except NotFound:  # say which one: --package is repeatable
                        raise NotFound(f"No package with id or slug {slug!r}.") from None
            await refresher.make_due(package_ids=only)
        elif every:
            await refresher.make_due(every=True)
        if loop:
            stop = asyncio.Event()
            for signum in (signal.SIGINT, signal.SIGTERM):
                asyncio.get_running_loop().add_signal_handler(signum, stop.set)
            await refresher.run_forever(stop)
        else:
            total = len(only) if only is not None else await refresher.count_due()
            with Progress(
                TextColumn("refreshing"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                disable=not sys.stderr.isatty(),
            ) as bar:
                task = bar.add_task("refresh", total=total)
                await refresher.run_pass(only=only, progress=lambda n: bar.advance(task, n))
        return refresher.summary.lines(refresher.github), refresher.summary.outcomes["failed"]
    finally:
        await refresher.aclose()
        await engine.dispose()


@token_app.command("create")
def create_token(
    name: Annotated[str, typer.Option(help="A unique name; rows this token writes record it.")],
    scope: Annotated[tokens.Scope, typer.Option(help="write: edit the index; admin: also manage tokens.")],
) -> None:
    """Create a token and print it on stdout, once: it cannot be shown again."""

    async def work(session: AsyncSession) -> str:
        return (await tokens.create_token(session, name, scope))[1]

    token = _run_db(work)
    typer.echo(token)
    err.print(
        escape(f"Created token {name!r} with scope {scope.value}. Keep it now: it cannot be shown again."),
        highlight=False,
        soft_wrap=True,
    )


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else "-"


@token_app.command("list")
def list_tokens() -> None:
    """List the tokens: name, scope, created, last used, revoked (never the token itself)."""
    rows: Sequence[ApiToken] = _run_db(tokens.list_tokens)
    table = [("NAME", "SCOPE", "CREATED", "LAST USED", "REVOKED")] + [
        (row.name, row.scope, _when(row.created), _when(row.last_used), _when(row.revoked)) for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    for line in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


@token_app.command("revoke")
def revoke_token(name: Annotated[str, typer.Argument(help="The token's name.")]) -> None:
    """Revoke a token: from now on it is refused. The row stays, for the record."""

    async def work(session: AsyncSession) -> bool:
        return (await tokens.revoke_token(session, name))[1]

    if _run_db(work):
        typer.echo(f"Revoked token {name!r}.")
    else:
        typer.echo(f"Token {name!r} was already revoked.")
