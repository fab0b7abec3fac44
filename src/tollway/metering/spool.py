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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tollway.metering.events import FIELDS, Kind, UsageEvent, generated

log = logging.getLogger(__name__)

SUFFIX = ".spool"
SEALED = ".done"
SEGMENT_BYTES = 32 * 1024 * 1024


# The line's codec, generated from the event's fields (tollway.metering.events.FIELDS) once at
# import: one tab-separated line per event, fields in their declared order, no object built on
# the gateway's hot path. Per kind of field, how its value ``v`` is written (an f-string
# replacement field) and how its text ``p`` is read back: None is an empty text; a time is
# integer microseconds since the epoch (formatting a float costs twice as much), or float
# seconds in spools of earlier versions. A free-text field's tabs and newlines become spaces.
_WRITE: dict[Kind, str] = {
    "text": "{v}",
    "optional text": "{v} or ''",
    "int": "{v}",
    "bool": "1 if {v} else 0",
    "time": "{v}",
}
_READ: dict[Kind, str] = {
    "text": "{p}",
    "optional text": "{p} or None",
    "int": "int({p})",
    "bool": "{p} == '1'",
    "time": "(float({p}) if '.' in {p} else int({p}) / 1_000_000)",
}


def _encode_line_source() -> str:
    clean = "".join(
        f"    if {f.name} and ('\\t' in {f.name} or '\\n' in {f.name}):\n"
        f"        {f.name} = {f.name}.replace('\\t', ' ').replace('\\n', ' ')\n"
        for f in FIELDS
        if f.free_text
    )
    line = "\\t".join("{" + _WRITE[f.kind].format(v=f.name) + "}" for f in FIELDS)
    params = ", ".join(f.name for f in FIELDS)
    return f'def encode_line({params}):\n{clean}    return f"{line}\\n".encode()\n'


def _encode_source() -> str:
    values = ", ".join(
        f"round(e.{f.name} * 1_000_000)" if f.kind == "time" else f"e.{f.name}" for f in FIELDS
    )
    return f"def encode(e):\n    return encode_line({values})\n"


def _parse_source() -> str:
    values = ", ".join(_READ[f.kind].format(p=f"p[{i}]") for i, f in enumerate(FIELDS))
    return (
        "def parse(text):\n"
        "    p = text.split('\\t')\n"
        f"    if len(p) != {len(FIELDS)}:\n"
        "        return None\n"
        "    try:\n"
        f"        return UsageEvent({values})\n"
        "    except ValueError:\n"
        "        return None\n"
    )


# One event's line, its fields as arguments in FIELDS order (``time`` in integer microseconds).
encode_line: Callable[..., bytes] = generated("encode_line", _encode_line_source(), {})
encode: Callable[[UsageEvent], bytes] = generated("encode", _encode_source(), {"encode_line": encode_line})
# The event of one line's text; None for a torn or foreign line.
_parse: Callable[[str], UsageEvent | None] = generated("parse", _parse_source(), {"UsageEvent": UsageEvent})


def decode(line: bytes) -> UsageEvent | None:
    """An event from one spool line (without its newline); None for a torn or foreign line."""
    return _parse(line.decode("utf-8", "replace"))


def decode_lines(chunk: bytes) -> list[UsageEvent | None]:
    """The events of whole lines (``chunk`` ends with a newline), decoded as one text."""
    texts = chunk.decode("utf-8", "replace").split("\n")
    texts.pop()  # after the last newline: nothing
    return [_parse(text) for text in texts]


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
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
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
