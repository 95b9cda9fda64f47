"""Rollup histograms as packed ``int8[]`` on PostgreSQL instead of ``jsonb``.

A read turned every bucket of every ``jsonb`` histogram into text in PostgreSQL and
parsed it back in Python; most of a week-long breakdown's time went there. An array of
integers, one per bucket (``bucket · 2^40 + count``, see ``collector/query/packed.py``),
leaves PostgreSQL in binary (``array_send``) and is read with ``numpy.frombuffer``; it
also stays under the size PostgreSQL compresses and moves out of line. The roller and
the writer merge arrays in SQL as they merged ``jsonb``. SQLite keeps its JSON text.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26
"""

from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# bucket = (entry + 2^39) >> 40 and count = entry - (bucket << 40): the count is signed
# (a removal is a negative count until it meets its addition). 2^39 = 549755813888.

PACKED_MERGE = """
CREATE FUNCTION perfbeacon_merge_histograms(a int8[], b int8[]) RETURNS int8[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg((k << 40) + n ORDER BY k), '{}')
    FROM (
        SELECT k, sum(e - (k << 40))::int8 AS n
        FROM unnest(a || b) AS e, LATERAL (SELECT (e + 549755813888) >> 40 AS k) AS d
        GROUP BY k
    ) AS s
    WHERE n <> 0
$$
"""
PACKED_SUM = """
CREATE AGGREGATE perfbeacon_sum_histograms(int8[]) (
    SFUNC = perfbeacon_merge_histograms, STYPE = int8[], INITCOND = '{}'
)
"""
JSONB_TO_PACKED = """
CREATE FUNCTION perfbeacon_packed_of_jsonb(h jsonb) RETURNS int8[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg((key::int8 << 40) + value::int8 ORDER BY key::int8), '{}')
    FROM jsonb_each_text(h)
$$
"""
PACKED_TO_JSONB = """
CREATE FUNCTION perfbeacon_jsonb_of_packed(h int8[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(k::text, e - (k << 40)), '{}'::jsonb)
    FROM unnest(h) AS e, LATERAL (SELECT (e + 549755813888) >> 40 AS k) AS d
$$
"""
JSONB_MERGE = """
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


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(JSONB_TO_PACKED)
    op.execute(
        "ALTER TABLE rollups ALTER COLUMN histogram TYPE int8[] "
        "USING perfbeacon_packed_of_jsonb(histogram)"
    )
    op.execute("DROP FUNCTION perfbeacon_packed_of_jsonb(jsonb)")
    op.execute("DROP FUNCTION perfbeacon_merge_histograms(jsonb, jsonb)")
    op.execute(PACKED_MERGE)
    op.execute(PACKED_SUM)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP AGGREGATE perfbeacon_sum_histograms(int8[])")
    op.execute("DROP FUNCTION perfbeacon_merge_histograms(int8[], int8[])")
    op.execute(PACKED_TO_JSONB)
    op.execute(
        "ALTER TABLE rollups ALTER COLUMN histogram TYPE jsonb "
        "USING perfbeacon_jsonb_of_packed(histogram)"
    )
    op.execute("DROP FUNCTION perfbeacon_jsonb_of_packed(int8[])")
    op.execute(JSONB_MERGE)
