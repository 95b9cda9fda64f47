"""Budgets: Lighthouse CI projects, builds, runs (summaries hot, full LHRs compressed),
statistics, budget check reports and per-site budget configurations.

These tables hold kilobytes per CI build and are addressed the way the Lighthouse CI
API addresses them (project id, build token), not by site. On Citus they are not
sharded: they stay on the coordinator as Citus-managed local tables, which can still
reference and join the ``sites`` reference table.

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

JsonDocument = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "budget_projects",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("site_id", sa.Integer, nullable=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("slug", sa.String(40), nullable=False),
        sa.Column("external_url", sa.String(256), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("base_branch", sa.String(80), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_budget_projects"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_budget_projects_site_id_sites", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("slug", name="uq_budget_projects_slug"),
        sa.UniqueConstraint("token_hash", name="uq_budget_projects_token_hash"),
    )
    op.create_index("ix_budget_projects_site_id", "budget_projects", ["site_id"])
    op.create_table(
        "budget_builds",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("lifecycle", sa.String(16), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("branch", sa.String(256), nullable=False),
        sa.Column("ancestor_hash", sa.String(64), nullable=True),
        sa.Column("commit_message", sa.String(1024), nullable=True),
        sa.Column("author", sa.String(256), nullable=True),
        sa.Column("avatar_url", sa.String(512), nullable=True),
        sa.Column("external_build_url", sa.String(512), nullable=True),
        sa.Column("run_at", Timestamp, nullable=False),
        sa.Column("committed_at", Timestamp, nullable=True),
        sa.Column("ancestor_committed_at", Timestamp, nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_budget_builds"),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["budget_projects.id"],
            name="fk_budget_builds_project_id_budget_projects",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "project_id", "branch", "hash", name="uq_budget_builds_project_id_branch_hash"
        ),
    )
    op.create_index(
        "ix_budget_builds_project_id_branch_run_at",
        "budget_builds",
        ["project_id", "branch", "run_at"],
    )
    op.create_index("ix_budget_builds_run_at", "budget_builds", ["run_at"])
    op.create_table(
        "budget_runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("build_id", sa.String(36), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("representative", sa.Boolean, nullable=False),
        sa.Column("summary", JsonDocument, nullable=False),
        sa.Column("lhr_bytes", sa.Integer, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_budget_runs"),
        sa.ForeignKeyConstraint(
            ["build_id"],
            ["budget_builds.id"],
            name="fk_budget_runs_build_id_budget_builds",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_budget_runs_build_id", "budget_runs", ["build_id"])
    op.create_table(
        "budget_lhrs",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("lhr_gzip", sa.LargeBinary, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_budget_lhrs"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["budget_runs.id"],
            name="fk_budget_lhrs_run_id_budget_runs",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_budget_lhrs_created_at", "budget_lhrs", ["created_at"])
    op.create_table(
        "budget_statistics",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("build_id", sa.String(36), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_budget_statistics"),
        sa.ForeignKeyConstraint(
            ["build_id"],
            ["budget_builds.id"],
            name="fk_budget_statistics_build_id_budget_builds",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "build_id", "url", "name", name="uq_budget_statistics_build_id_url_name"
        ),
    )
    op.create_table(
        "budget_checks",
        sa.Column("build_id", sa.String(36), nullable=False),
        sa.Column("project_id", sa.String(36), nullable=False),
        sa.Column("verdict", sa.String(8), nullable=False),
        sa.Column("baseline_build_id", sa.String(36), nullable=True),
        sa.Column("report", JsonDocument, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("build_id", name="pk_budget_checks"),
        sa.ForeignKeyConstraint(
            ["build_id"],
            ["budget_builds.id"],
            name="fk_budget_checks_build_id_budget_builds",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_budget_checks_project_id_created_at", "budget_checks", ["project_id", "created_at"]
    )
    op.create_table(
        "budget_configs",
        sa.Column("site_id", sa.Integer, nullable=False),
        sa.Column("config", JsonDocument, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("site_id", name="pk_budget_configs"),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name="fk_budget_configs_site_id_sites", ondelete="CASCADE"
        ),
    )
    _add_to_citus_metadata()


BUDGET_TABLES = (
    "budget_projects",
    "budget_builds",
    "budget_runs",
    "budget_lhrs",
    "budget_statistics",
    "budget_checks",
    "budget_configs",
)


def _add_to_citus_metadata() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    has_citus = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'citus'"))
    if has_citus.scalar() is None:
        return
    for table in BUDGET_TABLES:
        op.execute(
            f"SELECT citus_add_local_table_to_metadata('{table}', cascade_via_foreign_keys => true)"
        )


def downgrade() -> None:
    op.drop_table("budget_configs")
    op.drop_index("ix_budget_checks_project_id_created_at", table_name="budget_checks")
    op.drop_table("budget_checks")
    op.drop_table("budget_statistics")
    op.drop_index("ix_budget_lhrs_created_at", table_name="budget_lhrs")
    op.drop_table("budget_lhrs")
    op.drop_index("ix_budget_runs_build_id", table_name="budget_runs")
    op.drop_table("budget_runs")
    op.drop_index("ix_budget_builds_run_at", table_name="budget_builds")
    op.drop_index("ix_budget_builds_project_id_branch_run_at", table_name="budget_builds")
    op.drop_table("budget_builds")
    op.drop_index("ix_budget_projects_site_id", table_name="budget_projects")
    op.drop_table("budget_projects")
