"""Field regressions: the daily check's runs and the worsenings it flagged.

Revision ID: 0009
Revises: 0006
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "field_regression_checks",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("flagged", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name="fk_field_regression_checks_site_id_sites",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "day", name="pk_field_regression_checks"),
    )
    op.create_table(
        "field_regressions",
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(10), nullable=False),
        sa.Column("metric", sa.String(8), nullable=False),
        sa.Column("route", sa.String(512), nullable=False),
        sa.Column("previous_p75", sa.Float(), nullable=False),
        sa.Column("current_p75", sa.Float(), nullable=False),
        sa.Column("relative_change", sa.Float(), nullable=False),
        sa.Column("previous_count", sa.BigInteger(), nullable=False),
        sa.Column("current_count", sa.BigInteger(), nullable=False),
        sa.Column("share_above", sa.Float(), nullable=False),
        sa.Column("p_value", sa.Float(), nullable=False),
        sa.Column("window_days", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["sites.id"],
            name="fk_field_regressions_site_id_sites",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("site_id", "day", "metric", "route", name="pk_field_regressions"),
    )


def downgrade() -> None:
    op.drop_table("field_regressions")
    op.drop_table("field_regression_checks")
