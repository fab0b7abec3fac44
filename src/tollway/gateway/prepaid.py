"""Prepaid admission: a call passes only when its subscriber's wallet can pay for it, exactly.

No database round trip per call. The snapshot brings each wallet's balance and, per prepaid
subscription, the calls that balance already paid for (``settled``) and the calls stored so far
(``stored``), per billing period. The node counts every call it admits per subscription and
period, in the same shared memory and under the same lock as the plan limits
(:mod:`tollway.gateway.shared_limits`), so all of a node's workers count as one. A call is
admitted when

    balance - sum over the wallet's subscriptions of (cost(counted) - cost(settled) [+ fee due])
        >= cost(counted + 1) - cost(counted)

and then counted. Settling (``tollway.wallets.settlement``) moves stored calls into the balance
as consumption entries: the balance falls by exactly what ``settled`` rises by, so the
snapshot's pair stays consistent whether the gateway has reloaded or not, and no call is paid
twice or admitted unpaid. A call that turns out not billable (refused later, a backend error, the
client gone) is uncounted when it is metered.

A slot per subscription: key (16 bytes), then the current period's end, its calls, the previous
period's calls, +inf (so the limiter never takes the slot over) and 0. Across nodes this count is
per node: see docs/prepaid.md.
"""

from __future__ import annotations

import logging
import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from hashlib import blake2b

from tollway.gateway.shared_limits import KEY, LOCK_PATIENCE, MAX_PROBE, SLOT, SharedCounterTable
from tollway.gateway.snapshot import Prepaid, SubscriptionEntry

log = logging.getLogger(__name__)

COUNTS_AT = KEY.size
STATE = struct.Struct("<dqqdq")  # current end, current calls, previous calls, +inf, 0
# Answers of ``admit`` besides a period's end; distinct from tollway.gateway.limits' PENDING (-1.0)
# and UNAVAILABLE (-2.0), which a guard asking Redis answers too.
REFUSED = -3.0
STALE = -4.0  # the snapshot knows no period for now: a reload is overdue


class _Place:
    __slots__ = ("home", "key_hi", "key_lo", "offset")

    def __init__(self, subscription_id: str, slots: int) -> None:
        digest = blake2b(b"prepaid:" + subscription_id.encode(), digest_size=16).digest()
        key_hi, key_lo = KEY.unpack(digest)
        if key_hi == 0 and key_lo == 0:
            key_lo = 1
        self.key_hi, self.key_lo = key_hi, key_lo
        self.home = key_hi % slots
        self.offset = -1


HOT_COUNTS = struct.Struct("<dqq")  # current end, current calls, previous calls


@dataclass(slots=True)
class _Hot:
    """What the short path of :meth:`WalletGuard.admit` needs, worked out once per period and snapshot."""

    prepaid: Prepaid
    start: float
    end: float
    offset: int
    key_hi: int
    key_lo: int
    stored: int
    previous_stored: int
    cost: Callable[[int], int]
    settled_cost: int
    previous_settled_cost: int
    fee_due: int
    balance: int
    count_previous: bool


def periods_of(prepaid: Prepaid, now: float) -> tuple[float, float] | None:
    """(end of the period holding ``now``, end of the one before); None past the known ends."""
    ends = prepaid.ends
    for index in range(1, len(ends)):
        if ends[index] > now:
            return ends[index], ends[index - 1]
    return None


class WalletGuard:
    def __init__(self, table: SharedCounterTable) -> None:
        self.table = table
        self.memory = memoryview(table.memory).cast("B")
        self.lock = table.lock
        self.places: dict[str, _Place] = {}
        # The counts of subscriptions that found no slot in the table: this process's own.
        self.private: dict[str, list[float]] = {}
        self.hot: dict[str, _Hot] = {}  # the short path's state per subscription (see admit)
        self.refused = (0, 0)  # the last refusal's (available, price), pico-units: for its answer

    # per call ------------------------------------------------------------------------------------
    def admit(self, sub: SubscriptionEntry, now: float) -> float:
        """The end of the period the call is counted in, or ``REFUSED`` / ``STALE``.

        The usual case, a wallet that pays for one subscription whose slot holds the current
        period, takes a short path: one slot read and a few integer operations under the lock.
        Anything else (a new period, a slot to claim, a wallet shared by subscriptions, a new
        snapshot) takes the general one, which also prepares the short path for the next calls.
        """
        prepaid = sub.prepaid
        hot = self.hot.get(sub.id)
        if hot is None or hot.prepaid is not prepaid or not hot.start <= now < hot.end:
            return self._admit_general(sub, now)
        memory = self.memory
        lock = self.lock
        if not lock.acquire(True, LOCK_PATIENCE):
            self._wait_for_lock()
        try:
            key_hi, key_lo, end, calls, previous, _, _ = SLOT.unpack_from(memory, hot.offset)
            if key_hi != hot.key_hi or key_lo != hot.key_lo or end != hot.end:
                del self.hot[sub.id]
                fallback = True
            else:
                fallback = False
                if calls < hot.stored:
                    calls = hot.stored
                if previous < hot.previous_stored:
                    previous = hot.previous_stored
                cost = hot.cost
                counted = cost(calls)
                held = counted - hot.settled_cost + hot.fee_due
                if previous and hot.count_previous:
                    held += cost(previous) - hot.previous_settled_cost
                price = cost(calls + 1) - counted
                available = hot.balance - held
                if available < price:
                    self.refused = (available, price)
                    return REFUSED
                HOT_COUNTS.pack_into(memory, hot.offset + COUNTS_AT, end, calls + 1, previous)
                return hot.end  # == end
        finally:
            try:  # noqa: SIM105
                lock.release()
            except ValueError:
                pass
        assert fallback
        return self._admit_general(sub, now)

    def _admit_general(self, sub: SubscriptionEntry, now: float) -> float:
        prepaid = sub.prepaid
        assert prepaid is not None
        periods = periods_of(prepaid, now)
        if periods is None:
            return STALE
        if not self.lock.acquire(True, LOCK_PATIENCE):
            self._wait_for_lock()
        try:
            state = self._read(sub, periods)
            held = _unsettled(sub, state)
            for other in prepaid.wallet.subscriptions:
                if other is not sub:
                    other_periods = periods_of(other.prepaid, now) if other.prepaid is not None else None
                    if other_periods is not None:
                        held += _unsettled(other, self._read(other, other_periods))
            end, calls = state[0], int(state[1])
            price = prepaid.tariff.cost(calls + 1) - prepaid.tariff.cost(calls)
            if prepaid.wallet.balance - held < price:
                self.refused = (prepaid.wallet.balance - held, price)
                return REFUSED
            state[1] = calls + 1
            self._write(sub, state)
            self._prepare(sub, prepaid, periods)
            return end
        finally:
            try:  # noqa: SIM105
                self.lock.release()
            except ValueError:
                pass

    def admit_later(self, sub: SubscriptionEntry, decided: Callable[[float], None]) -> None:
        """Only a guard that asks Redis answers PENDING; this one decides at once."""
        decided(self.admit(sub, time.time()))

    def uncount(self, sub: SubscriptionEntry, period_end: float) -> None:
        """A counted call was not billable: the wallet does not pay for it."""
        place = self.places.get(sub.id)
        if place is None:
            return
        if not self.lock.acquire(True, LOCK_PATIENCE):
            self._wait_for_lock()
        try:
            state = self._load(sub.id, place)
            if state is None:
                return
            if state[0] == period_end and state[1] > 0:
                state[1] -= 1
            elif state[0] > period_end and state[2] > 0:  # counted before the period rolled over
                state[2] -= 1
            else:
                return
            self._write(sub, state)
        finally:
            try:  # noqa: SIM105
                self.lock.release()
            except ValueError:
                pass

    def _prepare(self, sub: SubscriptionEntry, prepaid: Prepaid, periods: tuple[float, float]) -> None:
        """Make the short path ready for ``sub`` in this period, when it applies."""
        place = self.places.get(sub.id)
        if place is None or place.offset < 0 or len(prepaid.wallet.subscriptions) != 1:
            self.hot.pop(sub.id, None)
            return
        end, previous_end = periods
        tariff, settled = prepaid.tariff, prepaid.settled
        self.hot[sub.id] = _Hot(
            prepaid=prepaid,
            start=previous_end,
            end=end,
            offset=place.offset,
            key_hi=place.key_hi,
            key_lo=place.key_lo,
            stored=prepaid.stored.get(end, 0),
            previous_stored=prepaid.stored.get(previous_end, 0),
            cost=tariff.cost,
            settled_cost=tariff.cost(settled.get(end, 0)),
            previous_settled_cost=tariff.cost(settled.get(previous_end, 0)),
            fee_due=prepaid.fee if prepaid.fee and end > prepaid.paid_until else 0,
            balance=prepaid.wallet.balance,
            count_previous=not prepaid.cap,
        )

    # the table -----------------------------------------------------------------------------------
    def _read(self, sub: SubscriptionEntry, periods: tuple[float, float]) -> list[float]:
        """[current end, calls, previous calls, (unused), previous end] rolled to ``periods``."""
        prepaid = sub.prepaid
        assert prepaid is not None
        end, previous_end = periods
        place = self.places.get(sub.id)
        if place is None:
            place = self.places[sub.id] = _Place(sub.id, self.table.slots)
        state = self._load(sub.id, place)
        if state is None or state[0] != end:
            if state is not None and state[0] == previous_end:
                state = [end, 0, state[1], math.inf, previous_end]  # the period rolled over
            else:
                state = [end, 0, 0, math.inf, previous_end]
        state[4] = previous_end
        # Calls stored before this node counted them (a restart, a node that served them).
        state[1] = max(state[1], prepaid.stored.get(end, 0))
        state[2] = max(state[2], prepaid.stored.get(previous_end, 0))
        return state

    def _load(self, subscription_id: str, place: _Place) -> list[float] | None:
        if place.offset < 0 and not self._claim(subscription_id, place):
            return self.private.get(subscription_id)
        key_hi, key_lo, end, calls, previous, never, _ = SLOT.unpack_from(self.memory, place.offset)
        if (key_hi, key_lo) != (place.key_hi, place.key_lo) or end == 0.0:
            return None
        return [end, calls, previous, never, 0.0]

    def _write(self, sub: SubscriptionEntry, state: list[float]) -> None:
        place = self.places[sub.id]
        if place.offset < 0:
            self.private[sub.id] = state
            return
        STATE.pack_into(
            self.memory,
            place.offset + COUNTS_AT,
            state[0],
            int(state[1]),
            int(state[2]),
            math.inf,
            0,
        )

    def _claim(self, subscription_id: str, place: _Place) -> bool:
        memory, slots = self.memory, self.table.slots
        for step in range(min(MAX_PROBE, slots)):
            offset = (place.home + step) % slots * SLOT.size
            key_hi, key_lo = KEY.unpack_from(memory, offset)
            if (key_hi, key_lo) == (place.key_hi, place.key_lo):
                place.offset = offset
                return True
            if key_hi == 0 and key_lo == 0:
                SLOT.pack_into(memory, offset, place.key_hi, place.key_lo, 0.0, 0, 0, math.inf, 0)
                place.offset = offset
                return True
        log.warning(
            "gateway limit table full: prepaid subscription %s is counted by each worker on its own",
            subscription_id,
        )
        return False

    def _wait_for_lock(self) -> None:
        while not self.lock.acquire(True, LOCK_PATIENCE):
            log.error("gateway counters locked for %.0f s; waiting for the supervisor", LOCK_PATIENCE)


def held_by(prepaid: Prepaid, end: float, calls: int, previous_end: float, previous_calls: int) -> int:
    """What a subscription's counted calls of the current and the previous period (and a fee not
    taken yet) hold of its wallet beyond the balance, in pico-units."""
    tariff, settled = prepaid.tariff, prepaid.settled
    held = tariff.cost(calls) - tariff.cost(settled.get(end, 0))
    if previous_calls and not prepaid.cap:
        held += tariff.cost(previous_calls) - tariff.cost(settled.get(previous_end, 0))
    if prepaid.fee and end > prepaid.paid_until:
        held += prepaid.fee
    return held


def _unsettled(sub: SubscriptionEntry, state: list[float]) -> int:
    prepaid = sub.prepaid
    assert prepaid is not None
    return held_by(prepaid, state[0], int(state[1]), state[4], int(state[2]))
