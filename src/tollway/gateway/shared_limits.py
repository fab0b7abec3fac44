"""Plan-limit counters shared by the worker processes of one gateway.

With ``[gateway] workers = N > 1`` the supervisor creates one table of counters in shared memory
and one lock, and hands both to every worker it spawns (and respawns). Each worker counts its
calls in the table, so a plan's quota and burst rate hold exactly across the workers of one
machine, as if one process served them all.

The table has ``limit_slots`` slots of 56 bytes: a 128-bit key (BLAKE2b of the subscription id),
then the five fields of :class:`tollway.gateway.limits.Counter`. A subscription's slot is found
by linear probing from its key, once per worker (the offset is cached), and checked on every
call: a slot whose windows have both ended may be taken by another subscription (its counts
would be reset anyway), and the worker that cached it then looks again. A subscription that
finds no slot within ``MAX_PROBE`` places (the table is too small) is counted by each worker on
its own, and a warning says so.

The lock is a POSIX semaphore (``multiprocessing.Lock``): taking and releasing it costs about
60 ns when it is free and never releases the GIL, which a file lock (``flock``, ~1 us and two
GIL hand-overs per call) would. It is held for well under a microsecond per limited call. A
worker killed while holding it would leave it held: the supervisor, which sees every worker
die, frees a lock that stays held for ``STUCK_AFTER`` seconds after a death.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import struct
from hashlib import blake2b

from tollway.gateway.limits import Counter, Limiter
from tollway.gateway.snapshot import Plan

log = logging.getLogger(__name__)

# key_hi, key_lo, quota_end, quota_used, bytes_used, burst_end, burst_used
SLOT = struct.Struct("<qqdqqdq")
KEY = struct.Struct("<qq")
COUNTS = struct.Struct("<dqqdq")
BYTES = struct.Struct("<q")
COUNTS_AT = KEY.size
BYTES_AT = KEY.size + 16
MAX_PROBE = 64
STUCK_AFTER = 0.2  # seconds a lock may stay held after a worker died before it is freed
LOCK_PATIENCE = 1.0  # seconds a worker waits for the lock before checking its supervisor lives
NO_SLOT = -1


class SharedCounterTable:
    """The shared memory and its lock; created by the supervisor, pickled into spawned workers."""

    def __init__(self, slots: int) -> None:
        context = multiprocessing.get_context("spawn")
        self.slots = slots
        # Zeroed anonymous shared memory; a spawned worker receives its file descriptor.
        self.memory = context.RawArray(ctypes.c_char, slots * SLOT.size)
        self.lock = context.Lock()
        self.supervisor_pid = os.getpid()

    def free_lock_of_dead_worker(self) -> bool:
        """After a worker died: free the lock if it stays held (the dead one held it); True if so."""
        if self.lock.acquire(True, STUCK_AFTER):
            self.lock.release()
            return False
        with contextlib.suppress(ValueError):  # freed meanwhile by its holder after all
            self.lock.release()
        return True


class Place:
    """Where one subscription's counters are in the table (as this worker last found them)."""

    __slots__ = ("home", "key_hi", "key_lo", "offset")

    def __init__(self, subscription_id: str, slots: int) -> None:
        key_hi, key_lo = KEY.unpack(blake2b(subscription_id.encode(), digest_size=16).digest())
        if key_hi == 0 and key_lo == 0:  # (0, 0) marks an empty slot
            key_lo = 1
        self.key_hi, self.key_lo = key_hi, key_lo
        self.home = key_hi % slots
        # Checked before use like any cached place: the key there decides.
        self.offset = self.home * SLOT.size


class SharedLimiter(Limiter):
    """A :class:`Limiter` whose counters live in a :class:`SharedCounterTable`.

    Each call copies the subscription's slot into the local ``Counter`` under the lock, applies
    the very same rules (``Limiter.admit``) and writes the counts back.
    """

    def __init__(self, table: SharedCounterTable) -> None:
        super().__init__()
        self.table = table
        self.memory = memoryview(table.memory).cast("B")
        self.lock = table.lock
        self.places: dict[str, Place] = {}
        self.unshared: set[str] = set()  # subscriptions that found no slot (warned once each)

    def admit(self, subscription_id: str, plan: Plan, now: float) -> float:
        place = self.places.get(subscription_id)
        if place is None:
            place = self.places[subscription_id] = Place(subscription_id, self.table.slots)
        if place.offset == NO_SLOT:
            return Limiter.admit(self, subscription_id, plan, now)
        counter = self.counters.get(subscription_id)
        if counter is None:
            counter = self.counters[subscription_id] = Counter()
        memory = self.memory
        lock = self.lock
        if not lock.acquire(True, LOCK_PATIENCE):
            self._wait_for_lock()
        try:
            key_hi, key_lo, quota_end, quota_used, bytes_used, burst_end, burst_used = SLOT.unpack_from(
                memory, place.offset
            )
            if key_hi != place.key_hi or key_lo != place.key_lo:
                found = self._claim(subscription_id, place, now)
                if found is None:
                    return Limiter.admit(self, subscription_id, plan, now)
                quota_end, quota_used, bytes_used, burst_end, burst_used = found
            counter.quota_end = quota_end
            counter.quota_used = quota_used
            counter.bytes_used = bytes_used
            counter.burst_end = burst_end
            counter.burst_used = burst_used
            wait = Limiter.admit(self, subscription_id, plan, now)
            COUNTS.pack_into(
                memory,
                place.offset + COUNTS_AT,
                counter.quota_end,
                counter.quota_used,
                counter.bytes_used,
                counter.burst_end,
                counter.burst_used,
            )
            return wait
        finally:
            # Not contextlib.suppress: it costs ~300 ns, more than the rest of the lock's work.
            try:  # noqa: SIM105
                lock.release()
            except ValueError:  # freed by the supervisor while this worker stalled holding it
                pass

    def add_bytes(self, subscription_id: str, amount: int) -> None:
        place = self.places.get(subscription_id)
        if place is None or place.offset == NO_SLOT:
            Limiter.add_bytes(self, subscription_id, amount)
            return
        memory = self.memory
        lock = self.lock
        if not lock.acquire(True, LOCK_PATIENCE):
            self._wait_for_lock()
        try:
            # A slot taken by another subscription means this one's windows ended: nothing to add.
            if KEY.unpack_from(memory, place.offset) == (place.key_hi, place.key_lo):
                (used,) = BYTES.unpack_from(memory, place.offset + BYTES_AT)
                BYTES.pack_into(memory, place.offset + BYTES_AT, used + amount)
        finally:
            try:  # noqa: SIM105
                lock.release()
            except ValueError:
                pass

    def _claim(
        self, subscription_id: str, place: Place, now: float
    ) -> tuple[float, int, int, float, int] | None:
        """Find (or take) the place's slot; its counts, or None when the table has no room."""
        memory, slots = self.memory, self.table.slots
        free = NO_SLOT
        for step in range(min(MAX_PROBE, slots)):
            offset = (place.home + step) % slots * SLOT.size
            key_hi, key_lo, quota_end, quota_used, bytes_used, burst_end, burst_used = SLOT.unpack_from(
                memory, offset
            )
            if key_hi == place.key_hi and key_lo == place.key_lo:
                place.offset = offset
                return quota_end, quota_used, bytes_used, burst_end, burst_used
            if key_hi == 0 and key_lo == 0:  # never used: no key lies beyond it on this probe path
                if free == NO_SLOT:
                    free = offset
                break
            if free == NO_SLOT and quota_end <= now and burst_end <= now:
                free = offset  # both windows over: its counts would be reset anyway
        place.offset = free
        if free == NO_SLOT:
            if subscription_id not in self.unshared:
                self.unshared.add(subscription_id)
                log.warning(
                    "gateway limit table full ([gateway] limit_slots = %d): subscription %s is "
                    "limited by each worker on its own until this worker restarts",
                    slots,
                    subscription_id,
                )
            return None
        SLOT.pack_into(memory, free, place.key_hi, place.key_lo, 0.0, 0, 0, 0.0, 0)
        return 0.0, 0, 0, 0.0, 0

    def _wait_for_lock(self) -> None:
        """The lock stayed held: its holder died; the supervisor frees it, if it still lives."""
        while not self.lock.acquire(True, LOCK_PATIENCE):
            if os.getppid() != self.table.supervisor_pid:
                # No one is left to free it. Every answered call's event is in the spool, which
                # the next gateway on this data folder replays: exiting now loses nothing.
                log.critical("gateway limit counters locked and the supervisor is gone; exiting")
                os._exit(70)
            log.error("gateway limit counters locked for %.0f s; waiting for the supervisor", LOCK_PATIENCE)
