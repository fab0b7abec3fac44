"""One gateway process's state and the background tasks that keep it current.

- The snapshot is reloaded (in a worker thread) when the ``gateway`` change counter moves; the
  counter is polled every ``snapshot_poll_interval`` seconds, so a control-plane change is
  enforced within that interval plus the reload time.
- Access tokens are created by the token endpoint without bumping the counter. A token the
  gateway has not seen is looked up by digest: the waiting requests' digests are collected and
  resolved together: one query per batch, one batch at a time and at most one every
  ``LOOKUP_INTERVAL`` (10 ms), so a flood of garbage tokens costs at most 100 queries a second
  per gateway process however fast it comes, never one query per request. Digests found to be unknown
  are remembered (bounded, for ``NEGATIVE_TTL`` seconds); when ``MAX_PENDING`` distinct digests
  are already waiting, further unknown ones are answered 503 at once. Known tokens are
  re-validated by digest on every reload (so a revocation that bumps the counter takes effect).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from tollway.gateway import responses
from tollway.gateway.deadlines import Deadlines
from tollway.gateway.limits import UNAVAILABLE, Limiter
from tollway.gateway.prepaid import STALE, WalletGuard
from tollway.gateway.redis_wallets import RedisWalletGuard
from tollway.gateway.responses import Answer
from tollway.gateway.shared_limits import SharedCounterTable
from tollway.gateway.snapshot import Backend, Credential, Snapshot, SubscriptionEntry
from tollway.gateway.upstream import UpstreamPool
from tollway.metering.recorder import UsageRecorder

if TYPE_CHECKING:
    from tollway.gateway.proxy import ClientConnection, Exchange

log = logging.getLogger(__name__)

NEGATIVE_TTL = 60.0
NEGATIVE_LIMIT = 100_000
MAX_PENDING = 10_000
LOOKUP_BATCH = 500
LOOKUP_INTERVAL = 0.01  # seconds between credential look-up queries: at most 100 per second
IDLE_CLIENT_TIMEOUT = 75.0  # seconds a keep-alive client connection may sit idle (nginx default)

LoadSnapshot = Callable[[], Snapshot]
CurrentVersion = Callable[[], int]
LoadCredentials = Callable[[list[str], list[str]], tuple[dict[str, Credential], dict[str, Credential]]]


def billable_table(classes: list[str]) -> tuple[bool, ...]:
    """Billable flag by status class (index = status // 100)."""
    chosen = {int(c[0]) for c in classes}
    return tuple(i in chosen for i in range(10))


class Gateway:
    def __init__(
        self,
        *,
        snapshot: Snapshot,
        recorder: UsageRecorder,
        load_snapshot: LoadSnapshot,
        current_version: CurrentVersion,
        load_credentials: LoadCredentials,
        billable_classes: list[str],
        max_connections_per_backend: int,
        connect_timeout: float,
        poll_interval: float,
        limiter: Limiter | None = None,
        wallets: WalletGuard | RedisWalletGuard | None = None,
        sink_name: str = "database",
    ) -> None:
        self.loop = asyncio.get_running_loop()
        self.snapshot = snapshot
        self.recorder = recorder
        # Shared by the workers of one gateway (tollway.gateway.shared_limits), else this process's.
        self.limiter = limiter or Limiter()
        # Prepaid calls counted in the same shared memory as the limits (tollway.gateway.prepaid).
        self.wallets: WalletGuard | RedisWalletGuard = wallets or WalletGuard(SharedCounterTable(1024))
        if isinstance(self.wallets, RedisWalletGuard):
            self.wallets.on_reset = self._reload_for_wallets
        self.deadlines = Deadlines(self.loop)
        self.tokens: dict[str, Credential] = {}
        # API keys found by look-up that the snapshot did not have yet.
        self.extra_keys: dict[str, Credential] = {}
        self._invalid: dict[str, float] = {}
        self._waiting: dict[tuple[bool, str], list[Exchange]] = {}
        self._lookup_wake = asyncio.Event()
        self.pools: dict[tuple[str, int, bool], UpstreamPool] = {}
        self.connections: set[ClientConnection] = set()
        self.billable = billable_table(billable_classes)
        self._load_snapshot = load_snapshot
        self._current_version = current_version
        self._load_credentials = load_credentials
        self._max_connections = max_connections_per_backend
        self._connect_timeout = connect_timeout
        self._poll_interval = poll_interval
        self._ssl_context: ssl.SSLContext | None = None
        self.reloads = 0
        self.lookups = 0  # credential look-up queries (one per batch of unknown digests)
        self.unrecorded = 0  # answers not metered: 503s while the metering buffer was full, probes
        self.sink_name = sink_name  # [metering] sink, for the health answer

    # per request ------------------------------------------------------------------------------------
    def pool_for(self, backend: Backend) -> UpstreamPool:
        pool = self.pools.get(backend.key)
        if pool is None:
            if backend.tls and self._ssl_context is None:
                self._ssl_context = ssl.create_default_context()
            pool = self.pools[backend.key] = UpstreamPool(
                backend,
                limit=self._max_connections,
                connect_timeout=self._connect_timeout,
                ssl_context=self._ssl_context,
            )
        return pool

    def meter(self, exchange: Exchange) -> None:
        sub = exchange.sub
        if exchange.unrecorded:
            self.unrecorded += 1
            if exchange.prepaid_period and sub is not None:
                self.wallets.uncount(sub, exchange.prepaid_period)
            return
        route = exchange.route
        status = exchange.status
        billable = exchange.from_backend and self.billable[status // 100 % 10]
        if exchange.prepaid_period and not billable and sub is not None:
            self.wallets.uncount(sub, exchange.prepaid_period)
        # By keyword: the names are UsageEvent's fields, so mypy checks each value's place.
        self.recorder.record(
            time=time.time_ns() // 1000,
            tenant_id=exchange.tenant_id,
            api_id=route.id if route is not None else None,
            application_id=exchange.app_id,
            subscription_id=sub.id if sub is not None else None,
            tier=sub.plan.name if sub is not None else None,
            status=status,
            billable=billable,
            latency_us=int((self.loop.time() - exchange.start) * 1_000_000),
            request_bytes=exchange.req_bytes,
            response_bytes=exchange.resp_bytes,
        )
        if sub is not None and sub.plan.quota_bytes and exchange.from_backend:
            self.limiter.add_bytes(sub.id, exchange.req_bytes + exchange.resp_bytes)

    def wallet_refusal(self, sub: SubscriptionEntry, why: float) -> Answer:
        prepaid = sub.prepaid
        if why == STALE or prepaid is None:
            return responses.WALLET_STALE
        if why == UNAVAILABLE:
            return responses.WALLET_UNAVAILABLE
        available, price = self.wallets.refused
        if prepaid.cap:
            return responses.spend_cap_reached(sub.id, prepaid.wallet.currency, prepaid.wallet.balance, price)
        # A call that costs nothing is refused for the period's fee (FixedRate).
        return responses.payment_required(
            prepaid.wallet.currency, available, price, 0 if price else prepaid.fee
        )

    def known_invalid(self, digest: str) -> bool:
        until = self._invalid.get(digest)
        if until is None:
            return False
        if until > self.loop.time():
            return True
        del self._invalid[digest]
        return False

    def look_up(self, digest: str, is_key: bool, exchange: Exchange) -> bool:
        """Queue ``exchange`` behind a database look-up of ``digest``; False when too many wait."""
        key = (is_key, digest)
        waiting = self._waiting.get(key)
        if waiting is not None:
            waiting.append(exchange)
            return True
        if len(self._waiting) >= MAX_PENDING:
            return False
        self._waiting[key] = [exchange]
        self._lookup_wake.set()
        return True

    # background tasks -------------------------------------------------------------------------------
    async def resolve_credentials_forever(self) -> None:
        last = -LOOKUP_INTERVAL
        while True:
            await self._lookup_wake.wait()
            self._lookup_wake.clear()
            while self._waiting:
                # At most one query per LOOKUP_INTERVAL: misses arriving meanwhile join the batch.
                pause = last + LOOKUP_INTERVAL - self.loop.time()
                if pause > 0:
                    await asyncio.sleep(pause)
                last = self.loop.time()
                batch = list(self._waiting)[:LOOKUP_BATCH]
                tokens = [d for is_key, d in batch if not is_key]
                keys = [d for is_key, d in batch if is_key]
                self.lookups += 1
                try:
                    found_tokens, found_keys = await asyncio.to_thread(self._load_credentials, tokens, keys)
                except Exception:
                    log.exception("credential look-up failed")
                    for key in batch:
                        for exchange in self._waiting.pop(key, ()):
                            exchange.owner.credential_unverifiable(exchange)
                    await asyncio.sleep(0.1)
                    continue
                self.tokens.update(found_tokens)
                self.extra_keys.update(found_keys)
                expiry = self.loop.time() + NEGATIVE_TTL
                for key in batch:
                    is_key, digest = key
                    credential = (found_keys if is_key else found_tokens).get(digest)
                    if credential is None:
                        self._remember_invalid(digest, expiry)
                    for exchange in self._waiting.pop(key, ()):
                        exchange.owner.credential_found(exchange, credential)

    def _remember_invalid(self, digest: str, expiry: float) -> None:
        invalid = self._invalid
        if len(invalid) >= NEGATIVE_LIMIT:  # drop the oldest half (dicts keep insertion order)
            for old in list(invalid)[: NEGATIVE_LIMIT // 2]:
                del invalid[old]
        invalid[digest] = expiry

    async def refresh_forever(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self._poll_interval)
            try:
                version = await asyncio.to_thread(self._current_version)
                if version != self.snapshot.version:
                    await self.reload()
                failures = 0
            except Exception:
                failures += 1
                if failures == 1 or failures % 100 == 0:
                    log.exception(
                        "gateway snapshot refresh failed (%d in a row); serving the last one", failures
                    )

    async def reload(self) -> None:
        snapshot = await asyncio.to_thread(self._load_snapshot)
        tokens, keys = await asyncio.to_thread(
            self._load_credentials, list(self.tokens), list(self.extra_keys)
        )
        self.snapshot = snapshot
        self.tokens = tokens
        self.extra_keys = {k: v for k, v in keys.items() if k not in snapshot.api_keys}
        self._invalid.clear()
        self.reloads += 1

    def _reload_for_wallets(self) -> None:
        """Redis lost the prepaid counts: the snapshot's stored calls stand in for them."""
        self.loop.create_task(self._reload_then_count())

    async def _reload_then_count(self) -> None:
        while True:
            try:
                await self.reload()
                break
            except Exception:
                log.exception("gateway snapshot reload for the prepaid counts failed; trying again")
                await asyncio.sleep(1.0)
        if isinstance(self.wallets, RedisWalletGuard):
            self.wallets.reloaded()

    async def sweep_forever(self, interval: float = 5.0) -> None:
        """Close idle keep-alive clients and forget expired tokens."""
        while True:
            await asyncio.sleep(interval)
            cutoff = self.loop.time() - IDLE_CLIENT_TIMEOUT
            for conn in list(self.connections):
                conn.close_if_idle(cutoff)
            now = time.time()
            expired = [d for d, c in self.tokens.items() if c.expires_at <= now]
            for digest in expired:
                del self.tokens[digest]

    def close_pools(self) -> None:
        for pool in self.pools.values():
            pool.close()
