"""The JetStream stream between the gateway nodes' spool writers and the ``tollway meter`` consumers.

A message carries the spool lines of many events (the spool's own codec,
:mod:`tollway.metering.spool`), at most the server's ``max_payload``. The stream keeps a message
until a consumer acknowledges it (work-queue retention), on disk, so a consumer or NATS restart
loses nothing; all consumers share one durable pull consumer, so each message goes to one of
them at a time. The settings are ``[metering] nats_url``, ``nats_stream``, ``nats_subject``,
``nats_consumer`` and ``nats_ack_wait``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import nats
import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType
from nats.js.errors import NotFoundError

from tollway.config import MeteringSettings
from tollway.metering.events import UsageEvent
from tollway.metering.spool import encode

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 2  # seconds: a NATS that is away is found out quickly and tried again later
# Seconds JetStream gets to acknowledge a message or answer a request. A publish sent while the
# server restarts may never be answered; the writer sends it again after this (deduplicated).
REQUEST_TIMEOUT = 5.0
MESSAGE_ID = "Nats-Msg-Id"
HEADROOM = 1024  # bytes of a message kept for its headers and subject
# What NATS being away (stopped, restarting, unreachable) raises: retried, logged on one line.
OUTAGES: tuple[type[BaseException], ...] = (nats.errors.Error, TimeoutError, OSError)


@dataclass(frozen=True)
class StreamSettings:
    url: str
    stream: str
    subject: str
    consumer: str
    ack_wait: float

    @classmethod
    def of(cls, metering: MeteringSettings) -> StreamSettings:
        return cls(
            metering.nats_url,
            metering.nats_stream,
            metering.nats_subject,
            metering.nats_consumer,
            metering.nats_ack_wait,
        )

    def shown_url(self) -> str:
        """The servers without any credentials in them, for logs."""
        return ",".join(_without_credentials(url.strip()) for url in self.url.split(","))


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}" if parts.hostname else parts.scheme + "://"


class _Client(Client):
    """Knows whether its own ``close`` ended the connection (no outage to report then)."""

    closing = False

    async def close(self) -> None:
        self.closing = True
        await super().close()


async def connect(settings: StreamSettings, name: str) -> Client:
    """A connection that reconnects by itself for as long as it lives (the first connect too:
    it waits for a NATS that is away). Each outage is logged once, and its end."""
    client = _Client()
    shown = settings.shown_url()
    away = False

    def outage(detail: str) -> None:
        nonlocal away
        if not away and not client.closing:
            away = True
            log.warning("NATS at %s unreachable%s; usage waits until it is back", shown, detail)

    def back() -> None:
        nonlocal away
        if away:
            away = False
            log.info("NATS at %s reachable again", shown)

    async def error(exc: Exception) -> None:
        if client.is_connected:
            log.debug("NATS: %s", exc)
        else:
            outage(f" ({exc})")

    async def disconnected() -> None:
        outage("")

    async def reconnected() -> None:
        back()

    await client.connect(
        servers=[url.strip() for url in settings.url.split(",")],
        name=name,
        connect_timeout=CONNECT_TIMEOUT,
        allow_reconnect=True,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,  # type: ignore[arg-type]  # seconds, slept as given; hinted int
        error_cb=error,
        disconnected_cb=disconnected,
        reconnected_cb=reconnected,
    )
    back()
    return client


async def ensure_stream(js: JetStreamContext, settings: StreamSettings) -> None:
    """Create the stream when it does not exist (a stream made by an operator is left as it is)."""
    try:
        await js.stream_info(settings.stream)
    except NotFoundError:
        await js.add_stream(
            name=settings.stream,
            subjects=[settings.subject],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
        )
        log.info("created the JetStream stream %s for %s", settings.stream, settings.subject)


def messages(events: Sequence[UsageEvent], max_payload: int) -> list[tuple[str, bytes]]:
    """The batch as messages of at most ``max_payload`` bytes, each with its deduplication id.

    The id names the message's first and last event and its count: the same events sent again
    (a retry after a lost acknowledgement) are dropped by JetStream within its duplicate window;
    anything else sent twice is counted once by the store, which is idempotent by event id."""
    limit = max(4096, max_payload - HEADROOM)
    out: list[tuple[str, bytes]] = []
    lines: list[bytes] = []
    size = 0
    first = 0
    for index, event in enumerate(events):
        line = encode(event)
        if lines and size + len(line) > limit:
            out.append((_message_id(events, first, index), b"".join(lines)))
            lines, size, first = [], 0, index
        lines.append(line)
        size += len(line)
    if lines:
        out.append((_message_id(events, first, len(events)), b"".join(lines)))
    return out


def _message_id(events: Sequence[UsageEvent], start: int, end: int) -> str:
    return f"{events[start].id}/{events[end - 1].id}/{end - start}"
