"""Admin tokens stored hashed, besides the ``PERFBEACON_ADMIN_TOKEN`` setting.

They can be created and revoked while the collector runs, so an admin token is
rotated without a restart.

Revision ID: 0008
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "admin_tokens",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_admin_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_admin_tokens_token_hash"),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        has_citus = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'citus'"))
        if has_citus.scalar() is not None:
            op.execute("SELECT create_reference_table('admin_tokens')")


def downgrade() -> None:
    op.drop_table("admin_tokens")
