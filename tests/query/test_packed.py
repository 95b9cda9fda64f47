"""Packed histograms: the encoding round-trips, and PostgreSQL's copy survives migrations."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from collector.query.packed import (
    HALF,
    MAX_BUCKET,
    SENT_HEADER,
    entries_of,
    literal_of,
    pack,
    unpack,
)
from collector.storage.migrate import downgrade, upgrade
from tests.databases import postgres_engine

buckets = st.integers(-MAX_BUCKET + 1, MAX_BUCKET - 1)
counts = st.integers(-HALF, HALF - 1)


@given(st.lists(st.tuples(buckets, counts), max_size=50))
def test_entries_unpack_to_their_buckets_and_signed_counts(pairs: list[tuple[int, int]]) -> None:
    entries = np.array([pack(bucket, count) for bucket, count in pairs], np.int64)
    found_buckets, found_counts = unpack(entries)
    assert list(zip(found_buckets.tolist(), found_counts.tolist(), strict=True)) == pairs


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(ValueError, match="out of the packed range"):
        pack(MAX_BUCKET, 1)
    with pytest.raises(ValueError, match="out of the packed range"):
        pack(1, HALF)


def test_a_literal_orders_buckets_and_leaves_zeros_out() -> None:
    assert literal_of({7: 2, 3: 0, 1: -1}) == f"{{{pack(1, -1)},{pack(7, 2)}}}"
    assert literal_of({}) == "{}"


def packed(histogram: dict[int, int]) -> list[int]:
    return [pack(bucket, n) for bucket, n in sorted(histogram.items())]


HISTOGRAM = {0: 5, 1: 1, 212: 7, 1900: -2}
ROW = (
    "INSERT INTO rollups (site_id, metric, level, grain, period, route, device, browser, "
    "connection, navigation_type, country, count, good, needs_improvement, poor, histogram) "
    "VALUES (1, 'LCP', 0, 3600, 0, '*', '*', '*', '*', '*', '*', 11, 11, 0, 0, "
)


async def test_postgres_histograms_survive_the_migration_both_ways() -> None:
    async with postgres_engine("0012") as engine:
        async with engine.begin() as conn:
            as_json = json.dumps({str(b): n for b, n in HISTOGRAM.items()})
            await conn.execute(text(ROW + "CAST(:h AS jsonb))"), {"h": as_json})
        await upgrade(engine)
        async with engine.connect() as conn:
            query = f"SELECT substr(array_send(histogram), {SENT_HEADER + 1}) FROM rollups"
            sent = (await conn.execute(text(query))).scalar_one()
        entries, sizes = entries_of([sent, sent[: 2 * 12]])
        assert sizes.tolist() == [len(HISTOGRAM), 2]
        buckets, counts = unpack(entries[: len(HISTOGRAM)])
        assert dict(zip(buckets.tolist(), counts.tolist(), strict=True)) == HISTOGRAM

        await downgrade(engine, "0012")
        async with engine.connect() as conn:
            back = (await conn.execute(text("SELECT histogram FROM rollups"))).scalar_one()
        assert {int(b): n for b, n in back.items()} == HISTOGRAM


async def test_postgres_merges_add_bucket_by_bucket_and_drop_what_cancels() -> None:
    async with postgres_engine() as engine:
        merge = "SELECT perfbeacon_merge_histograms(:a, :b)"
        total = (
            "SELECT perfbeacon_sum_histograms(h) "
            "FROM (VALUES (CAST(:a AS int8[])), (:b), (:c)) AS u(h)"
        )
        async with engine.connect() as conn:
            merged = await conn.scalar(
                text(merge),
                {"a": packed({1: 2, 5: 3, 9: 1}), "b": packed({5: -3, 9: 4, 12: 1})},
            )
            summed = await conn.scalar(
                text(total),
                {"a": packed({1: 1}), "b": packed({1: 2, 3: 1}), "c": packed({3: -1})},
            )
        assert merged == [pack(1, 2), pack(9, 5), pack(12, 1)]
        assert summed == [pack(1, 3)]


async def test_postgres_keeps_hourly_and_multi_day_histograms_sent_as_they_change() -> None:
    sent_of = f"substr(array_send(histogram), {SENT_HEADER + 1})"
    check = (
        f"SELECT grain, histogram_sent, {sent_of} AS computed FROM rollups ORDER BY grain, period"
    )
    async with postgres_engine("0013") as engine:
        async with engine.begin() as conn:
            for grain in (3600, 86400, 172800):
                row = ROW.replace("3600, 0,", f"{grain}, 0,")
                await conn.execute(text(row + ":h)"), {"h": packed(HISTOGRAM)})
        await upgrade(engine)
        async with engine.begin() as conn:
            before = (await conn.execute(text(check))).all()
            await conn.execute(
                text("UPDATE rollups SET histogram = perfbeacon_merge_histograms(histogram, :h)"),
                {"h": packed({1: 2, 5000: 1})},
            )
            after = (await conn.execute(text(check))).all()
        # Existing rows are filled in by the migration; daily rows are left out.
        assert [(grain, sent is None) for grain, sent, _ in before] == [
            (3600, False),
            (86400, True),
            (172800, False),
        ]
        for rows in (before, after):
            assert all(sent in (None, computed) for _, sent, computed in rows)
        entries, _ = entries_of([after[0].histogram_sent])
        buckets, counts = unpack(entries)
        assert dict(zip(buckets.tolist(), counts.tolist(), strict=True)) == {
            **HISTOGRAM,
            1: 3,
            5000: 1,
        }

        await downgrade(engine, "0013")
        async with engine.connect() as conn:
            columns = await conn.scalar(
                text(
                    "SELECT count(*) FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND table_name = 'rollups' "
                    "AND column_name = 'histogram_sent'"
                )
            )
        assert columns == 0
