"""The metric ids with a stored row, so every process counts a page view once.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_ids",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(8), nullable=False),
        sa.Column("metric_id", sa.String(128), nullable=False),
        sa.Column("ts", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("site_id", "metric", "metric_id"),
    )
    op.create_index("ix_metric_ids_ts", "metric_ids", ["ts"])
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    has_citus = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'citus'"))
    if has_citus.scalar() is not None:
        op.execute(
            "SELECT create_distributed_table('metric_ids', 'site_id', colocate_with => 'events')"
        )


def downgrade() -> None:
    op.drop_table("metric_ids")
