"""Per-site ingest policy: a rate limit overriding the setting, and kept query parameters.

Revision ID: 0011
Revises: 0008
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns with no default: adding them rewrites nothing on either dialect.
    op.add_column("sites", sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True))
    op.add_column(
        "sites",
        sa.Column(
            "kept_query_params", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=True
        ),
    )


def downgrade() -> None:
    with op.batch_alter_table("sites") as batch:
        batch.drop_column("kept_query_params")
        batch.drop_column("rate_limit_per_minute")
