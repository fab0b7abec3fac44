"""How far the spool writer has stored each gateway process's events, in shared memory.

A gateway process refuses new calls (503) when ``buffer_limit`` of its events are spooled but
not stored yet (the database has been refusing them for a while): it compares the sequence
number of its last event with the one the writer stored last. The writer finds the sequence
number in the event id (``<prefix>-<seq as 12 hex digits>``) and the process in the segment
name (``<pid>-...``), so the figure is absolute: a restarted writer, re-reading segments, sets the
same values again.

One slot per worker process: ``(pid, stored sequence number)``. A worker claims its slot at
start (a restarted worker takes over the dead one's slot); only the writer writes the sequence
number after that. Lock-free: each field is one aligned 64-bit word with one writer.
"""

from __future__ import annotations

import ctypes
import multiprocessing


class StoreProgress:
    """Created by the supervisor (or the single gateway process) and pickled into its children."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.table = multiprocessing.get_context("spawn").RawArray(ctypes.c_int64, 2 * slots)

    def claim(self, slot: int, pid: int) -> None:
        self.table[2 * slot + 1] = 0
        self.table[2 * slot] = pid

    def stored_seq(self, slot: int) -> int:
        return int(self.table[2 * slot + 1])

    def record_stored(self, pid: int, seq: int) -> None:
        """The writer stored the events of ``pid`` up to ``seq``."""
        table = self.table
        for slot in range(self.slots):
            if table[2 * slot] == pid:
                if seq > table[2 * slot + 1]:
                    table[2 * slot + 1] = seq
                return


def seq_of(event_id: str) -> int | None:
    """The per-process sequence number in a gateway's event id; None for another kind of id."""
    _, dash, tail = event_id.rpartition("-")
    if not dash:
        return None
    try:
        return int(tail, 16)
    except ValueError:
        return None
