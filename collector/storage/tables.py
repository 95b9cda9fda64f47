"""SQLAlchemy Core tables.

Every primary key and unique constraint of a per-site table starts with ``site_id``
so that, past one machine, Citus can distribute raw events and rollups on it and
co-locate them. ``sites`` itself is small and becomes a Citus reference table.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

JsonDocument = JSON().with_variant(JSONB(), "postgresql")
PackedHistogram = JSON().with_variant(ARRAY(BigInteger), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on both dialects.

    SQLite has no time zones: values are stored as naive UTC and made aware again
    on the way out, so code never compares naive with aware datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is needed")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# A rolled-up dimension (one the rollup level does not split by) holds this value.
ALL = "*"

sites = Table(
    "sites",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("public_key", String(64), nullable=False, unique=True),
    Column("read_token_hash", String(64), nullable=False),
    Column("origins", JsonDocument, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    # Beacons a minute per client address; NULL: PERFBEACON_RATE_LIMIT_PER_MINUTE.
    Column("rate_limit_per_minute", Integer, nullable=True),
    # Query parameters kept in stored page URLs (all others are stripped); NULL: none.
    Column("kept_query_params", JsonDocument, nullable=True),
)

# Raw observations, one row per web-vitals metric report. No primary key and a
# single index keep bulk COPY cheap; on PostgreSQL the table is range-partitioned
# by day on ``ts`` (see partitions.py).
events = Table(
    "events",
    metadata,
    Column("site_id", Integer, nullable=False),
    Column("ts", UtcDateTime(), nullable=False),
    Column("metric", String(8), nullable=False),
    Column("value", Float, nullable=False),
    Column("delta", Float, nullable=False),
    Column("rating", String(24), nullable=True),
    Column("metric_id", String(128), nullable=False),
    Column("navigation_type", String(32), nullable=False),
    Column("page_path", String(1024), nullable=False),
    Column("route", String(512), nullable=False),
    Column("device", String(16), nullable=False),
    Column("browser", String(64), nullable=False),
    Column("os", String(64), nullable=False),
    Column("connection", String(16), nullable=False),
    Column("device_memory", Float, nullable=True),
    Column("country", String(2), nullable=True),
    Column("attribution", JsonDocument, nullable=True),
    Index("ix_events_site_id_metric_ts", "site_id", "metric", "ts"),
    postgresql_partition_by="RANGE (ts)",
)

# Rollups: one row per (site, metric, level, grain, period, dimension values) with the
# exact count, the good / needs-improvement / poor counts and a histogram of
# log-spaced buckets: packed ``int8[]`` on PostgreSQL (collector/query/packed.py), a
# JSON object ({"bucket": count}) on SQLite. ``level`` is the bit mask of the dimensions
# the row keeps (collector/query/levels.py); the others hold ALL. ``grain`` is the
# period length and ``period`` its start, both in seconds since the epoch.
ROLLUP_KEY: tuple[str, ...] = (
    "site_id",
    "metric",
    "level",
    "grain",
    "period",
    "route",
    "device",
    "browser",
    "connection",
    "navigation_type",
    "country",
)

rollups = Table(
    "rollups",
    metadata,
    Column("site_id", Integer, nullable=False),
    Column("metric", String(8), nullable=False),
    Column("level", SmallInteger, nullable=False),
    Column("grain", Integer, nullable=False),
    Column("period", BigInteger, nullable=False),
    Column("route", String(512), nullable=False),
    Column("device", String(16), nullable=False),
    Column("browser", String(64), nullable=False),
    Column("connection", String(16), nullable=False),
    Column("navigation_type", String(32), nullable=False),
    Column("country", String(2), nullable=False),
    Column("count", BigInteger, nullable=False),
    Column("good", BigInteger, nullable=False),
    Column("needs_improvement", BigInteger, nullable=False),
    Column("poor", BigInteger, nullable=False),
    Column("histogram", PackedHistogram, nullable=False),
    PrimaryKeyConstraint(*ROLLUP_KEY),
)

# One row: raw events with ``ts`` before ``rolled_before`` are in the rollups. Events
# at or after it are rolled up by the roller (PostgreSQL) or, on SQLite, where the
# watermark sits at the end of time, by the writer in its own transaction.
rollup_watermark = Table(
    "rollup_watermark",
    metadata,
    Column("id", SmallInteger, primary_key=True),
    Column("rolled_before", UtcDateTime(), nullable=False),
)

# How far each spool file was replayed, committed with the replayed rows themselves: a
# file adopted after a crash resumes where the last committed replay ended (replaying a
# re-report twice would store it twice). Spool files are named by a random UUID.
spool_replays = Table(
    "spool_replays",
    metadata,
    Column("spool_file", String(64), primary_key=True),
    Column("replayed_to", BigInteger, nullable=False),
)

# Which metric ids have a stored row, and at which timestamp: the database's word on
# whether a report is a page view's first or a re-report, whichever process or collector
# stored the first. Kept for ``REREPORT_WINDOW`` (maintenance deletes older claims).
# Distributed on ``site_id`` with the events on Citus.
metric_ids = Table(
    "metric_ids",
    metadata,
    Column("site_id", Integer, nullable=False),
    Column("metric", String(8), nullable=False),
    Column("metric_id", String(128), nullable=False),
    Column("ts", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("site_id", "metric", "metric_id"),
    Index("ix_metric_ids_ts", "ts"),
)

# Budgets and the Lighthouse CI server API. A project holds CI builds; a site's budget
# checks go to the project linked to it. Full LHRs are kept compressed in their own
# table so that listing runs never reads them, and can be pruned before the rest.
budget_projects = Table(
    "budget_projects",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE"), nullable=True),
    Column("name", String(256), nullable=False),
    Column("slug", String(40), nullable=False, unique=True),
    Column("external_url", String(256), nullable=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("base_branch", String(80), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    Index("ix_budget_projects_site_id", "site_id"),
)

budget_builds = Table(
    "budget_builds",
    metadata,
    Column("id", String(36), primary_key=True),
    Column(
        "project_id",
        String(36),
        ForeignKey("budget_projects.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("lifecycle", String(16), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("branch", String(256), nullable=False),
    Column("ancestor_hash", String(64), nullable=True),
    Column("commit_message", String(1024), nullable=True),
    Column("author", String(256), nullable=True),
    Column("avatar_url", String(512), nullable=True),
    Column("external_build_url", String(512), nullable=True),
    Column("run_at", UtcDateTime(), nullable=False),
    Column("committed_at", UtcDateTime(), nullable=True),
    Column("ancestor_committed_at", UtcDateTime(), nullable=True),
    Column("created_at", UtcDateTime(), nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
    UniqueConstraint("project_id", "branch", "hash"),
    Index("ix_budget_builds_project_id_branch_run_at", "project_id", "branch", "run_at"),
    Index("ix_budget_builds_run_at", "run_at"),
)

budget_runs = Table(
    "budget_runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project_id", String(36), nullable=False),
    Column(
        "build_id", String(36), ForeignKey("budget_builds.id", ondelete="CASCADE"), nullable=False
    ),
    Column("url", String(2048), nullable=False),
    Column("representative", Boolean, nullable=False),
    Column("summary", JsonDocument, nullable=False),
    Column("lhr_bytes", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_budget_runs_build_id", "build_id"),
)

budget_lhrs = Table(
    "budget_lhrs",
    metadata,
    Column(
        "run_id", String(36), ForeignKey("budget_runs.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("lhr_gzip", LargeBinary, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_budget_lhrs_created_at", "created_at"),
)

budget_statistics = Table(
    "budget_statistics",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("project_id", String(36), nullable=False),
    Column(
        "build_id", String(36), ForeignKey("budget_builds.id", ondelete="CASCADE"), nullable=False
    ),
    Column("url", String(2048), nullable=False),
    Column("version", Integer, nullable=False),
    Column("name", String(100), nullable=False),
    Column("value", Float, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    UniqueConstraint("build_id", "url", "name"),
)

budget_checks = Table(
    "budget_checks",
    metadata,
    Column(
        "build_id", String(36), ForeignKey("budget_builds.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("project_id", String(36), nullable=False),
    Column("verdict", String(8), nullable=False),
    Column("baseline_build_id", String(36), nullable=True),
    Column("report", JsonDocument, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    Index("ix_budget_checks_project_id_created_at", "project_id", "created_at"),
)

budget_configs = Table(
    "budget_configs",
    metadata,
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("config", JsonDocument, nullable=False),
    Column("updated_at", UtcDateTime(), nullable=False),
)

# Secrets generated once per installation (e.g. the dashboard's cookie-signing key),
# so that every collector process and every restart agree on them.
instance_secrets = Table(
    "instance_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(128), nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
)

# One row per site and day the field regression check ran: makes the daily check idempotent.
field_regression_checks = Table(
    "field_regression_checks",
    metadata,
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("day", String(10), nullable=False),
    Column("flagged", Integer, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("site_id", "day"),
)

# Significant worsenings of a metric's p75 (site-wide: route '*') found by a daily check.
field_regressions = Table(
    "field_regressions",
    metadata,
    Column("site_id", Integer, ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    Column("day", String(10), nullable=False),
    Column("metric", String(8), nullable=False),
    Column("route", String(512), nullable=False),
    Column("previous_p75", Float, nullable=False),
    Column("current_p75", Float, nullable=False),
    Column("relative_change", Float, nullable=False),
    Column("previous_count", BigInteger, nullable=False),
    Column("current_count", BigInteger, nullable=False),
    Column("share_above", Float, nullable=False),
    Column("p_value", Float, nullable=False),
    Column("window_days", SmallInteger, nullable=False),
    Column("created_at", UtcDateTime(), nullable=False),
    PrimaryKeyConstraint("site_id", "day", "metric", "route"),
)

# Admin tokens besides PERFBEACON_ADMIN_TOKEN, stored hashed, so one can be
# created, rotated and revoked while the collector runs.
admin_tokens = Table(
    "admin_tokens",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", UtcDateTime(), nullable=False),
)
