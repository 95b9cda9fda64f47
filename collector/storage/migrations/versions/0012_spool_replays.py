"""Spool replay progress, committed with the replayed rows.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "spool_replays",
        sa.Column("spool_file", sa.String(64), primary_key=True),
        sa.Column("replayed_to", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("spool_replays")
