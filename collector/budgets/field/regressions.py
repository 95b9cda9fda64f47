"""The daily field regression check: per site, the last ``WINDOW_DAYS`` whole days against
the ``WINDOW_DAYS`` before, per metric site-wide and on its busiest routes, flagged by
``change.worsening``. Idempotent per site and day: a second run of the same day
answers what the first stored.

>>> result = await check_site(conn=conn, site=site, day=date.today())
>>> result.regressions
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import structlog
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.budgets.field.change import Quantiles, Worsening, worsening
from collector.budgets.field.config import FIELD_METRICS
from collector.errors import InvalidInput
from collector.query.schemas import MetricStats
from collector.query.service import break_down, summarize
from collector.query.windows import Window
from collector.sites import service as sites_service
from collector.sites.schemas import Site
from collector.storage.db import committed
from collector.storage.tables import field_regression_checks, field_regressions, sites

WINDOW_DAYS = 7
TOP_ROUTES = 10
ALL_ROUTES = "*"
CHECK_INTERVAL = timedelta(hours=1)
# Leave start-up to serving; the check only has to run once a day.
FIRST_CHECK_DELAY = timedelta(minutes=2)
LIST_DAYS = 30
# The check of a day reads the 2 * WINDOW_DAYS whole days before it.
EARLIEST_DAY = date.min + timedelta(days=2 * WINDOW_DAYS)

logger = structlog.get_logger(__name__)

WORST_FIRST = (
    field_regressions.c.relative_change.desc(),
    field_regressions.c.metric,
    field_regressions.c.route,
)


@dataclass(frozen=True, slots=True)
class FieldRegression:
    """One flagged worsening of a metric's p75 on a route (``*`` for the whole site)."""

    day: str
    metric: str
    route: str
    change: Worsening

    def to_json(self) -> dict[str, Any]:
        """The API's form."""
        return {
            "day": self.day,
            "metric": self.metric,
            "route": self.route,
            "previous_p75": self.change.previous_p75,
            "current_p75": self.change.current_p75,
            "relative_change": self.change.relative_change,
            "previous_count": self.change.previous_count,
            "current_count": self.change.current_count,
            "share_above_previous_p75": self.change.share_above,
            "p_value": self.change.p_value,
            "window_days": WINDOW_DAYS,
        }


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What a site's check of one day found, and whether this call computed it."""

    day: str
    computed: bool
    regressions: list[FieldRegression]


def require_checkable_day(day: date, *, today: date) -> date:
    """``day`` when its check can run: the days it compares are over and representable.

    A later day would be computed from unfinished data and stored, so that its real
    check would then find it done and be skipped.
    """
    if day > today:
        raise InvalidInput(
            f"{day.isoformat()} has not come yet (UTC): its check compares the days before "
            f"it, which are not over; give {today.isoformat()} or an earlier day"
        )
    if day < EARLIEST_DAY:
        raise InvalidInput(
            f"{day.isoformat()} is too early: its check compares the {2 * WINDOW_DAYS} days "
            f"before it; give {EARLIEST_DAY.isoformat()} or a later day"
        )
    return day


def windows_before(day: date) -> tuple[Window, Window]:
    """(previous, current): the two ``WINDOW_DAYS`` windows of whole days before ``day``."""
    end = datetime.combine(day, time(), tzinfo=UTC)
    span = timedelta(days=WINDOW_DAYS)
    return Window(end - 2 * span, end - span), Window(end - span, end)


async def check_site(*, conn: AsyncConnection, site: Site, day: date) -> CheckResult:
    """Run the day's check of a site once; later calls of the same day read its result."""
    stored = await _stored_check(conn, site.id, day)
    if stored is not None:
        await conn.rollback()
        return stored
    found = await find_regressions(conn=conn, site=site, day=day)
    now = datetime.now(UTC)
    try:
        async with committed(conn):
            await conn.execute(
                insert(field_regression_checks).values(
                    site_id=site.id, day=day.isoformat(), flagged=len(found), created_at=now
                )
            )
            if found:
                rows = [_row(site.id, r, now) for r in found]
                await conn.execute(insert(field_regressions), rows)
    except IntegrityError:
        # Another process checked the same site and day first: its result stands.
        stored = await _stored_check(conn, site.id, day)
        await conn.rollback()
        if stored is None:
            raise
        return stored
    return CheckResult(day=day.isoformat(), computed=True, regressions=found)


async def find_regressions(
    *, conn: AsyncConnection, site: Site, day: date
) -> list[FieldRegression]:
    """Every significant worsening before ``day``: per metric site-wide and on top routes."""
    previous_window, current_window = windows_before(day)
    metrics = FIELD_METRICS
    found: list[FieldRegression] = []
    previous_all = await summarize(conn=conn, site=site, window=previous_window, metrics=metrics)
    current_all = await summarize(conn=conn, site=site, window=current_window, metrics=metrics)
    for metric in metrics:
        pairs = [(ALL_ROUTES, previous_all.metrics[metric], current_all.metrics[metric])]
        top = await break_down(
            conn=conn, site=site, window=current_window, metric=metric, by="route", limit=TOP_ROUTES
        )
        for row in top.rows:
            if row.value is None:
                continue
            before = await summarize(
                conn=conn,
                site=site,
                window=previous_window,
                metrics=(metric,),
                filters={"route": row.value},
            )
            pairs.append((row.value, before.metrics[metric], row))
        for route, before_stats, now_stats in pairs:
            previous, current = _quantiles(before_stats), _quantiles(now_stats)
            if previous is None or current is None:
                continue
            change = worsening(metric, previous, current)
            if change is not None:
                found.append(FieldRegression(day.isoformat(), metric, route, change))
    return sorted(found, key=lambda r: (-r.change.relative_change, r.metric, r.route))


def _quantiles(stats: MetricStats) -> Quantiles | None:
    values = (stats.p50, stats.p75, stats.p90, stats.p95, stats.p99)
    if stats.count == 0 or any(v is None for v in values):
        return None
    p50, p75, p90, p95, p99 = (float(v) for v in values if v is not None)
    return Quantiles(stats.count, p50, p75, p90, p95, p99)


def _row(site_id: int, found: FieldRegression, now: datetime) -> dict[str, Any]:
    change = found.change
    return {
        "site_id": site_id,
        "day": found.day,
        "metric": found.metric,
        "route": found.route,
        "previous_p75": change.previous_p75,
        "current_p75": change.current_p75,
        "relative_change": change.relative_change,
        "previous_count": change.previous_count,
        "current_count": change.current_count,
        "share_above": change.share_above,
        "p_value": change.p_value,
        "window_days": WINDOW_DAYS,
        "created_at": now,
    }


def _from_row(row: Any) -> FieldRegression:
    return FieldRegression(
        day=row.day,
        metric=row.metric,
        route=row.route,
        change=Worsening(
            previous_p75=row.previous_p75,
            current_p75=row.current_p75,
            relative_change=row.relative_change,
            previous_count=row.previous_count,
            current_count=row.current_count,
            share_above=row.share_above,
            p_value=row.p_value,
        ),
    )


async def _stored_check(conn: AsyncConnection, site_id: int, day: date) -> CheckResult | None:
    ran = await conn.execute(
        select(field_regression_checks.c.day).where(
            field_regression_checks.c.site_id == site_id,
            field_regression_checks.c.day == day.isoformat(),
        )
    )
    if ran.first() is None:
        return None
    rows = await conn.execute(
        select(field_regressions)
        .where(field_regressions.c.site_id == site_id, field_regressions.c.day == day.isoformat())
        .order_by(*WORST_FIRST)
    )
    return CheckResult(
        day=day.isoformat(), computed=False, regressions=[_from_row(r) for r in rows]
    )


async def list_regressions(
    *, conn: AsyncConnection, site_id: int, days: int = LIST_DAYS, today: date | None = None
) -> list[FieldRegression]:
    """A site's flags of the last ``days`` days, newest day first, worst first."""
    since = ((today or datetime.now(UTC).date()) - timedelta(days=days)).isoformat()
    rows = await conn.execute(
        select(field_regressions)
        .where(field_regressions.c.site_id == site_id, field_regressions.c.day > since)
        .order_by(field_regressions.c.day.desc(), *WORST_FIRST)
    )
    return [_from_row(row) for row in rows]


async def latest_regressions(
    *, conn: AsyncConnection, today: date | None = None
) -> list[tuple[str, FieldRegression]]:
    """(site name, flag) of each site's latest check, if it ran today or yesterday: the
    flags that are still news."""
    oldest = ((today or datetime.now(UTC).date()) - timedelta(days=1)).isoformat()
    latest = (
        select(
            field_regression_checks.c.site_id,
            func.max(field_regression_checks.c.day).label("day"),
        )
        .where(field_regression_checks.c.day >= oldest)
        .group_by(field_regression_checks.c.site_id)
        .subquery()
    )
    rows = await conn.execute(
        select(sites.c.name, field_regressions)
        .join(latest, (latest.c.site_id == field_regressions.c.site_id))
        .join(sites, sites.c.id == field_regressions.c.site_id)
        .where(field_regressions.c.day == latest.c.day)
        .order_by(sites.c.name, field_regressions.c.metric, field_regressions.c.route)
    )
    return [(row.name, _from_row(row)) for row in rows]


async def check_all_sites(*, conn: AsyncConnection, day: date) -> dict[str, CheckResult]:
    """The day's check of every site, by site key."""
    every = await sites_service.list_sites(conn=conn)
    await conn.rollback()
    return {site.key: await check_site(conn=conn, site=site, day=day) for site in every}


async def check_today(engine: AsyncEngine) -> None:
    """Today's check of every site not yet checked today (the lifespan runs it hourly).

    A failed pass stores nothing; the next one retries.
    """
    async with engine.connect() as conn:
        results = await check_all_sites(conn=conn, day=datetime.now(UTC).date())
    flagged = sum(len(r.regressions) for r in results.values() if r.computed)
    if any(r.computed for r in results.values()):
        logger.info("field_regressions_checked", sites=len(results), flagged=flagged)


def regressions_json(found: Sequence[FieldRegression]) -> list[dict[str, Any]]:
    """The API's list form."""
    return [r.to_json() for r in found]
