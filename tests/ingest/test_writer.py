"""The writer: group commit, re-reports as updates, batch hooks and after-commit listeners."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime

import httpx
import msgspec
import pytest
from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from collector.app import create_app
from collector.config import Settings
from collector.ingest.writer import EventWriter, Replacement, StorageUnavailable, WriterOverloaded
from collector.storage.partitions import ensure_partitions
from collector.storage.records import EventRecord
from tests.databases import postgres_engine
from tests.factories import make_event
from tests.ingest.conftest import stored

pytestmark = pytest.mark.citus


def new_writer(engine: AsyncEngine, **overrides: object) -> EventWriter:
    """A writer with test-friendly limits."""
    options: dict[str, object] = {
        "batch_window": 0.005,
        "max_queue": 1000,
        "max_batch": 500,
        "recent_capacity": 100,
    }
    options.update(overrides)
    return EventWriter(engine, **options)  # type: ignore[arg-type]


@pytest.fixture
async def writer(engine: AsyncEngine) -> AsyncIterator[EventWriter]:
    """A started writer on a database with today's partition."""
    async with engine.begin() as conn:
        await ensure_partitions(conn, first_day=datetime.now(UTC).date(), days=1)
    writer = new_writer(engine)
    await writer.start()
    yield writer
    await writer.stop()


class BatchLog:
    """A batch hook and listener that records what it was given."""

    def __init__(self) -> None:
        self.hooked: list[tuple[list[EventRecord], list[Replacement]]] = []
        self.committed: list[tuple[list[EventRecord], list[Replacement]]] = []

    async def hook(
        self,
        conn: AsyncConnection,
        inserted: Sequence[EventRecord],
        replaced: Sequence[Replacement],
    ) -> None:
        # Inside the batch's transaction: the rows are visible on this connection.
        count = (await conn.execute(text("SELECT count(*) FROM events"))).scalar_one()
        assert count >= len(inserted)
        self.hooked.append((list(inserted), list(replaced)))

    def listener(self, inserted: Sequence[EventRecord], replaced: Sequence[Replacement]) -> None:
        self.committed.append((list(inserted), list(replaced)))


async def test_concurrent_writes_share_one_transaction(
    engine: AsyncEngine, writer: EventWriter
) -> None:
    log = BatchLog()
    writer.add_batch_hook(log.hook)
    writer.add_listener(log.listener)
    beacons = [[make_event(), make_event()] for _ in range(20)]
    await asyncio.gather(*(writer.write(records) for records in beacons))
    assert len(log.hooked) < len(beacons)  # grouped, not one commit per beacon
    assert sum(len(inserted) for inserted, _ in log.hooked) == 40
    assert log.committed == log.hooked
    assert len(await stored(engine)) == 40


async def test_write_returns_only_after_commit(engine: AsyncEngine, writer: EventWriter) -> None:
    record = make_event()
    await writer.write([record])
    # A fresh connection sees the row: it was committed before write() returned.
    assert [r.metric_id for r in await stored(engine)] == [record.metric_id]


async def test_a_re_report_replaces_the_stored_value(
    engine: AsyncEngine, writer: EventWriter
) -> None:
    log = BatchLog()
    writer.add_batch_hook(log.hook)
    first = make_event(metric="CLS", value=0.05, delta=0.05, rating="good")
    await writer.write([first])
    again = msgspec.structs.replace(
        first, ts=datetime.now(UTC), value=0.31, delta=0.26, rating="poor", attribution=None
    )
    await writer.write([again])

    (row,) = await stored(engine)
    assert (row.value, row.delta, row.rating, row.attribution) == (0.31, 0.26, "poor", None)
    assert row.ts == first.ts  # the row keeps its place; only the value changes
    inserted, replaced = log.hooked[-1]
    assert inserted == []
    assert replaced == [(first, row)]


async def test_reports_of_one_metric_in_the_same_batch_make_one_row(
    engine: AsyncEngine, writer: EventWriter
) -> None:
    first = make_event(metric="INP", value=120.0, delta=120.0)
    later = msgspec.structs.replace(first, value=340.0, delta=220.0, rating="needs-improvement")
    await writer.write([first, later])
    (row,) = await stored(engine)
    assert (row.value, row.rating) == (340.0, "needs-improvement")


async def test_a_re_report_missing_from_the_cache_replaces_its_row_all_the_same(
    engine: AsyncEngine,
) -> None:
    # A cache of one entry forgets the first report; the database still knows its id.
    writer = new_writer(engine, recent_capacity=1)
    await writer.start()
    try:
        first = make_event(metric="CLS", value=0.05, delta=0.05)
        await writer.write([first])
        await writer.write([make_event()])  # evicts the CLS report
        await writer.write([msgspec.structs.replace(first, value=0.2, delta=0.15)])
    finally:
        await writer.stop()
    assert [r.value for r in await stored(engine) if r.metric == "CLS"] == [0.2]


async def test_a_re_report_to_another_writer_replaces_the_first_writers_row(
    engine: AsyncEngine,
) -> None:
    # Two processes (or collectors) on one database: each has its own memory of ids.
    first_writer, second_writer = new_writer(engine), new_writer(engine)
    await first_writer.start()
    await second_writer.start()
    try:
        first = make_event(metric="INP", value=120.0, delta=120.0)
        other_site = make_event(site_id=2, metric="CLS", value=0.01, delta=0.01)
        await first_writer.write([first, other_site])
        later = msgspec.structs.replace(first, value=480.0, delta=360.0, ts=datetime.now(UTC))
        shifted = msgspec.structs.replace(other_site, value=0.3, delta=0.29)
        await second_writer.write([later, shifted])
        # And back: the first writer's memory of the old value is not trusted either.
        latest = msgspec.structs.replace(first, value=520.0, delta=40.0, ts=datetime.now(UTC))
        await first_writer.write([latest])
    finally:
        await first_writer.stop()
        await second_writer.stop()
    rows = {(r.site_id, r.metric): (r.value, r.ts) for r in await stored(engine)}
    assert len(await stored(engine)) == 2
    assert rows == {(1, "INP"): (520.0, first.ts), (2, "CLS"): (0.3, other_site.ts)}


async def test_a_failing_hook_rolls_the_batch_back(
    engine: AsyncEngine, writer: EventWriter
) -> None:
    async def failing_hook(
        conn: AsyncConnection, inserted: Sequence[EventRecord], replaced: Sequence[Replacement]
    ) -> None:
        raise RuntimeError("rollup flush failed")

    writer.add_batch_hook(failing_hook)
    with pytest.raises(StorageUnavailable):
        await writer.write([make_event()])
    assert await stored(engine) == []


async def test_one_poisoned_beacon_does_not_fail_its_batch(
    engine: AsyncEngine, writer: EventWriter
) -> None:
    async def refuse_poison(
        conn: AsyncConnection, inserted: Sequence[EventRecord], replaced: Sequence[Replacement]
    ) -> None:
        if any(record.page_path == "/poison" for record in inserted):
            raise ValueError("poisoned record")

    writer.add_batch_hook(refuse_poison)
    good = [[make_event()] for _ in range(5)]
    results = await asyncio.gather(
        writer.write([make_event(page_path="/poison")]),
        *(writer.write(records) for records in good),
        return_exceptions=True,
    )
    assert isinstance(results[0], StorageUnavailable)
    assert results[1:] == [None] * 5
    assert sorted(r.metric_id for r in await stored(engine)) == sorted(
        records[0].metric_id for records in good
    )


async def test_a_hook_runs_only_in_the_batches_it_says_it_needs(
    engine: AsyncEngine, writer: EventWriter
) -> None:
    log = BatchLog()
    asked: list[list[str]] = []

    def only_cls(
        conn: AsyncConnection, inserted: Sequence[EventRecord], replaced: Sequence[Replacement]
    ) -> bool:
        asked.append([record.metric for record in inserted])
        return any(record.metric == "CLS" for record in inserted)

    writer.add_batch_hook(log.hook, needed=only_cls)
    await writer.write([make_event(metric="FCP")])
    await writer.write([make_event(metric="CLS", value=0.1, delta=0.1)])

    assert asked == [["FCP"], ["CLS"]]
    assert [[r.metric for r in inserted] for inserted, _ in log.hooked] == [["CLS"]]
    assert sorted(r.metric for r in await stored(engine)) == ["CLS", "FCP"]


async def test_first_reports_no_hook_needs_are_written_without_a_transaction(
    engine: AsyncEngine, writer: EventWriter
) -> None:
    begins: list[object] = []
    event.listen(engine.sync_engine, "begin", begins.append)

    def never(
        conn: AsyncConnection, inserted: Sequence[EventRecord], replaced: Sequence[Replacement]
    ) -> bool:
        return False

    writer.add_batch_hook(BatchLog().hook, needed=never)
    # FCP and TTFB: web-vitals reports them once per id, so no claim is needed.
    records = [
        make_event(metric="FCP", value=900.0, delta=900.0),
        make_event(metric="TTFB", value=200.0, delta=200.0),
    ]
    await writer.write(records)
    transactions = len(begins)

    # On PostgreSQL a lone COPY commits by itself: no BEGIN/COMMIT round trips.
    # SQLite's multi-row insert gets its own transaction.
    assert transactions == (0 if engine.dialect.name == "postgresql" else 1)
    assert sorted(r.metric_id for r in await stored(engine)) == sorted(r.metric_id for r in records)


async def test_a_failing_listener_does_not_fail_the_write(
    engine: AsyncEngine, writer: EventWriter
) -> None:
    def broken(inserted: Sequence[EventRecord], replaced: Sequence[Replacement]) -> None:
        raise RuntimeError("live feed is down")

    log = BatchLog()
    writer.add_listener(broken)
    writer.add_listener(log.listener)
    await writer.write([make_event()])
    assert len(log.committed) == 1
    writer.remove_listener(log.listener)
    await writer.write([make_event()])
    assert len(log.committed) == 1


async def test_a_full_queue_refuses_new_writes(engine: AsyncEngine) -> None:
    writer = new_writer(engine, max_queue=3)
    held, release = asyncio.Event(), asyncio.Event()

    async def slow_hook(
        conn: AsyncConnection, inserted: Sequence[EventRecord], replaced: Sequence[Replacement]
    ) -> None:
        held.set()
        await release.wait()

    writer.add_batch_hook(slow_hook)
    await writer.start()
    try:
        in_flight = asyncio.ensure_future(writer.write([make_event()]))
        # The first batch is now held in its transaction (bounded: a failure, not a hang).
        await asyncio.wait_for(held.wait(), timeout=30)
        queued = asyncio.ensure_future(writer.write([make_event(), make_event()]))
        await asyncio.sleep(0)
        assert writer.queued == 2
        with pytest.raises(WriterOverloaded):
            await writer.write([make_event(), make_event()])
        release.set()
        await asyncio.gather(in_flight, queued)
    finally:
        await writer.stop()
    assert len(await stored(engine)) == 3


async def test_stop_commits_what_is_queued_then_refuses(engine: AsyncEngine) -> None:
    writer = new_writer(engine, batch_window=0.05)
    await writer.start()
    pending = asyncio.ensure_future(writer.write([make_event()]))
    await asyncio.sleep(0)
    await writer.stop()
    await pending
    assert len(await stored(engine)) == 1
    with pytest.raises(StorageUnavailable):
        await writer.write([make_event()])


@pytest.mark.postgres_only
async def test_a_missing_partition_is_created_and_the_batch_retried() -> None:
    async with postgres_engine() as engine:  # migrated, but no partition is made for today
        writer = new_writer(engine)
        await writer.start()
        try:
            await writer.write([make_event()])
        finally:
            await writer.stop()
        assert len(await stored(engine)) == 1


async def test_ready_is_503_while_the_writer_is_saturated(
    settings: Settings, engine: AsyncEngine
) -> None:
    held, release = asyncio.Event(), asyncio.Event()

    async def hold(
        conn: AsyncConnection, inserted: Sequence[EventRecord], replaced: Sequence[Replacement]
    ) -> None:
        held.set()
        await release.wait()

    app = create_app(settings.model_copy(update={"ingest_queue_max_metrics": 100}))
    async with app.router.lifespan_context(app):
        writer: EventWriter = app.state.runtime.writer
        writer.add_batch_hook(hold)
        writes = [asyncio.ensure_future(writer.write([make_event()]))]
        # Held in its transaction (bounded: a failure, not a hang); the next ones queue up.
        await asyncio.wait_for(held.wait(), timeout=30)
        writes.append(asyncio.ensure_future(writer.write([make_event() for _ in range(95)])))
        await asyncio.sleep(0)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/ready")
        release.set()
        await asyncio.gather(*writes)
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "the event writer is saturated"
