"""How far the spool writer has stored each gateway process's events, in shared memory.

A gateway process refuses new calls (503) when ``buffer_limit`` of its events are spooled but
not stored yet (the database has been refusing them for a while): it compares the sequence
number of its last event with the one the writer stored last. The writer finds the sequence
number in the event id (``<prefix>-<seq as 12 hex digits>``) and the process in the segment
name (``<pid>-...``), so the figure is absolute: a restarted writer, re-reading segments, sets the
same values again.

One slot per worker process: ``(pid, stored sequence number, spooled sequence number, caught-up
time)``. A worker claims its slot at start (a restarted worker takes over the dead one's slot);
after that the worker writes only the spooled number and the writer only the other two.
Lock-free: each field is one aligned 64-bit word with one writer.

The caught-up time is when the writer last started a pass that stored all it found: every event
spooled before then is stored, so a process's backlog is at most that old (the gateway's health
endpoint says so, :meth:`StoreProgress.backlog`).
"""

from __future__ import annotations

import ctypes
import multiprocessing
import time
from dataclasses import dataclass

FIELDS = 4  # per slot: pid, stored seq, spooled seq, caught-up time (epoch microseconds)


@dataclass(frozen=True)
class Backlog:
    """Events spooled and not stored yet, over the node's gateway processes."""

    events: int
    seconds: float  # how old the oldest of them is at most (0 with none)
    largest: int  # the most any one process has waiting (``buffer_limit`` is per process)


class StoreProgress:
    """Created by the supervisor (or the single gateway process) and pickled into its children."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.table = multiprocessing.get_context("spawn").RawArray(ctypes.c_int64, FIELDS * slots)

    def claim(self, slot: int, pid: int) -> None:
        base = FIELDS * slot
        self.table[base + 1] = 0
        self.table[base + 2] = 0
        self.table[base + 3] = _now_us()
        self.table[base] = pid

    def stored_seq(self, slot: int) -> int:
        return int(self.table[FIELDS * slot + 1])

    def record_spooled(self, slot: int, seq: int) -> None:
        """The gateway process of ``slot`` has its events up to ``seq`` in the spool."""
        self.table[FIELDS * slot + 2] = seq

    def record_stored(self, pid: int, seq: int) -> None:
        """The writer stored the events of ``pid`` up to ``seq``."""
        table = self.table
        for slot in range(self.slots):
            if table[FIELDS * slot] == pid:
                if seq > table[FIELDS * slot + 1]:
                    table[FIELDS * slot + 1] = seq
                return

    def record_caught_up(self, since: float) -> None:
        """The writer stored everything spooled before ``since`` (epoch seconds)."""
        stamp = int(since * 1_000_000)
        table = self.table
        for slot in range(self.slots):
            if table[FIELDS * slot] and stamp > table[FIELDS * slot + 3]:
                table[FIELDS * slot + 3] = stamp

    def backlog(self) -> Backlog:
        now = _now_us()
        events = largest = 0
        oldest = now
        table = self.table
        for slot in range(self.slots):
            base = FIELDS * slot
            if not table[base]:
                continue
            waiting = max(0, table[base + 2] - table[base + 1])
            if waiting:
                events += waiting
                largest = max(largest, waiting)
                oldest = min(oldest, table[base + 3])
        return Backlog(events, round((now - oldest) / 1_000_000, 3), largest)


def _now_us() -> int:
    return int(time.time() * 1_000_000)


def seq_of(event_id: str) -> int | None:
    """The per-process sequence number in a gateway's event id; None for another kind of id."""
    _, dash, tail = event_id.rpartition("-")
    if not dash:
        return None
    try:
        return int(tail, 16)
    except ValueError:
        return None
