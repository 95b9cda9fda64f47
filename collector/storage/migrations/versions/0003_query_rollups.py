"""Rollups for the query engine: a histogram and exact counts per level, grain and period.

Replaces the unused ``rollups`` table of 0001 with rows keyed by (site, metric,
level, grain, period, dimensions) holding exact counts and a bucket histogram, adds
``rollup_watermark`` (how far raw events are rolled up) and, on PostgreSQL, the
function that merges two histograms when a row is updated.

Revision ID: 0003
Revises: 0004
Create Date: 2026-11-26
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0004"
branch_labels = None
depends_on = None

Timestamp = sa.DateTime(timezone=True)
JsonDocument = sa.JSON().with_variant(JSONB(), "postgresql")
# Adds two {"bucket": count} histograms, dropping buckets whose counts cancel out.
MERGE_FUNCTION = """
CREATE FUNCTION perfbeacon_merge_histograms(a jsonb, b jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_object_agg(k, n), '{}'::jsonb)
    FROM (
        SELECT k, sum(v::bigint) AS n
        FROM (
            SELECT * FROM jsonb_each_text(a) UNION ALL SELECT * FROM jsonb_each_text(b)
        ) AS u(k, v)
        GROUP BY k
        HAVING sum(v::bigint) <> 0
    ) AS s
$$
"""
KEY = (
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
OLD_KEY = (
    "site_id",
    "metric",
    "grain",
    "period_start",
    "route",
    "device",
    "browser",
    "connection",
    "navigation_type",
    "country",
    "bucket",
)
# On SQLite the writer rolls every event up itself, so nothing is left for a roller.
END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


def _key_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.Column("metric", sa.String(8), nullable=False),
        sa.Column("level", sa.SmallInteger, nullable=False),
        sa.Column("grain", sa.Integer, nullable=False),
        sa.Column("period", sa.BigInteger, nullable=False),
        sa.Column("route", sa.String(512), nullable=False),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("browser", sa.String(64), nullable=False),
        sa.Column("connection", sa.String(16), nullable=False),
        sa.Column("navigation_type", sa.String(32), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
    ]


def upgrade() -> None:
    op.drop_table("rollups")
    op.create_table(
        "rollups",
        *_key_columns(),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.Column("good", sa.BigInteger, nullable=False),
        sa.Column("needs_improvement", sa.BigInteger, nullable=False),
        sa.Column("poor", sa.BigInteger, nullable=False),
        sa.Column("histogram", JsonDocument, nullable=False),
        sa.PrimaryKeyConstraint(*KEY, name="pk_rollups"),
    )
    watermark = op.create_table(
        "rollup_watermark",
        sa.Column("id", sa.SmallInteger, nullable=False),
        sa.Column("rolled_before", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollup_watermark"),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(MERGE_FUNCTION)
        # Events stored before this revision are rolled up by the roller from the oldest on.
        op.execute(
            "INSERT INTO rollup_watermark (id, rolled_before) "
            "SELECT 1, coalesce(min(ts), now()) FROM events"
        )
        _distribute_with_citus()
    else:
        op.bulk_insert(watermark, [{"id": 1, "rolled_before": END_OF_TIME}])


def downgrade() -> None:
    op.drop_table("rollup_watermark")
    op.drop_table("rollups")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION perfbeacon_merge_histograms(jsonb, jsonb)")
    op.create_table(
        "rollups",
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.Column("metric", sa.String(8), nullable=False),
        sa.Column("grain", sa.String(1), nullable=False),
        sa.Column("period_start", Timestamp, nullable=False),
        sa.Column("route", sa.String(512), nullable=False),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("browser", sa.String(64), nullable=False),
        sa.Column("connection", sa.String(16), nullable=False),
        sa.Column("navigation_type", sa.String(32), nullable=False),
        sa.Column("country", sa.String(2), nullable=False),
        sa.Column("bucket", sa.Integer, nullable=False),
        sa.Column("count", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint(*OLD_KEY, name="pk_rollups"),
    )


def _distribute_with_citus() -> None:
    """Shard the rollups on ``site_id`` beside the events; replicate the watermark."""
    bind = op.get_bind()
    has_citus = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'citus'"))
    if has_citus.scalar() is None:
        return
    op.execute("SELECT create_distributed_table('rollups', 'site_id', colocate_with => 'events')")
    op.execute("SELECT create_reference_table('rollup_watermark')")
