"""The in-process usage buffer: the gateway appends, a background task writes batches.

``record`` is on the gateway's hot path: it builds the event and appends it to a list and to
the spool queue; the events of one event-loop iteration go to the spool (crash protection) in
one ``write(2)`` before the answers that produced them are completed (``after_spooled``).

The flusher task hands batches of up to ``batch_size`` events to the sink every
``flush_interval`` seconds, or at once when a batch is full, in a worker thread. A batch that
fails stays at the head of the buffer and is retried with back-off, in order. When the buffer
holds ``buffer_limit`` events (the sink has been failing for a while) ``full`` turns true and
the gateway refuses new calls with 503 rather than serve unmetered traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable

from tollway.metering.events import UsageEvent, UsageSink
from tollway.metering.spool import Spool, encode

log = logging.getLogger(__name__)

MAX_BACKOFF = 5.0


class UsageRecorder:
    def __init__(
        self,
        sink: UsageSink,
        *,
        batch_size: int = 5000,
        flush_interval: float = 0.05,
        buffer_limit: int = 1_000_000,
        spool: Spool | None = None,
    ) -> None:
        self.sink = sink
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.buffer_limit = buffer_limit
        self.spool = spool
        # Unique across processes and restarts without coordination: 64 random bits + a counter.
        self._prefix = secrets.token_hex(8) + "-"
        self._seq = 0
        self._stored_seq = 0
        self._buffer: list[UsageEvent] = []
        self._unspooled: list[bytes] = []
        self._spool_scheduled = False
        self._after_spool: list[tuple[Callable[[bytes, bool], object], bytes, bool]] = []
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._failures = 0
        self.stored = 0  # events the sink reported as new

    @property
    def full(self) -> bool:
        return len(self._buffer) >= self.buffer_limit

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def record(
        self,
        at: float,
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
    ) -> None:
        self._seq = seq = self._seq + 1
        event = UsageEvent(
            f"{self._prefix}{seq:012x}",  # zero-padded: ids of a process sort in order (B-tree friendly)
            at,
            tenant_id,
            api_id,
            application_id,
            subscription_id,
            tier,
            status,
            billable,
            latency_us,
            request_bytes,
            response_bytes,
        )
        if self.spool is not None:
            self._unspooled.append(encode(event))
            if not self._spool_scheduled:
                self._spool_scheduled = True
                asyncio.get_running_loop().call_soon(self._write_spool)
        buffer = self._buffer
        buffer.append(event)
        if len(buffer) == self.batch_size:
            self._wake.set()

    def after_spooled(self, fn: Callable[[bytes, bool], object], data: bytes, flag: bool) -> None:
        """Call ``fn(data, flag)`` once the events recorded so far are in the spool.

        The gateway sends the last bytes of an answer this way, so a client never holds a
        complete answer whose event a crash could still lose.
        """
        if self._spool_scheduled:
            self._after_spool.append((fn, data, flag))
        else:
            fn(data, flag)

    def _write_spool(self) -> None:
        # One write(2) per event-loop iteration for all the events recorded in it.
        self._spool_scheduled = False
        lines, self._unspooled = self._unspooled, []
        if self.spool is not None and lines:
            self.spool.append(self._seq, b"".join(lines))
        waiting, self._after_spool = self._after_spool, []
        for fn, data, flag in waiting:
            fn(data, flag)

    async def run(self) -> None:
        """Flush until cancelled (the caller then awaits ``close``)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.flush_interval)
            self._wake.clear()
            if not await self.flush():
                await asyncio.sleep(min(MAX_BACKOFF, 0.1 * 2**self._failures))

    async def flush(self) -> bool:
        """Write everything buffered so far; False when the sink failed (events kept)."""
        async with self._lock:
            while self._buffer:
                batch = self._buffer[: self.batch_size]
                try:
                    self.stored += await asyncio.to_thread(self.sink.write, batch)
                except Exception:
                    self._failures += 1
                    log.exception("usage sink failed; %d events buffered, retrying", len(self._buffer))
                    return False
                self._failures = 0
                del self._buffer[: len(batch)]  # record() only appends, so the head is this batch
                self._stored_seq += len(batch)
                if self.spool is not None:
                    self.spool.stored(self._stored_seq)
            return True

    async def close(self, deadline: float = 10.0) -> bool:
        """Flush every buffered event (retrying until ``deadline`` seconds); True when all stored."""
        give_up = time.monotonic() + deadline
        if self._spool_scheduled:
            self._write_spool()
        done = await self.flush()
        while not done and time.monotonic() < give_up:
            await asyncio.sleep(
                min(MAX_BACKOFF, 0.1 * 2**self._failures, max(0.0, give_up - time.monotonic()))
            )
            done = await self.flush()
        if not done:
            log.error("%d usage events not stored at shutdown; the spool keeps them", len(self._buffer))
        if self.spool is not None:
            self.spool.close(everything_stored=done)
        self.sink.close()
        return done
