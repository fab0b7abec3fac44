"""The gateway's side of metering: every answer's usage event goes to the spool before it ends.

``record`` is on the gateway's hot path: it encodes the event as a spool line and queues it; the
lines of one event-loop iteration go to the spool in one ``write(2)`` before the answers that
produced them are completed (``after_spooled``). Storing them is the spool writer's job
(:mod:`tollway.metering.writer`), in another thread or process, so the event loop never waits
for the database.

``full`` turns true when ``buffer_limit`` events are spooled but not stored yet (the database
has been refusing them for a while; the writer reports progress through
:class:`tollway.metering.progress.StoreProgress`) or when the spool cannot be written: the
gateway then refuses new calls with 503 rather than serve calls it could not bill. Lines the
spool refused are kept and written again on the next iteration.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

from tollway.metering.progress import StoreProgress
from tollway.metering.spool import Spool, encode_line

log = logging.getLogger(__name__)


class UsageRecorder:
    def __init__(
        self,
        spool: Spool,
        progress: StoreProgress,
        slot: int = 0,
        *,
        buffer_limit: int = 1_000_000,
    ) -> None:
        self.spool = spool
        self.progress = progress
        self.slot = slot
        self.buffer_limit = buffer_limit
        # Unique across processes and restarts without coordination: 64 random bits + a counter.
        self._prefix = secrets.token_hex(8) + "-"
        self._seq = 0
        self._lines: list[bytes] = []
        self._scheduled = False
        self._after_spool: list[tuple[Callable[[bytes, bool], object], bytes, bool]] = []
        self._spool_failing = False

    @property
    def full(self) -> bool:
        return self._spool_failing or self._seq - self.progress.stored_seq(self.slot) >= self.buffer_limit

    def record(
        self,
        *,
        time: int,
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
        """Spool one event: ``UsageEvent``'s fields but its id, ``time`` in integer microseconds.

        Keyword-only, so the caller is checked by name; the names and their order are those of
        ``events.FIELDS`` (tests/metering/test_event_fields.py), as encode_line takes them.
        """
        self._seq = seq = self._seq + 1
        self._lines.append(
            encode_line(
                f"{self._prefix}{seq:012x}",  # zero-padded: ids of a process sort in order (B-tree friendly)
                time,
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
        )
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._write_spool)

    def after_spooled(self, fn: Callable[[bytes, bool], object], data: bytes, flag: bool) -> None:
        """Call ``fn(data, flag)`` once the events recorded so far are in the spool.

        The gateway sends the last bytes of an answer this way, so a client never holds a
        complete answer whose event a crash could still lose.
        """
        if self._scheduled:
            self._after_spool.append((fn, data, flag))
        else:
            fn(data, flag)

    def flush(self) -> None:
        """Spool what is recorded now and send the answers that waited on it, without waiting
        for the next loop iteration: shutdown calls it just before closing the connections, so
        an answer whose event is spooled is never cut off by the close."""
        if self._scheduled and not self._spool_failing:
            self._write_spool()

    def _write_spool(self) -> None:
        # One write(2) per event-loop iteration for all the events recorded in it.
        self._scheduled = False
        if self._lines:
            try:
                self.spool.append(b"".join(self._lines))
            except OSError:
                if not self._spool_failing:
                    log.exception("the usage spool is not writable; new calls are refused (503)")
                self._spool_failing = True
                # Kept, written with the next iteration's lines; the loop retries until it works.
                self._scheduled = True
                asyncio.get_running_loop().call_later(0.1, self._write_spool)
            else:
                self._lines = []
                self.progress.record_spooled(self.slot, self._seq)
                if self._spool_failing:
                    log.warning("the usage spool is writable again")
                    self._spool_failing = False
        waiting, self._after_spool = self._after_spool, []
        for fn, data, flag in waiting:
            fn(data, flag)

    def close(self) -> bool:
        """Write what is queued and seal the spool; False when lines could not be written."""
        self._scheduled = False
        if self._lines:
            try:
                self.spool.append(b"".join(self._lines))
                self._lines = []
            except OSError:
                log.error("%d usage events could not be written to the spool at shutdown", len(self._lines))
        self.spool.close()
        return not self._lines
