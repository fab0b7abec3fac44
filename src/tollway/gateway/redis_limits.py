"""Plan limits held across every gateway node: leases of each window's allowance, from Redis.

With ``[gateway] limits = "redis"`` every gateway process (each node, each worker) counts a
plan's quota and burst rate against one count per subscription and window kept in Redis, so the
plan holds exactly across nodes, without a Redis round trip per call:

- **Leases.** A window's allowance lives in one Redis hash per subscription, meter and window
  (``tollway:limits:{<subscription>}:<q|y|b>:<window end, epoch ms>``; q = quota calls, y = quota
  bytes, b = burst calls) with two fields: ``taken`` (units leased out or used) and ``leased``
  (units in leases not yet settled). A process takes a *lease*, a block of the allowance, with
  one Lua script (:data:`TAKE`), atomically: ``grant = min(want, left, max(1, left // 8))`` where
  ``left = allowance - taken``, then ``taken += grant``. So the leases of all processes together
  never exceed the allowance, and a process admits calls from its own lease in memory, a few
  attribute reads and one decrement, exactly like :class:`tollway.gateway.limits.Limiter`.
- **Sizing.** A lease takes at most an eighth of what is left (and at most ``MAX_LEASE`` calls),
  so the allowance is spread over the processes that ask, and once fewer than 16 units are left
  leases are of one unit, taken when a call needs it: a plan of 20 calls a minute is exact across
  any number of nodes, and no unit sits unused in a lease while another node refuses a call.
- **Off the critical path.** A lease of 8 units or more is renewed in the background when half of
  it is used, so a busy subscription's calls never wait for Redis. A call that finds its lease
  empty waits for one script call (its subscription's calls queue behind it; other
  subscriptions are not held up); a refusal is remembered until the window ends when nothing is
  left in Redis, or for ``RECHECK`` seconds when other processes still hold leases of it.
- **Returns.** A lease unused for ``LEASE_IDLE`` seconds, and every lease when the gateway stops,
  goes back: ``taken -= left over`` (:data:`GIVE_BACK`). Bytes are known only after an answer:
  a bytes lease may go below zero, and the overdraft is added to ``taken`` at once.
- **Windows** are the clock's (:func:`tollway.pricing.windows.window_end`), so every node agrees on
  them when their clocks agree (NTP); each key expires (``PEXPIRE``) with its window, plus
  ``KEY_MARGIN_MS``. A 429's ``Retry-After`` is the time left in the window.

**Redis unreachable** (a command fails or times out, or the health ``PING`` every
``HEALTH_INTERVAL`` seconds does): logged once; leases in hand are dropped (they stay taken in
Redis); ``[redis] on_unavailable = "fail_open"`` then counts limits with the node's own counters
(the fallback: this process's, or its workers' shared memory), ``"fail_closed"`` answers limited
calls with 503 (:data:`tollway.gateway.limits.UNAVAILABLE`). A ``PING`` every ``HEALTH_INTERVAL``
notices Redis is back, logs it, and shared counting resumes. Calls admitted meanwhile are not
added to the shared count.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from tollway.gateway.limits import PENDING, UNAVAILABLE, Limiter
from tollway.gateway.snapshot import Plan
from tollway.pricing.windows import window_end

log = logging.getLogger(__name__)

KEY_PREFIX = "tollway:limits:"
MAX_LEASE = 1000  # calls in one lease at most
MAX_BYTES_LEASE = 64 * 1024 * 1024  # bytes in one lease at most
PREFETCH_FROM = 8  # leases at least this big are renewed in the background when half used
LEASE_IDLE = 0.5  # seconds a lease may go unused before what is left of it goes back
RECHECK = 0.05  # seconds a refusal is kept while other processes hold leases of the window
TICK = 0.1  # seconds between the background passes (idle leases, health)
HEALTH_INTERVAL = 0.5  # seconds without a Redis answer before a PING asks whether it is there
KEY_MARGIN_MS = 2000  # a window's key outlives the window by this much (clocks differ a little)
TIMEOUT = 0.5  # seconds a Redis command (or connecting) may take before Redis counts as away

# Grant per key: KEYS[i] with ARGV allowance, want, ttl_ms. Returns grant, state per key
# (state when nothing is granted: 1 = other leases of the window are out, 2 = all used).
TAKE = """
local out = {}
for i, key in ipairs(KEYS) do
  local allowance = tonumber(ARGV[3 * i - 2])
  local want = tonumber(ARGV[3 * i - 1])
  local left = allowance - (tonumber(redis.call('HGET', key, 'taken')) or 0)
  local grant = 0
  if left > 0 then
    grant = math.min(want, left, math.max(1, math.floor(left / 8)))
  end
  if grant > 0 then
    redis.call('HINCRBY', key, 'taken', grant)
    redis.call('HINCRBY', key, 'leased', grant)
    redis.call('PEXPIRE', key, ARGV[3 * i])
    out[2 * i - 1] = grant
    out[2 * i] = 0
  else
    out[2 * i - 1] = 0
    if (tonumber(redis.call('HGET', key, 'leased')) or 0) > 0 then
      out[2 * i] = 1
    else
      out[2 * i] = 2
    end
  end
end
return out
"""

# Settle per key: KEYS[i] with ARGV -back (back: units returned; negative: a bytes overdraft),
# -held (held: units of the leases settled). A window's key that has expired is left alone.
GIVE_BACK = """
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local taken = redis.call('HINCRBY', key, 'taken', ARGV[2 * i - 1])
    local leased = redis.call('HINCRBY', key, 'leased', ARGV[2 * i])
    if taken < 0 then redis.call('HSET', key, 'taken', 0) end
    if leased < 0 then redis.call('HSET', key, 'leased', 0) end
  end
end
return 1
"""

OTHERS_HOLD, ALL_USED = 1, 2
FAILURES = (RedisError, OSError, asyncio.TimeoutError)

Decided = Callable[[float], None]


class Meter:
    """This process's lease of one window's allowance (calls, or bytes) of one subscription."""

    __slots__ = ("balance", "end", "held", "key", "last_grant", "low", "refused_until")

    def __init__(self) -> None:
        self.end = 0.0  # the window's end (epoch seconds); 0 = no window yet
        self.key = ""
        self.balance = 0  # units of the lease not used yet (bytes: may go below zero)
        self.held = 0  # units of the leases taken in this window and not settled
        self.last_grant = 0
        self.low = -1  # renew in the background at this balance (-1: only when empty)
        self.refused_until = 0.0

    def open(self, end: float, key: str) -> None:
        """A new window: the old one's lease lapses with its key in Redis."""
        self.end, self.key = end, key
        self.balance = self.held = self.last_grant = 0
        self.low = -1
        self.refused_until = 0.0


class Entry:
    """One subscription's leases in this process."""

    __slots__ = ("burst", "busy", "bytes", "plan", "quota", "used_at", "waiters")

    def __init__(self, plan: Plan) -> None:
        self.quota = Meter()
        self.bytes = Meter()
        self.burst = Meter()
        self.plan = plan
        self.used_at = 0.0
        self.busy = False  # a lease request is in flight
        self.waiters: list[tuple[Plan, Decided]] = []


class RedisLimiter(Limiter):
    """A :class:`Limiter` whose counts are leases of windows' allowances kept in Redis.

    ``admit`` answers from the lease in hand (0.0, or the seconds until a refused call would
    pass) or ``PENDING`` when the subscription's lease is empty: ``admit_later`` then asks Redis
    for one and calls back. ``maintain_forever`` returns idle leases and watches Redis' health;
    ``close`` returns every lease.
    """

    def __init__(
        self,
        url: str,
        *,
        on_unavailable: Literal["fail_open", "fail_closed"] = "fail_open",
        fallback: Limiter | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.url = url
        self.fail_open = on_unavailable == "fail_open"
        self.fallback = fallback if fallback is not None else Limiter()
        self.clock = clock
        self.redis: aioredis.Redis = aioredis.Redis.from_url(
            url,
            socket_timeout=TIMEOUT,
            socket_connect_timeout=TIMEOUT,
            # Once more at once, on a fresh connection: one the server closed (a restart) is
            # noticed only when used. No back-off: a call may be waiting.
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self._take = self.redis.register_script(TAKE)
        self._give_back = self.redis.register_script(GIVE_BACK)
        self.entries: dict[str, Entry] = {}
        self.shared = True  # False while Redis is away (then the fallback, or 503)
        self.requests = 0  # lease requests sent (for the benchmark and tests)
        self._tasks: set[asyncio.Task[None]] = set()
        self._answered = time.monotonic()  # the last time Redis answered

    # per call -------------------------------------------------------------------------------------
    def admit(self, subscription_id: str, plan: Plan, now: float) -> float:
        stop = plan.stop_on_quota
        count = plan.quota if stop else 0
        size = plan.quota_bytes if stop else 0
        burst = plan.burst
        if not (count or size or burst):
            return 0.0  # a metered plan without a burst rate: nothing to hold
        if not self.shared:
            if not self.fail_open:
                return UNAVAILABLE
            wait = self.fallback.admit(subscription_id, plan, now)
            self.quota_refused = self.fallback.quota_refused
            return wait
        entry = self.entries.get(subscription_id)
        if entry is None:
            entry = self.entries[subscription_id] = Entry(plan)
        quota = entry.quota
        if count:
            if now >= quota.end:
                self._open(quota, subscription_id, "q", window_end(plan.quota_window, now))
            if quota.balance <= 0:
                if quota.refused_until > now:
                    self.quota_refused = True
                    return quota.end - now
                return PENDING
        if size:
            sized = entry.bytes
            if now >= sized.end:
                self._open(sized, subscription_id, "y", window_end(plan.quota_window, now))
            if sized.balance <= 0:
                if sized.refused_until > now:
                    self.quota_refused = True
                    return sized.end - now
                return PENDING
        rate = entry.burst
        if burst:
            if now >= rate.end:
                seconds = plan.burst_seconds
                self._open(rate, subscription_id, "b", (now // seconds + 1) * seconds)
            if rate.balance <= 0:
                if rate.refused_until > now:
                    self.quota_refused = False
                    return rate.end - now
                return PENDING
            rate.balance -= 1
        if count:
            quota.balance -= 1
        entry.used_at = now
        entry.plan = plan
        if not entry.busy and (
            (count and quota.balance <= quota.low)
            or (burst and rate.balance <= rate.low)
            or (size and entry.bytes.balance <= entry.bytes.low)
        ):
            self._start(subscription_id, entry)  # renew ahead: the next calls need not wait
        return 0.0

    def admit_later(self, subscription_id: str, plan: Plan, decided: Decided) -> None:
        entry = self.entries.get(subscription_id)
        if entry is None or not self.shared:  # Redis went away in between
            wait = self.admit(subscription_id, plan, self.clock())
            if wait != PENDING:
                decided(wait)
                return
            entry = self.entries[subscription_id]
        entry.waiters.append((plan, decided))
        if not entry.busy:
            self._start(subscription_id, entry)

    def add_bytes(self, subscription_id: str, amount: int) -> None:
        if not self.shared:
            self.fallback.add_bytes(subscription_id, amount)
            return
        entry = self.entries.get(subscription_id)
        if entry is None:
            return
        sized = entry.bytes
        if not sized.end or self.clock() >= sized.end:
            return  # the window of this call's lease has ended
        sized.balance -= amount
        if sized.balance < 0:
            # Over the lease: add the overdraft to the window's count now, so that the other
            # processes stop admitting as soon as the bytes used reach the quota.
            over = sized.balance
            sized.balance = 0
            self._spawn(self._settle([(sized.key, over, 0)]))

    # lease requests ----------------------------------------------------------------------------------
    def _open(self, meter: Meter, subscription_id: str, kind: str, end: float) -> None:
        meter.open(end, f"{KEY_PREFIX}{{{subscription_id}}}:{kind}:{round(end * 1000)}")

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start(self, subscription_id: str, entry: Entry) -> None:
        entry.busy = True
        self._spawn(self._serve(subscription_id, entry))

    def _asks(self, entry: Entry, plan: Plan, now: float) -> list[tuple[Meter, int, int]]:
        """The meters of ``plan`` whose lease is empty (or low): (meter, allowance, want)."""
        stop = plan.stop_on_quota
        wanted = (
            (entry.quota, plan.quota if stop else 0, MAX_LEASE),
            (entry.bytes, plan.quota_bytes if stop else 0, MAX_BYTES_LEASE),
            (entry.burst, plan.burst, MAX_LEASE),
        )
        return [
            (meter, allowance, want)
            for meter, allowance, want in wanted
            if allowance
            and meter.end > now
            and meter.balance <= max(0, meter.low)
            and meter.refused_until <= now
        ]

    async def _serve(self, subscription_id: str, entry: Entry) -> None:
        """Ask Redis for the leases ``entry`` lacks, then decide its waiting calls in order."""
        try:
            while True:
                plan = entry.waiters[0][0] if entry.waiters else entry.plan
                now = self.clock()
                if entry.waiters:
                    # Opens the windows the waiting call needs (and answers it if it can pass).
                    self._decide_waiters(subscription_id, entry)
                    if not entry.waiters:
                        return
                    now = self.clock()
                asks = self._asks(entry, plan, now)
                if not asks:
                    self._decide_waiters(subscription_id, entry)
                    for _, decided in entry.waiters:  # cannot happen: PENDING means a lease to ask
                        decided(UNAVAILABLE)
                    entry.waiters.clear()
                    return
                keys = [meter.key for meter, _, _ in asks]
                args: list[int] = []
                for meter, allowance, want in asks:
                    args += (allowance, want, max(1, round((meter.end - now) * 1000)) + KEY_MARGIN_MS)
                self.requests += 1
                try:
                    reply = await self._take(keys=keys, args=args)
                except FAILURES as exc:
                    self._lost(exc)
                    self._decide_waiters(subscription_id, entry)
                    return
                self._answered = time.monotonic()
                now = self.clock()
                for index, (meter, _, _) in enumerate(asks):
                    if meter.key != keys[index]:
                        continue  # its window ended meanwhile: the grant lapses with the old key
                    grant, state = int(reply[2 * index]), int(reply[2 * index + 1])
                    if grant:
                        meter.balance += grant
                        meter.held += grant
                        meter.last_grant = grant
                        meter.low = grant // 2 if grant >= PREFETCH_FROM else -1
                        meter.refused_until = 0.0
                    else:
                        meter.low = -1
                        meter.refused_until = meter.end if state == ALL_USED else now + RECHECK
                if not entry.waiters:
                    return
        finally:
            entry.busy = False

    def _decide_waiters(self, subscription_id: str, entry: Entry) -> None:
        """Answer the waiting calls, in order, as long as they can be decided without Redis."""
        waiters = entry.waiters
        if waiters and self.shared and self.entries.get(subscription_id) is not entry:
            # The entry was dropped (Redis went away, and may be back): queue on the current one.
            moved, entry.waiters = list(waiters), []
            for plan, decided in moved:
                self.admit_later(subscription_id, plan, decided)
            return
        while waiters:
            plan, decided = waiters[0]
            wait = self.admit(subscription_id, plan, self.clock())
            if wait == PENDING:
                return
            waiters.pop(0)
            try:
                decided(wait)
            except Exception:  # one call's failure must not strand the others
                log.exception("deciding a call held for its plan limits failed")

    async def _settle(self, returns: list[tuple[str, int, int]]) -> None:
        """Give back (key, units left over, units held) for one subscription's keys."""
        if not returns:
            return
        args: list[int] = []
        for _, back, held in returns:
            args += (-back, -held)
        try:
            await self._give_back(keys=[key for key, _, _ in returns], args=args)
        except FAILURES as exc:
            self._lost(exc)
            return
        self._answered = time.monotonic()

    def _returns(self, entry: Entry, now: float) -> list[tuple[str, int, int]]:
        """Take what is left of ``entry``'s leases out of this process: what to give back."""
        out = []
        for meter in (entry.quota, entry.bytes, entry.burst):
            if meter.end > now and (meter.held or meter.balance):
                out.append((meter.key, meter.balance, meter.held))
            meter.balance = meter.held = meter.last_grant = 0
            meter.low = -1
        return out

    # Redis away and back -----------------------------------------------------------------------------
    def _lost(self, exc: BaseException) -> None:
        if not self.shared:
            return
        self.shared = False
        self.entries = {}  # the leases in hand stay taken in Redis; counting goes on without them
        policy = (
            "each gateway process counts plan limits with its node's own counters (fail_open)"
            if self.fail_open
            else "calls to plans with limits are answered 503 (fail_closed)"
        )
        log.warning("Redis at %s unreachable (%s): %s until it answers again", self.shown_url(), exc, policy)
        self._spawn(self._reset_connections())

    async def _reset_connections(self) -> None:
        with contextlib.suppress(*FAILURES):
            await self.redis.connection_pool.disconnect()

    def shown_url(self) -> str:
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"

    async def maintain_forever(self) -> None:
        """Give back idle leases; notice Redis going away and coming back."""
        while True:
            await asyncio.sleep(TICK)
            try:
                if not self.shared:
                    await self.redis.ping()
                    self._answered = time.monotonic()
                    self.shared = True
                    log.warning("Redis at %s reachable again: plan limits shared again", self.shown_url())
                    continue
                now = self.clock()
                for subscription_id, entry in list(self.entries.items()):
                    if not self.shared:
                        break  # a return failed: the leases are dropped
                    if entry.busy or entry.waiters or now - entry.used_at < LEASE_IDLE:
                        continue
                    self.entries.pop(subscription_id, None)
                    await self._settle(self._returns(entry, now))
                if time.monotonic() - self._answered >= HEALTH_INTERVAL:
                    await self.redis.ping()
                    self._answered = time.monotonic()
            except FAILURES as exc:
                self._lost(exc)
                await asyncio.sleep(HEALTH_INTERVAL - TICK)  # asks again every HEALTH_INTERVAL
            except Exception:
                log.exception("plan-limit lease upkeep failed")

    async def settled(self) -> None:
        """Wait for the lease requests and returns in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Give every lease back (what is left of it) and close the connections."""
        await self.settled()
        if self.shared:
            now = self.clock()
            entries, self.entries = self.entries, {}
            for entry in entries.values():
                await self._settle(self._returns(entry, now))
        with contextlib.suppress(*FAILURES):
            await self.redis.aclose()
