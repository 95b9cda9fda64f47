"""The ``perfbeacon`` command: serve, migrate, manage sites.

Exit codes: 0 success, 1 failure, 2 usage or input error.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
import uvicorn
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.budgets.field.regressions import (
    CheckResult,
    check_all_sites,
    regressions_json,
    require_checkable_day,
)
from collector.budgets.lab.cli import budget_cli
from collector.config import InvalidSettings, Settings, load_settings
from collector.errors import InvalidInput, PerfbeaconError
from collector.security import admin_tokens
from collector.sites import service as sites_service
from collector.sites.schemas import SitePolicy
from collector.storage.db import create_engine
from collector.storage.migrate import current_revision, head_revision, upgrade
from collector.telemetry.logs import uvicorn_log_config
from collector.telemetry.multiproc import shared_metrics_directory

EXIT_FAILURE = 1
EXIT_USAGE = 2

T = TypeVar("T")

cli = typer.Typer(
    name="perfbeacon",
    help="Self-hosted web-performance monitoring.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
site_cli = typer.Typer(help="Manage monitored sites.", no_args_is_help=True)
admin_token_cli = typer.Typer(
    help="Manage stored admin tokens (besides PERFBEACON_ADMIN_TOKEN).", no_args_is_help=True
)
cli.add_typer(site_cli, name="site")
cli.add_typer(admin_token_cli, name="admin-token")
cli.add_typer(budget_cli, name="budget")
field_cli = typer.Typer(help="Field (real-user) data checks.", no_args_is_help=True)
cli.add_typer(field_cli, name="field")


class NotMigrated(PerfbeaconError):
    """The database is not at the schema this perfbeacon reads."""


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Print ``perfbeacon: message`` on stderr and exit with ``code``."""
    print(f"perfbeacon: {message}", file=sys.stderr)
    raise typer.Exit(code)


def settings_or_exit() -> Settings:
    """Settings from the environment, or a one-line message and exit 2."""
    try:
        return load_settings()
    except InvalidSettings as exc:
        fail(str(exc))


def run_migrated(settings: Settings, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Migrate the database, then run ``work(conn)``, mapping failures to exit codes."""
    return _run_on_database(settings, work, prepare=upgrade)


def run_read_only(settings: Settings, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
    """Run ``work(conn)`` on a database already at the newest schema; never migrate it.

    A command that only reads must not change the schema under a running collector.
    """
    return _run_on_database(settings, work, prepare=_require_newest_schema)


async def _require_newest_schema(engine: AsyncEngine) -> None:
    if await current_revision(engine) != head_revision():
        raise NotMigrated("the database is not at the newest schema: run `perfbeacon migrate`")


def _run_on_database(
    settings: Settings,
    work: Callable[[AsyncConnection], Awaitable[T]],
    *,
    prepare: Callable[[AsyncEngine], Awaitable[None]],
) -> T:
    async def main() -> T:
        engine = create_engine(settings.database_url)
        try:
            await prepare(engine)
            async with engine.connect() as conn:
                return await work(conn)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except NotMigrated as exc:
        fail(exc.message, EXIT_FAILURE)
    except PerfbeaconError as exc:
        fail(exc.message)
    except (OSError, DBAPIError) as exc:
        fail(f"database error: {_first_line(exc)}", EXIT_FAILURE)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


async def _nothing(_conn: AsyncConnection) -> None:
    return None


@cli.command()
def migrate() -> None:
    """Bring the database to the newest schema."""
    settings = settings_or_exit()
    run_migrated(settings, _nothing)
    print("perfbeacon: database is at the newest schema", file=sys.stderr)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind.", min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    demo: Annotated[
        bool, typer.Option(help="Also create a demo site with two weeks of realistic data.")
    ] = False,
) -> None:
    """Migrate the database, then serve the collector, API and dashboard."""
    settings = settings_or_exit()
    run_migrated(settings, _nothing)
    if demo:
        # Imported here: it loads the whole app, which other commands do not need.
        from collector.demo.command import describe_demo, fill_demo_site

        site = fill_demo_site(settings)
        print(describe_demo(site, host=host, port=port), flush=True)
    metrics_directory: AbstractContextManager[Path | None] = nullcontext()
    if workers > 1 or settings.prometheus_multiproc_dir is not None:
        metrics_directory = shared_metrics_directory(settings.prometheus_multiproc_dir)
    with metrics_directory:
        uvicorn.run(
            "collector.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            # Forwarded headers only from the proxies the operator names: anyone else
            # could pick the address their beacons are rate-limited under.
            proxy_headers=settings.forwarded_allow_ips is not None,
            forwarded_allow_ips=settings.forwarded_allow_ips,
            server_header=False,
            log_config=uvicorn_log_config(settings),
            log_level=settings.log_level,
            # Requests in flight get half; the writer flushes in the other half.
            timeout_graceful_shutdown=max(1, round(settings.shutdown_timeout / 2)),
            # perfbeacon writes its own access line (route, request id, trace id).
            access_log=False,
        )


@site_cli.command("create")
def site_create(
    name: Annotated[str, typer.Argument(help="A name for the site, e.g. shop.")],
    origin: Annotated[
        list[str] | None,
        typer.Option("--origin", help="An origin pages send beacons from (repeatable)."),
    ] = None,
) -> None:
    """Create a site; prints {"id", "key", "read_token"} as JSON (the token only this once)."""
    settings = settings_or_exit()

    async def create(conn: AsyncConnection) -> dict[str, object]:
        site = await sites_service.create_site(conn=conn, name=name, origins=origin or [])
        return {"id": site.id, "key": site.key, "read_token": site.read_token}

    print(json.dumps(run_migrated(settings, create)))


@site_cli.command("list")
def site_list() -> None:
    """List sites as JSON lines (no secrets)."""
    settings = settings_or_exit()

    async def list_all(conn: AsyncConnection) -> list[str]:
        return [site.model_dump_json() for site in await sites_service.list_sites(conn=conn)]

    for line in run_read_only(settings, list_all):
        print(line)


@field_cli.command("check")
def field_check(
    day: Annotated[
        str | None,
        typer.Option(help="The check's day (YYYY-MM-DD, UTC): it compares the weeks before it."),
    ] = None,
) -> None:
    """Flag significant field p75 regressions of every site; once per site and day.

    Prints one JSON object per site: its key, the day, whether this run computed the
    result (false: the day was already checked) and the flags.
    """
    settings = settings_or_exit()
    today = datetime.now(UTC).date()
    try:
        check_day = date.fromisoformat(day) if day else today
    except ValueError:
        fail(f"--day {day!r} is not a date: use YYYY-MM-DD")
    try:
        require_checkable_day(check_day, today=today)
    except InvalidInput as exc:
        fail(f"--day {exc.message}")

    async def check(conn: AsyncConnection) -> dict[str, CheckResult]:
        return await check_all_sites(conn=conn, day=check_day)

    for key, result in run_migrated(settings, check).items():
        line = {
            "site": key,
            "day": result.day,
            "computed": result.computed,
            "regressions": regressions_json(result.regressions),
        }
        print(json.dumps(line))


@site_cli.command("update")
def site_update(
    key: Annotated[str, typer.Argument(help="The site's public key (pk_...).")],
    rate_limit: Annotated[
        int | None,
        typer.Option(
            "--rate-limit",
            min=0,
            help="Beacons a minute per client address for this site (0: no limit).",
        ),
    ] = None,
    default_rate_limit: Annotated[
        bool, typer.Option("--default-rate-limit", help="Use PERFBEACON_RATE_LIMIT_PER_MINUTE.")
    ] = False,
    keep_param: Annotated[
        list[str] | None,
        typer.Option(
            "--keep-param",
            help="A query parameter kept in stored page URLs (repeatable; replaces the list).",
        ),
    ] = None,
    strip_all_params: Annotated[
        bool, typer.Option("--strip-all-params", help="Keep no query parameter (the default).")
    ] = False,
) -> None:
    """Change a site's ingest policy; prints the site as JSON. Running collectors apply it
    within PERFBEACON_SITE_CACHE_SECONDS."""
    settings = settings_or_exit()
    if rate_limit is not None and default_rate_limit:
        fail("give --rate-limit N or --default-rate-limit, not both")
    if keep_param and strip_all_params:
        fail("give --keep-param NAME or --strip-all-params, not both")
    changes: dict[str, object] = {}
    if rate_limit is not None or default_rate_limit:
        changes["rate_limit_per_minute"] = rate_limit
    if keep_param or strip_all_params:
        changes["kept_query_params"] = keep_param or []
    if not changes:
        fail(
            "nothing to change: give --rate-limit, --default-rate-limit, --keep-param "
            "or --strip-all-params"
        )
    try:
        policy = SitePolicy.model_validate(changes)
    except ValidationError as exc:
        fail(f"bad site policy: {exc.errors()[0]['msg']}")

    async def update(conn: AsyncConnection) -> str:
        site = await sites_service.update_policy(conn=conn, key=key, policy=policy)
        return site.model_dump_json()

    print(run_migrated(settings, update))


@site_cli.command("rotate-token")
def site_rotate_token(
    key: Annotated[str, typer.Argument(help="The site's public key (pk_...).")],
) -> None:
    """Give a site a new read token, printed once as {"key", "read_token"}; the old one dies."""
    settings = settings_or_exit()

    async def rotate(conn: AsyncConnection) -> dict[str, str]:
        token = await sites_service.issue_new_read_token(conn=conn, key=key)
        return {"key": key, "read_token": token}

    print(json.dumps(run_migrated(settings, rotate)))


@site_cli.command("revoke-token")
def site_revoke_token(
    key: Annotated[str, typer.Argument(help="The site's public key (pk_...).")],
) -> None:
    """Revoke a site's read token (and its dashboard sessions); rotate-token issues a new one."""
    settings = settings_or_exit()

    async def revoke(conn: AsyncConnection) -> None:
        await sites_service.revoke_read_token(conn=conn, key=key)

    run_migrated(settings, revoke)
    print(f"perfbeacon: the read token of site {key} is revoked", file=sys.stderr)


@admin_token_cli.command("create")
def admin_token_create(
    name: Annotated[str, typer.Argument(help="A name for the token, e.g. ops-2026.")],
) -> None:
    """Create an admin token; prints {"name", "created_at", "token"} (the token only this once)."""
    settings = settings_or_exit()

    async def create(conn: AsyncConnection) -> str:
        return (await admin_tokens.create_admin_token(conn=conn, name=name)).model_dump_json()

    print(run_migrated(settings, create))


@admin_token_cli.command("list")
def admin_token_list() -> None:
    """List stored admin tokens as JSON lines (names and dates, never the tokens)."""
    settings = settings_or_exit()

    async def list_all(conn: AsyncConnection) -> list[str]:
        return [
            token.model_dump_json() for token in await admin_tokens.list_admin_tokens(conn=conn)
        ]

    for line in run_read_only(settings, list_all):
        print(line)


@admin_token_cli.command("revoke")
def admin_token_revoke(
    name: Annotated[str, typer.Argument(help="The name given at creation.")],
) -> None:
    """Revoke a stored admin token; it and the dashboard sessions opened with it stop working."""
    settings = settings_or_exit()

    async def revoke(conn: AsyncConnection) -> None:
        await admin_tokens.revoke_admin_token(conn=conn, name=name)

    run_migrated(settings, revoke)
    print(f"perfbeacon: admin token {name} is revoked", file=sys.stderr)


def main() -> None:
    """Console-script entry point."""
    cli()
