"""The local spool: batches the database could not take, kept on disk until replayed.

When a batch cannot commit because the database is unreachable, the writer appends
its records here and acknowledges the beacons only once the frame is fsync'd. A
frame is ``magic, length, crc32`` then the records as msgpack; a frame torn by a
crash fails its check and is dropped (it was never acknowledged). Each process
appends to its own file, held under an exclusive ``flock``; a file nobody holds a
lock on belongs to a process that died, and the next spool to open adopts it and
replays it first.

>>> spool = Spool(Path("/var/lib/perfbeacon/spool"), max_bytes=256 << 20)
>>> spool.open()
>>> await spool.append(records)          # durable when it returns
>>> frame = await spool.next_frame()     # the oldest frame not yet replayed
>>> spool.consumed(frame)                # after the frame's records committed
>>> spool.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import struct
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec
import structlog

from collector.errors import Unavailable
from collector.storage.records import EventRecord

SUFFIX = ".spool"
SET_ASIDE_SUFFIX = ".unwritable"
CREATING_SUFFIX = ".creating"
_MAGIC = b"PBS1"
_HEADER = struct.Struct("<4sII")
_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(list[EventRecord]).decode

logger = structlog.get_logger(__name__)


class SpoolFull(Unavailable):
    """The database is unreachable and the spool has no room left; nothing was accepted."""

    code = "spool_full"
    retry_after = 10


@dataclass(frozen=True, slots=True)
class Frame:
    """One spooled batch, and where it sits."""

    records: list[EventRecord]
    path: Path
    start: int
    end: int
    raw: bytes


class _File:
    """A spool file this process holds the lock on, and how far it was replayed."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.replayed = 0

    @property
    def size(self) -> int:
        return os.fstat(self.fd).st_size


class Spool:
    """Append-only, CRC-framed, fsync'd batches in files under ``directory``."""

    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._own: _File | None = None
        # Files of processes that died, oldest first; replayed before this process's own.
        self._adopted: list[_File] = []
        # Names of files replayed to their end and removed, until ``take_removed``.
        self._removed: list[str] = []

    def open(self) -> None:
        """Create this process's file and adopt the files no live process holds."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in self.directory.glob(f".*{CREATING_SUFFIX}"):
            # Left by a process that died before naming its new file: empty, unused.
            abandoned = _try_lock(path)
            if abandoned is not None:
                self._remove(abandoned)
        self._removed.clear()
        for path in sorted(self.directory.glob(f"*{SUFFIX}"), key=_mtime):
            adopted = _try_lock(path)
            if adopted is not None:
                self._adopted.append(adopted)
        self._own = self._new_file()
        if self._adopted:
            logger.warning(
                "spool_adopted",
                files=len(self._adopted),
                bytes=sum(f.size - f.replayed for f in self._adopted),
            )

    def close(self) -> None:
        """Release the files; a file with nothing left to replay is removed."""
        for file in [*self._adopted, *([self._own] if self._own else [])]:
            if file.replayed >= file.size:
                with contextlib.suppress(OSError):
                    file.path.unlink()
            os.close(file.fd)  # closing the descriptor releases the lock
        self._adopted, self._own = [], None

    @property
    def pending_bytes(self) -> int:
        """Bytes spooled and not yet replayed."""
        return sum(file.size - file.replayed for file in self._files())

    @property
    def empty(self) -> bool:
        """Nothing waits for replay."""
        return self.pending_bytes == 0

    async def append(self, records: Sequence[EventRecord]) -> int:
        """Write ``records`` as one frame and fsync it; SpoolFull when there is no room."""
        own = self._require_own()
        payload = _encode(records)
        frame = _HEADER.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload
        if self.pending_bytes + len(frame) > self.max_bytes:
            raise SpoolFull(
                "the database is unreachable and the local spool is full; retry later",
                details={"spool_bytes": self.pending_bytes},
            )
        await asyncio.to_thread(_append_durably, own.fd, frame)
        return len(frame)

    async def next_frame(self) -> Frame | None:
        """The oldest frame not yet replayed, or None when everything was."""
        frames = await self.next_frames(max_records=1)
        return frames[0] if frames else None

    async def next_frames(self, *, max_records: int) -> list[Frame]:
        """The oldest frames not yet replayed, of one file, up to ``max_records`` records.

        At least one frame when any is left; ``consumed`` of the last one marks all done.
        """
        for file in self._files():
            if file.replayed >= file.size:
                continue
            frames = await asyncio.to_thread(_read_frames, file, max_records)
            if frames:
                return frames
            # A torn tail: written by a crash before its fsync, so never acknowledged.
            logger.warning("spool_torn_frame_dropped", file=file.path.name, offset=file.replayed)
            file.replayed = file.size
            self._forget_replayed()
        return []

    def skip_to(self, path: Path, offset: int) -> None:
        """Mark the frames of ``path`` before ``offset`` replayed (another process did)."""
        for file in self._files():
            if file.path == path and offset > file.replayed:
                file.replayed = min(offset, file.size)
        self._forget_replayed()

    def take_removed(self) -> list[str]:
        """Names of the files replayed to their end and removed since the last call."""
        removed, self._removed = self._removed, []
        return removed

    def consumed(self, frame: Frame) -> None:
        """Mark ``frame`` replayed (its records are committed)."""
        for file in self._files():
            if file.path == frame.path:
                file.replayed = frame.end
        self._forget_replayed()

    def set_aside(self, frame: Frame) -> None:
        """Move a frame the database refuses for good out of the way, kept for the operator."""
        aside = frame.path.with_suffix(SET_ASIDE_SUFFIX)
        with aside.open("ab") as out:
            out.write(frame.raw)
            out.flush()
            os.fsync(out.fileno())
        logger.error("spool_frame_set_aside", file=aside.name, records=len(frame.records))
        self.consumed(frame)

    def _files(self) -> list[_File]:
        return [*self._adopted, *([self._own] if self._own else [])]

    def _require_own(self) -> _File:
        if self._own is None:
            raise RuntimeError("the spool is not open")
        return self._own

    def _forget_replayed(self) -> None:
        """Remove fully replayed files; this process continues in a new file of its own.

        A replayed file is never reused: its name's replay offset stays true (see
        ``replay_progress``), where emptying it in place would let a process adopting
        it after a crash skip frames written since.
        """
        for file in [f for f in self._adopted if f.replayed >= f.size]:
            self._remove(file)
            self._adopted.remove(file)
        own = self._own
        if own is not None and own.replayed and own.replayed >= own.size:
            self._own = self._new_file()
            self._remove(own)

    def _new_file(self) -> _File:
        # Created and locked under a name adopters do not look at, then renamed: another
        # process starting at the same moment must never take a live file for a dead one.
        name = uuid.uuid4().hex
        creating = self.directory / f".{name}{CREATING_SUFFIX}"
        own = _try_lock(creating, create=True)
        if own is None:
            raise RuntimeError(f"cannot lock the new spool file {creating}")
        own.path = creating.rename(self.directory / f"{name}{SUFFIX}")
        _fsync_directory(self.directory)
        return own

    def _remove(self, file: _File) -> None:
        with contextlib.suppress(OSError):
            file.path.unlink()
        os.close(file.fd)
        self._removed.append(file.path.name)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _try_lock(path: Path, *, create: bool = False) -> _File | None:
    flags = os.O_RDWR | os.O_APPEND | (os.O_CREAT | os.O_EXCL if create else 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)  # a live process holds it
        return None
    return _File(path, fd)


def _fsync_directory(directory: Path) -> None:
    # A new file's name is durable only once its directory is.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _append_durably(fd: int, frame: bytes) -> None:
    size = os.fstat(fd).st_size
    view = memoryview(frame)
    try:
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError:
        # A disk full midway: cut the partial frame so the frames after it stay readable.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, size)
        raise


def _read_frames(file: _File, max_records: int) -> list[Frame]:
    frames: list[Frame] = []
    offset, records = file.replayed, 0
    while records < max_records:
        frame = _read_frame(file, offset)
        if frame is None:
            break
        frames.append(frame)
        offset, records = frame.end, records + len(frame.records)
    return frames


def _read_frame(file: _File, offset: int) -> Frame | None:
    header = os.pread(file.fd, _HEADER.size, offset)
    if len(header) < _HEADER.size:
        return None
    magic, length, crc = _HEADER.unpack(header)
    if magic != _MAGIC:
        return None
    payload = os.pread(file.fd, length, offset + _HEADER.size)
    if len(payload) < length or zlib.crc32(payload) != crc:
        return None
    try:
        records = _decode(payload)
    except msgspec.DecodeError:
        return None
    end = offset + _HEADER.size + length
    return Frame(records=records, path=file.path, start=offset, end=end, raw=header + payload)
