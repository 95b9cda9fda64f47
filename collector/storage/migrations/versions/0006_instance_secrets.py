"""Instance secrets: keys generated once per installation and shared by every process.

The dashboard signs its session cookies with one; keeping it in the database lets
every worker and every restart verify the same cookies without any setting.

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_secrets",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_instance_secrets"),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        has_citus = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'citus'"))
        if has_citus.scalar() is not None:
            op.execute("SELECT create_reference_table('instance_secrets')")


def downgrade() -> None:
    op.drop_table("instance_secrets")
