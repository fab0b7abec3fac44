"""The NATS usage sink: a node's spool writer forwards its batches to JetStream.

``write`` returns once JetStream has acknowledged (stored) every message of the batch; only then
does the spool writer move past those events, so a NATS outage keeps them in the spool and only
delays billing. The ``tollway meter`` consumers (:mod:`tollway.metering.meter`) store them in the
database. The spool writer calls ``write`` from a thread; the connection lives on an event loop
of its own, in a thread of its own, for as long as the sink.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from nats.aio.client import Client
from nats.js import JetStreamContext

from tollway.metering.events import SinkUnavailable, UsageEvent
from tollway.metering.nats_stream import (
    MESSAGE_ID,
    OUTAGES,
    REQUEST_TIMEOUT,
    StreamSettings,
    connect,
    ensure_stream,
    messages,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
CALL_LIMIT = 60.0  # seconds


class NatsSink:
    """A :class:`~tollway.metering.events.UsageSink` whose store is a JetStream stream."""

    def __init__(self, settings: StreamSettings, name: str = "tollway-gateway") -> None:
        self.settings = settings
        self.name = name
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats-sink", daemon=True)
        self._thread.start()
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        self._connecting: asyncio.Future[tuple[Client, JetStreamContext]] | None = None

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        # Bounded: connect and publish have timeouts of their own; this only guards against a hang.
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(CALL_LIMIT)

    def write(self, events: Sequence[UsageEvent]) -> int:
        """Send the batch; returns its size once JetStream holds all of it. Raises otherwise
        (the spool writer backs off and sends the same events again)."""
        if not events:
            return 0
        try:
            return self._call(self._send(events))
        except OUTAGES as exc:
            raise SinkUnavailable(
                f"NATS at {self.settings.shown_url()} did not take the usage events "
                f"({type(exc).__name__}: {exc or 'no answer'})"
            ) from exc

    async def _send(self, events: Sequence[UsageEvent]) -> int:
        js, max_payload = await self._stream()
        sends = [
            js.publish(
                self.settings.subject,
                payload,
                timeout=REQUEST_TIMEOUT,
                stream=self.settings.stream,
                headers={MESSAGE_ID: message_id},
            )
            for message_id, payload in messages(events, max_payload)
        ]
        await asyncio.gather(*sends)
        return len(events)

    async def _stream(self) -> tuple[JetStreamContext, int]:
        if self._client is None or self._client.is_closed:
            # One connect at a time, kept across writes: it waits for a NATS that is away, and
            # each write waits for it only so long (then the writer backs off and comes again).
            if self._connecting is None or self._connecting.done():
                self._connecting = asyncio.ensure_future(self._connect())
            self._client, self._js = await asyncio.wait_for(asyncio.shield(self._connecting), REQUEST_TIMEOUT)
        assert self._client is not None and self._js is not None
        return self._js, self._client.max_payload

    async def _connect(self) -> tuple[Client, JetStreamContext]:
        client = await connect(self.settings, self.name)
        try:
            js = client.jetstream(timeout=REQUEST_TIMEOUT)
            await ensure_stream(js, self.settings)
        except BaseException:
            await client.close()
            raise
        log.info("usage events go to NATS at %s, stream %s", self.settings.shown_url(), self.settings.stream)
        return client, js

    def close(self) -> None:
        """Close the connection and stop its loop (what was acknowledged is in JetStream)."""
        if self._thread.is_alive():
            with contextlib.suppress(Exception):
                self._call(self._close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()

    async def _close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            with contextlib.suppress(BaseException):
                await self._connecting
        client, self._client, self._js = self._client, None, None
        if client is not None and not client.is_closed:
            await client.close()
