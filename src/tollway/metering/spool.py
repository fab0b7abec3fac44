"""A local append-only log of usage events, so that a crashed gateway loses none.

Every event is written to the spool with one ``write(2)`` before the gateway sends the last
bytes of its answer, and the spool is deleted once the events in it are stored. The kernel keeps
what was written when the process is killed (``kill -9``, OOM); a power cut can lose what the
kernel had not flushed to disk yet (no fsync per event: it would cost more than the request).

Each process writes its own segment files and holds an exclusive ``flock`` on them. A segment
nobody holds a lock on belongs to a dead process: the next gateway to start replays it into the
sink (idempotent by event id, so replaying events that were already stored is harmless) and
deletes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tollway.metering.events import UsageEvent, UsageSink

log = logging.getLogger(__name__)

SUFFIX = ".spool"
SEGMENT_BYTES = 32 * 1024 * 1024


def encode(event: UsageEvent) -> bytes:
    tier = event.tier or ""
    if "\t" in tier or "\n" in tier:
        tier = tier.replace("\t", " ").replace("\n", " ")
    return (
        f"{event.id}\t{event.time!r}\t{event.tenant_id}\t{event.api_id or ''}\t"
        f"{event.application_id or ''}\t{event.subscription_id or ''}\t{tier}\t{event.status}\t"
        f"{1 if event.billable else 0}\t{event.latency_us}\t{event.request_bytes}\t"
        f"{event.response_bytes}\n"
    ).encode()


def decode(line: bytes) -> UsageEvent | None:
    """An event from one spool line; None for a torn or foreign line."""
    parts = line.decode("utf-8", "replace").split("\t")
    if len(parts) != 12:
        return None
    try:
        return UsageEvent(
            id=parts[0],
            time=float(parts[1]),
            tenant_id=parts[2],
            api_id=parts[3] or None,
            application_id=parts[4] or None,
            subscription_id=parts[5] or None,
            tier=parts[6] or None,
            status=int(parts[7]),
            billable=parts[8] == "1",
            latency_us=int(parts[9]),
            request_bytes=int(parts[10]),
            response_bytes=int(parts[11]),
        )
    except ValueError:
        return None


@dataclass
class _Segment:
    path: Path
    fd: int
    last_seq: int = 0
    size: int = 0


class Spool:
    """The segments of one process. ``append`` is called on the event loop for every event."""

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._current: _Segment | None = None
        self._closed: list[_Segment] = []
        self._failed = False

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._current = self._new_segment()

    def _new_segment(self) -> _Segment:
        name = f"{os.getpid()}-{secrets.token_hex(6)}"
        temp = self.directory / f"{name}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        # Renamed only once locked, so a recovering process never mistakes it for an orphan.
        path = self.directory / f"{name}{SUFFIX}"
        os.rename(temp, path)
        return _Segment(path, fd)

    def append(self, seq: int, line: bytes) -> None:
        segment = self._current
        if segment is None:
            return
        try:
            os.write(segment.fd, line)
        except OSError:
            if not self._failed:  # disk full or gone: keep serving, the memory buffer still flushes
                log.exception("usage spool %s is not writable; crash protection is off", segment.path)
                self._failed = True
            return
        segment.last_seq = seq
        segment.size += len(line)

    def stored(self, seq: int) -> None:
        """Events up to ``seq`` are durable in the sink: drop segments that hold nothing newer."""
        segment = self._current
        if segment is not None and segment.size >= self.segment_bytes:
            self._closed.append(segment)
            self._current = self._new_segment()
        keep = []
        for old in self._closed:
            if old.last_seq <= seq:
                _discard(old)
            else:
                keep.append(old)
        self._closed = keep

    def close(self, *, everything_stored: bool) -> None:
        """Release the segments; delete them only when every event in them is stored."""
        segments = [*self._closed, *([self._current] if self._current else [])]
        self._closed, self._current = [], None
        for segment in segments:
            if everything_stored:
                _discard(segment)
            else:
                os.close(segment.fd)  # unlocked: the next gateway to start replays it


def _discard(segment: _Segment) -> None:
    with contextlib.suppress(FileNotFoundError):
        segment.path.unlink()
    os.close(segment.fd)


def _read_events(fd: int) -> Iterator[UsageEvent]:
    with os.fdopen(os.dup(fd), "rb") as handle:
        for line in handle:
            if line.endswith(b"\n"):  # a torn last line is skipped
                event = decode(line[:-1])
                if event is not None:
                    yield event


def recover(directory: Path, sink: UsageSink, batch_size: int = 5000) -> int:
    """Replay the segments of dead processes into ``sink``; returns how many events were new."""
    if not directory.is_dir():
        return 0
    for temp in directory.glob("*.tmp"):  # a process died between creating and locking a segment
        with contextlib.suppress(OSError):
            fd = os.open(temp, os.O_RDONLY | os.O_CLOEXEC)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                temp.unlink()
            finally:
                os.close(fd)
    new = 0
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process owns it
            batch: list[UsageEvent] = []
            replayed = 0
            for event in _read_events(fd):
                batch.append(event)
                if len(batch) >= batch_size:
                    new += sink.write(batch)
                    replayed += len(batch)
                    batch = []
            if batch:
                new += sink.write(batch)
                replayed += len(batch)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            log.info("replayed %d usage events from %s", replayed, path.name)
        finally:
            os.close(fd)
    return new
