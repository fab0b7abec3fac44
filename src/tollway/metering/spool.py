"""The gateway's append-only log of usage events: the queue between a gateway and the database.

Every event is written to the spool with one ``write(2)`` before the gateway sends the last
bytes of its answer; the spool writer (:mod:`tollway.metering.writer`) reads the segments,
stores their events and deletes each segment once it is sealed and stored. The kernel keeps
what was written when the gateway is killed (``kill -9``, OOM); a power cut can lose what the
kernel had not flushed to disk yet (no fsync per event: it would cost more than the request).

Each process writes its own segments, named ``<pid>-<token>-<n>`` (so a name sorts a process's
segments in order), and holds an exclusive ``flock`` on the one it appends to. A full segment is
*sealed*: renamed to ``.done`` while still locked, then closed. A ``.spool`` segment nobody holds
a lock on belongs to a dead process: nothing more will be appended to it either.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from tollway.metering.events import UsageEvent

log = logging.getLogger(__name__)

SUFFIX = ".spool"
SEALED = ".done"
SEGMENT_BYTES = 32 * 1024 * 1024


def encode_line(
    event_id: str,
    at_us: int,
    tenant_id: str,
    api_id: str | None,
    application_id: str | None,
    subscription_id: str | None,
    tier: str | None,
    status: int,
    billable: bool,
    latency_us: int,
    request_bytes: int,
    response_bytes: int,
) -> bytes:
    """One event as one tab-separated line (the gateway's hot path: no object built for it).

    The time is integer microseconds since the epoch (formatting a float costs twice as much).
    """
    if tier and ("\t" in tier or "\n" in tier):
        tier = tier.replace("\t", " ").replace("\n", " ")
    return (
        f"{event_id}\t{at_us}\t{tenant_id}\t{api_id or ''}\t{application_id or ''}\t"
        f"{subscription_id or ''}\t{tier or ''}\t{status}\t{1 if billable else 0}\t{latency_us}\t"
        f"{request_bytes}\t{response_bytes}\n"
    ).encode()


def encode(event: UsageEvent) -> bytes:
    return encode_line(
        event.id,
        round(event.time * 1_000_000),
        event.tenant_id,
        event.api_id,
        event.application_id,
        event.subscription_id,
        event.tier,
        event.status,
        event.billable,
        event.latency_us,
        event.request_bytes,
        event.response_bytes,
    )


def decode(line: bytes) -> UsageEvent | None:
    """An event from one spool line (without its newline); None for a torn or foreign line."""
    return _parse(line.decode("utf-8", "replace"))


def decode_lines(chunk: bytes) -> list[UsageEvent | None]:
    """The events of whole lines (``chunk`` ends with a newline), decoded as one text."""
    texts = chunk.decode("utf-8", "replace").split("\n")
    texts.pop()  # after the last newline: nothing
    return [_parse(text) for text in texts]


def _parse(text: str) -> UsageEvent | None:
    parts = text.split("\t")
    if len(parts) != 12:
        return None
    at = parts[1]
    try:
        return UsageEvent(
            parts[0],
            float(at) if "." in at else int(at) / 1_000_000,  # seconds: spools of earlier versions
            parts[2],
            parts[3] or None,
            parts[4] or None,
            parts[5] or None,
            parts[6] or None,
            int(parts[7]),
            parts[8] == "1",
            int(parts[9]),
            int(parts[10]),
            int(parts[11]),
        )
    except ValueError:
        return None


@dataclass
class _Segment:
    path: Path
    fd: int
    size: int = 0


class Spool:
    """The segments one process appends to. ``append`` is called on the event loop."""

    def __init__(self, directory: Path, segment_bytes: int = SEGMENT_BYTES) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        self._name = f"{os.getpid()}-{secrets.token_hex(6)}"
        self._count = 0
        self._current: _Segment | None = None

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._current = self._new_segment()

    def _new_segment(self) -> _Segment:
        self._count += 1
        name = f"{self._name}-{self._count:06d}"
        temp = self.directory / f"{name}.tmp"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        # Renamed only once locked, so the writer never mistakes it for a dead process's.
        path = self.directory / f"{name}{SUFFIX}"
        os.rename(temp, path)
        return _Segment(path, fd)

    def append(self, lines: bytes) -> None:
        """Write ``lines`` (whole lines) in one ``write(2)``; OSError when the disk refuses them."""
        segment = self._current
        if segment is None:
            raise OSError("the usage spool is closed")
        written = os.write(segment.fd, lines)
        if written != len(lines):  # a short write: the disk is full; the tail is written again
            os.ftruncate(segment.fd, segment.size)
            raise OSError(f"usage spool {segment.path}: short write ({written} of {len(lines)} bytes)")
        segment.size += written
        if segment.size >= self.segment_bytes:
            self._seal(segment)
            self._current = self._new_segment()

    def _seal(self, segment: _Segment) -> None:
        # Renamed while still locked: the writer sees either a live .spool or a final .done.
        os.rename(segment.path, segment.path.with_suffix(SEALED))
        os.close(segment.fd)

    def close(self) -> None:
        """Seal the current segment; the writer stores what is in it and deletes it."""
        segment, self._current = self._current, None
        if segment is not None:
            self._seal(segment)
