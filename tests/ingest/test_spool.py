"""The spool: durable frames, torn tails, adoption of dead processes' files, exact replay."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import column, func, select, table
from sqlalchemy.ext.asyncio import AsyncEngine

from collector.ingest.spool import CREATING_SUFFIX, SUFFIX, Spool, SpoolFull
from collector.ingest.writer import BatchHook, EventWriter
from collector.query.levels import GRAINS, LEVELS
from collector.query.roller import catch_up
from collector.query.rollups import roll_up_batch
from collector.storage.db import create_engine
from collector.storage.partitions import ensure_partitions
from collector.storage.tables import rollups
from tests.databases import postgres_admin_url, postgres_engine
from tests.factories import make_event
from tests.ingest.conftest import stored
from tests.waiting import wait_until_async

pytestmark = pytest.mark.citus

pg_stat_activity = table("pg_stat_activity", column("pid"), column("application_name"))


def new_spool(directory: Path, max_bytes: int = 1 << 20) -> Spool:
    spool = Spool(directory, max_bytes=max_bytes)
    spool.open()
    return spool


def spooling_writer(engine: AsyncEngine, spool: Spool, hook: BatchHook) -> EventWriter:
    """A writer that commits one batch at a time, spools when it must, and runs ``hook``."""
    return EventWriter(
        engine,
        batch_window=0,
        max_queue=1000,
        max_batch=500,
        recent_capacity=100,
        batch_hooks=(hook,),
        spool=spool,
    )


async def spool_empty(spool: Spool) -> bool:
    """Whether everything spooled has been replayed."""
    return spool.empty


async def test_frames_come_back_in_order_and_the_file_empties(tmp_path: Path) -> None:
    spool = new_spool(tmp_path)
    first, second = [make_event(), make_event()], [make_event(metric="CLS", value=0.1)]
    await spool.append(first)
    await spool.append(second)
    frame = await spool.next_frame()
    assert frame is not None
    assert frame.records == first
    spool.consumed(frame)
    frame = await spool.next_frame()
    assert frame is not None
    assert frame.records == second
    spool.consumed(frame)
    assert spool.empty
    assert await spool.next_frame() is None
    spool.close()
    assert not any(name.endswith(SUFFIX) for name in os.listdir(tmp_path))


async def test_a_full_spool_refuses_and_keeps_what_it_has(tmp_path: Path) -> None:
    spool = new_spool(tmp_path, max_bytes=2048)
    kept = [make_event()]
    await spool.append(kept)
    with pytest.raises(SpoolFull):
        await spool.append([make_event() for _ in range(50)])
    frame = await spool.next_frame()
    assert frame is not None
    assert frame.records == kept
    spool.close()


async def test_a_dead_process_file_is_adopted_and_its_torn_tail_dropped(tmp_path: Path) -> None:
    dead = new_spool(tmp_path)
    records = [make_event(), make_event()]
    await dead.append(records)
    path = tmp_path / next(n for n in os.listdir(tmp_path) if n.endswith(SUFFIX))
    with path.open("ab") as file:
        file.write(b"PBS1\x40\x00\x00\x00torn")  # a crash in the middle of a write
    # Closing the descriptor is what a process's death does to its lock.
    assert dead._own is not None
    os.close(dead._own.fd)
    dead._own = None

    heir = new_spool(tmp_path)
    frame = await heir.next_frame()
    assert frame is not None
    assert frame.records == records
    heir.consumed(frame)
    assert await heir.next_frame() is None
    assert heir.empty
    assert not path.exists()
    heir.close()


async def test_new_files_are_named_only_once_locked_and_leftovers_are_cleared(
    tmp_path: Path,
) -> None:
    # A process that died between creating and naming its file left this behind.
    (tmp_path / f".{'0' * 32}{CREATING_SUFFIX}").write_bytes(b"")
    spool = new_spool(tmp_path)
    names = os.listdir(tmp_path)
    assert len(names) == 1
    assert names[0].endswith(SUFFIX)
    assert not names[0].startswith(".")
    spool.close()


async def test_a_live_process_file_is_left_alone(tmp_path: Path) -> None:
    alive = new_spool(tmp_path)
    await alive.append([make_event()])
    other = new_spool(tmp_path)
    assert other.empty
    assert await other.next_frame() is None
    other.close()
    assert not alive.empty
    alive.close()


async def _rollup_count(engine: AsyncEngine, metric: str) -> int:
    query = select(func.coalesce(func.sum(rollups.c.count), 0)).where(
        rollups.c.metric == metric, rollups.c.level == LEVELS[0], rollups.c.grain == GRAINS[0]
    )
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_replay_stores_each_report_once_even_if_its_batch_did_commit(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A batch whose commit was acknowledged by the database after the connection broke
    is spooled as well; replaying it must not add rows nor count it twice in rollups."""
    async with engine.begin() as conn:
        await ensure_partitions(conn, first_day=datetime.now(UTC).date(), days=1)
    cls = make_event(metric="CLS", value=0.05, delta=0.05)
    committed = [make_event(), make_event(metric="FCP", value=900.0), cls]
    spool = new_spool(tmp_path)
    writer = spooling_writer(engine, spool, roll_up_batch)
    await writer.start()
    await writer.write(committed)
    later = make_event(ts=datetime.now(UTC))
    re_report = make_event(
        metric="CLS",
        value=0.3,
        delta=0.25,
        metric_id=cls.metric_id,
        ts=cls.ts + timedelta(seconds=1),
    )
    await spool.append(committed)  # the ambiguous batch, spooled as well
    await spool.append([later, re_report])
    await writer.stop(timeout=30)  # replays the spool before it ends
    assert spool.empty
    spool.close()

    rows = await stored(engine)
    keys = [(r.metric, r.metric_id) for r in rows]
    assert sorted(keys) == sorted({(r.metric, r.metric_id) for r in [*committed, later, re_report]})
    assert next(r.value for r in rows if r.metric_id == cls.metric_id) == 0.3
    # Every write is done: roll up to now, without the lag kept for live writers.
    await catch_up(engine, until=datetime.now(UTC) + timedelta(days=2), lag=timedelta(0))
    assert await _rollup_count(engine, "LCP") == 2
    assert await _rollup_count(engine, "FCP") == 1
    assert await _rollup_count(engine, "CLS") == 1


async def test_a_replayed_re_report_replaces_the_row_another_process_stored(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    async def no_hook(*_args: object) -> None:
        return None

    first = make_event(metric="CLS", value=0.05, delta=0.05)
    other = spooling_writer(engine, new_spool(tmp_path / "other"), no_hook)
    await other.start()
    await other.write([first])
    await other.stop()
    # This process spooled the re-report while its database was away; it never saw the
    # first report, which another process stored.
    spool = new_spool(tmp_path / "ours")
    later = datetime.now(UTC) + timedelta(seconds=1)  # a re-report is stamped on arrival
    await spool.append([msgspec.structs.replace(first, value=0.2, delta=0.15, ts=later)])
    writer = spooling_writer(engine, spool, no_hook)
    await writer.start()
    await wait_until_async(lambda: spool_empty(spool), within=10)
    await writer.stop(timeout=30)
    spool.close()

    assert [(r.value, r.ts) for r in await stored(engine)] == [(0.2, first.ts)]


async def test_a_file_adopted_after_a_crash_resumes_where_its_replay_committed(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A process replays a spooled re-report (it replaces the first report's row) and dies
    before it can tell: the process adopting the file must not replay it again, which,
    not knowing the first report, would store the re-report as a second row."""
    async with engine.begin() as conn:
        await ensure_partitions(conn, first_day=datetime.now(UTC).date(), days=1)
    first = make_event(metric="CLS", value=0.05, delta=0.05)
    again = make_event(
        metric="CLS", value=0.3, delta=0.25, metric_id=first.metric_id,
        ts=first.ts + timedelta(seconds=5),
    )  # fmt: skip
    spool = new_spool(tmp_path)
    writer = spooling_writer(engine, spool, roll_up_batch)
    await writer.start()
    await writer.write([first])
    await spool.append([again])  # spooled during an outage
    path = next(tmp_path / name for name in os.listdir(tmp_path) if name.endswith(SUFFIX))
    unreplayed = path.read_bytes()
    await writer.stop(timeout=30)  # replays it: the row of ``first`` now holds 0.3
    spool.close()
    assert not path.exists()
    # The state a crash right after the replay's commit leaves: the file as it was.
    path.write_bytes(unreplayed)

    adopting = new_spool(tmp_path)
    writer = spooling_writer(engine, adopting, roll_up_batch)
    await writer.start()
    await writer.stop(timeout=30)
    assert adopting.empty
    adopting.close()

    rows = [row for row in await stored(engine) if row.metric_id == first.metric_id]
    assert [(row.value, row.ts) for row in rows] == [(0.3, first.ts)]
    await catch_up(engine, until=datetime.now(UTC) + timedelta(days=2), lag=timedelta(0))
    assert await _rollup_count(engine, "CLS") == 1


async def test_an_unreachable_database_spools_and_acknowledges(tmp_path: Path) -> None:
    # Nothing listens on port 1: every connection attempt is refused at once.
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none")
    spool = new_spool(tmp_path)
    writer = EventWriter(
        engine, batch_window=0, max_queue=1000, max_batch=500, recent_capacity=10, spool=spool
    )
    await writer.start()
    beacons = [[make_event(), make_event()] for _ in range(10)]
    async with asyncio.timeout(10):
        await asyncio.gather(*(writer.write(records) for records in beacons))
    assert not writer.database_reachable
    assert writer.spooled_bytes > 0
    await writer.stop(timeout=1)
    spooled = []
    while (frame := await spool.next_frame()) is not None:
        spooled.extend(frame.records)
        spool.consumed(frame)
    assert sorted(r.metric_id for r in spooled) == sorted(
        r.metric_id for records in beacons for r in records
    )
    spool.close()
    await engine.dispose()


async def test_a_passing_error_during_replay_keeps_the_frame_for_a_retry(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A deadlock, a timeout or a read-only failover is not bad data: the acknowledged
    reports stay in the spool and are stored on the next try, never set aside."""
    async with engine.begin() as conn:
        await ensure_partitions(conn, first_day=datetime.now(UTC).date(), days=1)
    failures = [RuntimeError("deadlock detected")]

    async def fails_once(*_args: object) -> None:
        if failures:
            raise failures.pop()

    spool = new_spool(tmp_path)
    spooled = [make_event(), make_event(metric="FCP", value=900.0)]
    await spool.append(spooled)
    writer = spooling_writer(engine, spool, fails_once)
    await writer.start()
    # Replays, fails once, backs off (≤ 0.1 s), replays again.
    await wait_until_async(lambda: spool_empty(spool), within=10)
    await writer.stop(timeout=30)

    assert not failures
    assert spool.empty
    spool.close()
    assert not [path for path in os.listdir(tmp_path) if path.endswith(".unwritable")]
    assert sorted(r.metric_id for r in await stored(engine)) == sorted(r.metric_id for r in spooled)


async def test_a_database_that_stops_answering_gets_the_batch_spooled_in_time(
    tmp_path: Path,
) -> None:
    """A backend frozen mid-connection (SIGSTOP: the socket stays open, nothing answers)
    must not hold beacons until TCP gives up: past the commit timeout the connection is
    cut, the batch spooled and acknowledged, and replayed once the database answers."""
    name = f"perfbeacon-writer-{uuid.uuid4().hex[:8]}"
    async with postgres_engine(application_name=name) as engine:
        async with engine.begin() as conn:
            await ensure_partitions(conn, first_day=datetime.now(UTC).date(), days=1)
        spool = new_spool(tmp_path)
        writer = EventWriter(
            engine, batch_window=0, max_queue=1000, max_batch=500, recent_capacity=10,
            spool=spool, commit_timeout=1.0,
        )  # fmt: skip
        await writer.start()
        first, frozen = [make_event()], [make_event(), make_event(metric="FCP", value=900.0)]
        await writer.write(first)
        pids = await _backend_pids(name)
        await engine.dispose()  # the writer keeps its own connection; the pool holds no other
        assert len(pids) == 1
        os.kill(pids[0], signal.SIGSTOP)
        try:
            async with asyncio.timeout(10):
                await writer.write(frozen)
            assert writer.spooled_bytes > 0
            assert not writer.database_reachable
        finally:
            os.kill(pids[0], signal.SIGCONT)
        # Replays after its backoff, on a new connection.
        await wait_until_async(lambda: spool_empty(spool), within=10)
        await writer.stop(timeout=30)
        spool.close()
        rows = await stored(engine)
    assert sorted(r.metric_id for r in rows) == sorted(r.metric_id for r in [*first, *frozen])


async def _backend_pids(application_name: str) -> list[int]:
    """The server processes of the connections that call themselves ``application_name``."""
    observer = create_engine(postgres_admin_url())
    async with observer.connect() as conn:
        rows = await conn.execute(
            select(pg_stat_activity.c.pid).where(
                pg_stat_activity.c.application_name == application_name
            )
        )
        pids = [row.pid for row in rows]
    await observer.dispose()
    return pids
