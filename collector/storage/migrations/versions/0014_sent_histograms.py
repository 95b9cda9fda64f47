"""Keep each rollup histogram also as PostgreSQL sends it, for rows no longer rolled into.

Reads send packed histograms in ``array_send``'s binary layout, and PostgreSQL builds
that element by element: for a week of hourly site totals (33 k elements) or a week of
every page (68 k), that was most of the statement's time. Hourly and compacted
multi-day rows are written once or rarely after their period ends, so a stored copy of
their sent form, without ``array_send``'s header, costs the roller little; reads then
concatenate bytes. Daily rows, which the roller updates most, are left out.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# array_send is marked STABLE because it looks the element type's send function up;
# for int8[] that is int8send, which is IMMUTABLE, so the wrapper may say so.
SENT_FUNCTION = """
CREATE FUNCTION perfbeacon_sent_histogram(h int8[]) RETURNS bytea
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT substr(array_send(h), 21) $$
"""
DAY = 86400


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(SENT_FUNCTION)
    op.execute(
        "ALTER TABLE rollups ADD COLUMN histogram_sent bytea GENERATED ALWAYS AS "
        f"(CASE WHEN grain <> {DAY} THEN perfbeacon_sent_histogram(histogram) END) STORED"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE rollups DROP COLUMN histogram_sent")
    op.execute("DROP FUNCTION perfbeacon_sent_histogram(int8[])")
