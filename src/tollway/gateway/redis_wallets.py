"""Prepaid admission across gateway nodes: leases of a wallet's calls, counted in Redis.

With ``[gateway] limits = "redis"`` every gateway process counts prepaid calls against one count
per subscription and billing period kept in Redis, so a wallet pays for exactly what all nodes
together admit, without a Redis round trip per call:

- **State.** One hash per wallet, ``tollway:prepaid:{<wallet>}``, one field per subscription and
  period (``<subscription>:<period end, epoch ms>``): the calls counted there by every node,
  leases included. It expires a period after the newest period it holds.
- **Leases.** A process that has no calls left for a subscription takes a lease with one
  optimistic transaction (``WATCH`` the hash, read it, ``MULTI``/``EXEC`` the new count; another
  node's write in between retries it): from the snapshot's balance and the counts of all the
  wallet's subscriptions it works out what the wallet can still pay
  (:func:`tollway.gateway.prepaid.held_by`, the same arithmetic as on one node) and takes up to an
  eighth of the calls that pays for (at most ``MAX_LEASE``; one call at a time once fewer than 16
  are left), so leases never add up to more than the wallet holds. It admits from the lease in
  memory; a lease of 8 or more is renewed in the background when half used.
- **Returns.** A lease unused for ``LEASE_IDLE`` seconds, a lease of a period that has ended, and
  every lease when the gateway stops go back (``HINCRBY`` of what is left, by script, only if the
  field still exists). A call that is not billable goes back into the lease it came from.
- **A refusal** is remembered for ``RECHECK`` seconds, or until the snapshot changes (a top-up).
- **Redis losing its data** (a restart without persistence): noticed by ``EPOCH_KEY`` having
  changed or gone; prepaid calls are answered 503 until the snapshot is reloaded, whose stored
  calls then stand in for the lost counts (``on_reset``). Calls not stored yet at that moment
  (the metering backlog, ``/_tollway/health``) are not in them.
- **Redis unreachable**: prepaid calls are answered 503 (always: a wallet is never overspent on
  a guess, whatever ``[redis] on_unavailable`` says for plan limits), logged once; a ``PING``
  every ``HEALTH_INTERVAL`` notices it is back. Leases in hand stay counted in Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import random
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import WatchError

from tollway.gateway.limits import PENDING, UNAVAILABLE
from tollway.gateway.prepaid import REFUSED, STALE, held_by, periods_of
from tollway.gateway.redis_limits import (
    FAILURES,
    HEALTH_INTERVAL,
    LEASE_IDLE,
    MAX_LEASE,
    PREFETCH_FROM,
    RECHECK,
    TICK,
    TIMEOUT,
)
from tollway.gateway.snapshot import Prepaid, SubscriptionEntry, Tariff

log = logging.getLogger(__name__)

KEY_PREFIX = "tollway:prepaid:"
EPOCH_KEY = KEY_PREFIX + "epoch"  # set once per Redis data set: gone or changed = the counts were lost
RETRIES = 50  # optimistic transactions in a row that other nodes' writes may spoil
BACKOFF = 0.002  # seconds, at most, between them (random: the nodes that collided spread out)

# KEYS[1] the wallet's hash; ARGV: field, calls to give back. A field gone (expired) stays gone.
GIVE_BACK = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  local left = redis.call('HINCRBY', KEYS[1], ARGV[1], -tonumber(ARGV[2]))
  if left < 0 then redis.call('HSET', KEYS[1], ARGV[1], 0) end
end
return 1
"""

Decided = Callable[[float], None]


def _text(name: bytes | str) -> str:
    return name.decode() if isinstance(name, bytes) else name


def field_of(subscription_id: str, end: float) -> str:
    return f"{subscription_id}:{round(end * 1000)}"


def affordable(tariff: Tariff, counted: int, available: int, most: int) -> int:
    """How many calls after the first ``counted`` (at most ``most``) ``available`` pays for, every
    prefix of them included (a volume price may fall at a tier's edge; a prefix must still pay)."""
    base = tariff.cost(counted)
    per_call = tariff.per_request
    if per_call is not None and counted >= tariff.included:
        return most if per_call == 0 else max(0, min(most, available // per_call))
    granted = 0
    while granted < most and tariff.cost(counted + granted + 1) - base <= available:
        granted += 1
    return granted


class Lease:
    """This process's calls of one subscription's period, not used yet."""

    __slots__ = ("busy", "end", "field", "key", "left", "low", "refused", "refused_for", "used_at", "waiters")

    def __init__(self, key: str, field: str, end: float) -> None:
        self.key, self.field, self.end = key, field, end
        self.left = 0
        self.low = -1  # renew in the background at this many left (-1: only when empty)
        self.refused = 0.0  # a refusal holds until then...
        self.refused_for: Prepaid | None = None  # ...and while the snapshot's state is this one
        self.used_at = 0.0
        self.busy = False
        self.waiters: list[tuple[SubscriptionEntry, Decided]] = []


class RedisWalletGuard:
    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        self.url = url
        self.clock = clock
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._give_back = self.redis.register_script(GIVE_BACK)
        self.leases: dict[str, Lease] = {}
        self.shared = True
        self.epoch: bytes | None = None  # the Redis data set counted in (EPOCH_KEY)
        self.resetting = False  # Redis lost the counts: waiting for a fresh snapshot
        self.on_reset: Callable[[], None] = lambda: None
        self.requests = 0  # lease transactions run (tests, benchmark)
        self.refused = (0, 0)  # the last refusal's (available, price), pico-units
        self._tasks: set[asyncio.Task[None]] = set()
        self._answered = time.monotonic()

    # per call -------------------------------------------------------------------------------------
    def admit(self, sub: SubscriptionEntry, now: float) -> float:
        prepaid = sub.prepaid
        assert prepaid is not None
        periods = periods_of(prepaid, now)
        if periods is None:
            return STALE
        if not self.shared or self.resetting:
            return UNAVAILABLE
        lease = self._lease(sub, prepaid, periods[0])
        if lease.left > 0:
            lease.left -= 1
            lease.used_at = now
            if lease.left <= lease.low and not lease.busy:
                self._start(sub, lease)
            return lease.end
        if lease.refused > now and lease.refused_for is prepaid:
            return REFUSED
        return PENDING

    def admit_later(self, sub: SubscriptionEntry, decided: Decided) -> None:
        lease = self.leases.get(sub.id)
        if lease is None or not self.shared:
            answer = self.admit(sub, self.clock())
            if answer != PENDING:
                decided(answer)
                return
            lease = self.leases[sub.id]
        lease.waiters.append((sub, decided))
        if not lease.busy:
            self._start(sub, lease)

    def uncount(self, sub: SubscriptionEntry, period_end: float) -> None:
        lease = self.leases.get(sub.id)
        if lease is not None and lease.end == period_end:
            lease.left += 1
        elif self.shared and sub.prepaid is not None:
            key = KEY_PREFIX + "{" + sub.prepaid.wallet.id + "}"
            self._spawn(self._return(key, field_of(sub.id, period_end), 1))

    # leases -----------------------------------------------------------------------------------------
    def _lease(self, sub: SubscriptionEntry, prepaid: Prepaid, end: float) -> Lease:
        lease = self.leases.get(sub.id)
        if lease is not None and lease.end == end:
            return lease
        fresh = Lease(KEY_PREFIX + "{" + prepaid.wallet.id + "}", field_of(sub.id, end), end)
        if lease is not None:  # the period ended: what is left of its lease goes back
            if lease.left:
                self._spawn(self._return(lease.key, lease.field, lease.left))
            fresh.waiters, lease.waiters = lease.waiters, []
            fresh.busy = lease.busy
        self.leases[sub.id] = fresh
        return fresh

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start(self, sub: SubscriptionEntry, lease: Lease) -> None:
        lease.busy = True
        self._spawn(self._serve(sub, lease))

    async def _serve(self, sub: SubscriptionEntry, lease: Lease) -> None:
        try:
            while True:
                self._decide_waiters(sub.id, lease)
                current = self.leases.get(sub.id)
                if current is not lease or not self.shared:
                    return
                if not lease.waiters and lease.left > max(0, lease.low):
                    return
                now = self.clock()
                if lease.refused > now and lease.refused_for is sub.prepaid:
                    self._decide_waiters(sub.id, lease)
                    return
                waiting = lease.waiters[-1][0] if lease.waiters else sub
                try:
                    granted = await self._take(waiting, lease, now)
                except FAILURES as exc:
                    self._lost(exc)
                    self._decide_waiters(sub.id, lease)
                    return
                except Exception:  # a bug must not strand the calls waiting on this lease
                    log.exception("a prepaid lease request failed")
                    waiters, lease.waiters = lease.waiters, []
                    for _, decided in waiters:
                        decided(UNAVAILABLE)
                    return
                self._answered = time.monotonic()
                if granted < 0:  # Redis lost the counts: every waiting call was answered
                    return
                if granted:
                    lease.left += granted
                    lease.low = granted // 2 if granted >= PREFETCH_FROM else -1
                else:
                    lease.low = -1
                    lease.refused, lease.refused_for = self.clock() + RECHECK, waiting.prepaid
                    self._decide_waiters(sub.id, lease)
                    return
        finally:
            lease.busy = False

    def _decide_waiters(self, subscription_id: str, lease: Lease) -> None:
        waiters = lease.waiters
        while waiters:
            sub, decided = waiters[0]
            answer = self.admit(sub, self.clock())
            if answer == PENDING:
                if self.leases.get(subscription_id) is not lease:  # the period rolled over meanwhile
                    moved, lease.waiters = list(waiters), []
                    for held_sub, held_decided in moved:
                        self.admit_later(held_sub, held_decided)
                return
            waiters.pop(0)
            try:
                decided(answer)
            except Exception:
                log.exception("deciding a prepaid call held for its wallet failed")

    async def _take(self, sub: SubscriptionEntry, lease: Lease, now: float) -> int:
        """One optimistic transaction: the calls of a new lease (0: the wallet cannot pay one)."""
        prepaid = sub.prepaid
        assert prepaid is not None
        wallet = prepaid.wallet
        self.requests += 1
        async with self.redis.pipeline(transaction=True) as pipe:
            for _ in range(RETRIES):
                try:
                    await pipe.watch(lease.key)
                    if not await self._same_data(pipe):
                        await pipe.reset()  # type: ignore[no-untyped-call]
                        return -1
                    raw = await pipe.hgetall(lease.key)
                    counts = {_text(name): int(value) for name, value in raw.items()}
                    held, counted, expiry = 0, 0, 0.0
                    for other in wallet.subscriptions:
                        other_prepaid = other.prepaid
                        assert other_prepaid is not None
                        periods = periods_of(other_prepaid, now)
                        if periods is None:
                            continue
                        end, previous_end = periods
                        calls = max(counts.get(field_of(other.id, end), 0), other_prepaid.stored.get(end, 0))
                        before = max(
                            counts.get(field_of(other.id, previous_end), 0),
                            other_prepaid.stored.get(previous_end, 0),
                        )
                        held += held_by(other_prepaid, end, calls, previous_end, before)
                        expiry = max(expiry, end + (end - previous_end))
                        if other.id == sub.id:
                            counted = calls
                    available = wallet.balance - held
                    left = affordable(prepaid.tariff, counted, available, 16 * MAX_LEASE)
                    granted = min(left, MAX_LEASE, max(1, left // 8))
                    if not granted:
                        await pipe.reset()  # type: ignore[no-untyped-call]  # redis-py leaves it untyped
                        self.refused = (
                            available,
                            prepaid.tariff.cost(counted + 1) - prepaid.tariff.cost(counted),
                        )
                        return 0
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(lease.key, lease.field, counted + granted)
                    pipe.pexpireat(lease.key, math.ceil(expiry * 1000) + 60_000, gt=True)
                    pipe.pexpireat(lease.key, math.ceil(expiry * 1000) + 60_000, nx=True)
                    await pipe.execute()
                    return granted
                except WatchError:
                    await asyncio.sleep(random.uniform(0, BACKOFF))
        raise RedisConnectionError("the wallet's count changed under every try")

    async def _same_data(self, pipe: Any) -> bool:
        """Whether Redis still holds the counts this process took leases from."""
        epoch = await pipe.get(EPOCH_KEY)
        if epoch is None:
            await pipe.set(EPOCH_KEY, os.urandom(8).hex(), nx=True)
            epoch = await pipe.get(EPOCH_KEY)
            if self.epoch is None:
                self.epoch = epoch
                return True
        if self.epoch is None:
            self.epoch = epoch
        if epoch == self.epoch:
            return True
        self.epoch = epoch
        self._reset()
        return False

    def _reset(self) -> None:
        log.warning(
            "Redis at %s lost the prepaid counts: prepaid calls answered 503 until reloaded", self.url
        )
        self.resetting = True
        leases, self.leases = self.leases, {}
        for lease in leases.values():
            waiters, lease.waiters = lease.waiters, []
            for _, decided in waiters:
                decided(UNAVAILABLE)
        self.on_reset()

    def reloaded(self) -> None:
        """The snapshot was reloaded after a reset: count again."""
        if self.resetting:
            self.resetting = False
            log.warning("prepaid calls counted again in Redis at %s", self.url)

    async def _return(self, key: str, field: str, calls: int) -> None:
        try:
            await self._give_back(keys=[key], args=[field, calls])
        except FAILURES as exc:
            self._lost(exc)
            return
        self._answered = time.monotonic()

    # Redis away and back -----------------------------------------------------------------------------
    def _lost(self, exc: BaseException) -> None:
        if not self.shared:
            return
        self.shared = False
        leases, self.leases = self.leases, {}
        log.warning(
            "Redis at %s unreachable (%s): prepaid calls are answered 503 until it answers", self.url, exc
        )
        for lease in leases.values():
            waiters, lease.waiters = lease.waiters, []
            for _, decided in waiters:
                decided(UNAVAILABLE)

    async def maintain_forever(self) -> None:
        """Return idle leases; notice Redis going away and coming back."""
        while True:
            await asyncio.sleep(TICK)
            try:
                if not self.shared:
                    await self.redis.ping()
                    self._answered = time.monotonic()
                    self.shared = True
                    log.warning("Redis at %s reachable again: prepaid calls counted again", self.url)
                    continue
                now = self.clock()
                for subscription_id, lease in list(self.leases.items()):
                    if lease.busy or lease.waiters or now - lease.used_at < LEASE_IDLE:
                        continue
                    if lease.left:
                        left, lease.left = lease.left, 0
                        await self._return(lease.key, lease.field, left)
                    if now - lease.used_at > 10 * LEASE_IDLE:
                        self.leases.pop(subscription_id, None)
                used = self.epoch is not None or self.leases  # a node without prepaid plans stays quiet
                if used and time.monotonic() - self._answered >= HEALTH_INTERVAL:
                    await self.redis.ping()
                    self._answered = time.monotonic()
            except FAILURES as exc:
                self._lost(exc)
                await asyncio.sleep(HEALTH_INTERVAL - TICK)
            except Exception:
                log.exception("prepaid lease upkeep failed")

    async def settled(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Give back what is left of every lease and close the connections."""
        await self.settled()
        if self.shared:
            leases, self.leases = self.leases, {}
            for lease in leases.values():
                if lease.left:
                    await self._return(lease.key, lease.field, lease.left)
        with contextlib.suppress(*FAILURES):
            await self.redis.aclose()
