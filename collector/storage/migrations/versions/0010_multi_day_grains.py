"""Multi-day rollup grains: 2, 4, 8 and 16 days, built from the day rows already stored.

Long windows then read a few coarse rows per key instead of one per day. From this
revision on the roller compacts each period once the watermark passes its end, and
the writer keeps the compacted ones exact (on SQLite, where the watermark is at the
end of time, all of them); this fills them in for the data rolled up before.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DAY = 86400
MULTI_DAY_GRAINS = (2 * DAY, 4 * DAY, 8 * DAY, 16 * DAY)
DIMENSIONS = ("route", "device", "browser", "connection", "navigation_type", "country")
_DIMS = ", ".join(DIMENSIONS)
_COLUMNS = (
    f"site_id, metric, level, grain, period, {_DIMS}, "
    "count, good, needs_improvement, poor, histogram"
)
_COUNTS = "sum(count), sum(good), sum(needs_improvement), sum(poor)"

# The histograms of a group are summed bucket by bucket (an aggregate over the outer rows).
POSTGRES_FILL = f"""
INSERT INTO rollups ({_COLUMNS})
SELECT site_id, metric, level, g.grain, period - period % g.grain, {_DIMS}, {_COUNTS},
       (SELECT coalesce(jsonb_object_agg(b.key, b.n), '{{}}'::jsonb)
        FROM (SELECT h.key, sum(h.value::bigint) AS n
              FROM unnest(array_agg(histogram)) AS u(doc), jsonb_each_text(u.doc) AS h
              GROUP BY h.key) AS b)
FROM rollups CROSS JOIN (VALUES {", ".join(f"({grain})" for grain in MULTI_DAY_GRAINS)}) AS g(grain)
WHERE rollups.grain = {DAY} AND period - period % g.grain + g.grain <= :complete_before
GROUP BY site_id, metric, level, g.grain, period - period % g.grain, {_DIMS}
"""  # noqa: S608

_SAME_KEY = " AND ".join(
    f"d.{column} = r.{column}" for column in ("site_id", "metric", "level", *DIMENSIONS)
)
SQLITE_FILL = f"""
INSERT INTO rollups ({_COLUMNS})
SELECT site_id, metric, level, :grain, period - period % :grain, {_DIMS}, {_COUNTS},
       (SELECT coalesce(json_group_object(key, n), '{{}}')
        FROM (SELECT j.key AS key, sum(j.value) AS n
              FROM rollups AS d, json_each(d.histogram) AS j
              WHERE {_SAME_KEY} AND d.grain = {DAY}
                AND d.period >= r.period - r.period % :grain
                AND d.period < r.period - r.period % :grain + :grain
              GROUP BY j.key))
FROM rollups AS r
WHERE r.grain = {DAY}
GROUP BY site_id, metric, level, period - period % :grain, {_DIMS}
"""  # noqa: S608


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # Only periods the watermark has passed: the roller compacts the others later.
        watermark = bind.execute(
            sa.text("SELECT floor(extract(epoch FROM rolled_before))::bigint FROM rollup_watermark")
        ).scalar_one()
        bind.execute(sa.text(POSTGRES_FILL), {"complete_before": watermark})
        return
    for grain in MULTI_DAY_GRAINS:
        bind.execute(sa.text(SQLITE_FILL), {"grain": grain})


def downgrade() -> None:
    op.execute(f"DELETE FROM rollups WHERE grain > {DAY}")  # noqa: S608
