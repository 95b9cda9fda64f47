"""Sites, raw events (partitioned by day on PostgreSQL) and rollup histograms.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JsonDocument = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)

ROLLUP_KEY = (
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


def upgrade() -> None:
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("public_key", sa.String(64), nullable=False),
        sa.Column("read_token_hash", sa.String(64), nullable=False),
        sa.Column("origins", JsonDocument, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sites"),
        sa.UniqueConstraint("name", name="uq_sites_name"),
        sa.UniqueConstraint("public_key", name="uq_sites_public_key"),
    )
    op.create_table(
        "events",
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.Column("ts", Timestamp, nullable=False),
        sa.Column("metric", sa.String(8), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("delta", sa.Float, nullable=False),
        sa.Column("rating", sa.String(24), nullable=True),
        sa.Column("metric_id", sa.String(128), nullable=False),
        sa.Column("navigation_type", sa.String(32), nullable=False),
        sa.Column("page_path", sa.String(1024), nullable=False),
        sa.Column("route", sa.String(512), nullable=False),
        sa.Column("device", sa.String(16), nullable=False),
        sa.Column("browser", sa.String(64), nullable=False),
        sa.Column("os", sa.String(64), nullable=False),
        sa.Column("connection", sa.String(16), nullable=False),
        sa.Column("device_memory", sa.Float, nullable=True),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("attribution", JsonDocument, nullable=True),
        postgresql_partition_by="RANGE (ts)",
    )
    op.create_index("ix_events_site_id_metric_ts", "events", ["site_id", "metric", "ts"])
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
        sa.PrimaryKeyConstraint(*ROLLUP_KEY, name="pk_rollups"),
    )
    _distribute_with_citus()


def downgrade() -> None:
    op.drop_table("rollups")
    op.drop_index("ix_events_site_id_metric_ts", table_name="events")
    op.drop_table("events")
    op.drop_table("sites")


def _distribute_with_citus() -> None:
    """Spread per-site tables over Citus workers when the extension is installed.

    ``sites`` is small and read everywhere, so it is replicated to every node; raw
    events and rollups are sharded on ``site_id`` and co-located, which is why every
    key of theirs starts with ``site_id``.
    """
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    has_citus = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'citus'"))
    if has_citus.scalar() is None:
        return
    op.execute("SELECT create_reference_table('sites')")
    op.execute("SELECT create_distributed_table('events', 'site_id')")
    op.execute("SELECT create_distributed_table('rollups', 'site_id', colocate_with => 'events')")
