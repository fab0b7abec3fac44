"""A metering consumer (``tollway meter``): stores the usage events the gateway nodes sent to NATS.

Any number of consumers, on any machine, share one durable pull consumer of the stream
(:mod:`tollway.metering.nats_stream`), so each message goes to one of them. A consumer fetches
a few messages, stores all their events in one transaction of the database sink (idempotent by
event id: an id is claimed only by the transaction that stores it, so a failed write never marks
an event as seen) and acknowledges the messages only after the commit. A consumer killed before
its acknowledgement loses nothing: JetStream gives the messages to another after
``[metering] nats_ack_wait``, and the events stored already are not counted twice. While the
database refuses a batch its messages are given back (with a growing delay) and nothing is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from sqlalchemy import Engine

from tollway.config import MeteringSettings, Settings
from tollway.db.session import make_engine
from tollway.metering.database import DatabaseSink
from tollway.metering.events import UsageEvent, UsageSink
from tollway.metering.nats_stream import (
    OUTAGES,
    REQUEST_TIMEOUT,
    StreamSettings,
    connect,
    ensure_stream,
)
from tollway.metering.spool import decode_lines

log = logging.getLogger(__name__)

FETCH_MESSAGES = 4  # messages (of up to [metering] batch_size events each) per transaction
FETCH_WAIT = 1.0  # seconds one fetch waits for a first message when the stream is empty
MAX_BACKOFF = 5.0
DRAIN_LIMIT = 10.0  # seconds a stopping `tollway serve` lets its meters empty the stream


@dataclass
class MeterStats:
    messages: int = 0
    stored: int = 0  # events stored (new or already there)
    new: int = 0  # of those, events not stored before
    failures: int = 0  # in a row
    last_store: float = field(default=0.0)  # monotonic time of the last commit


class Meter:
    """One consumer; ``run`` until ``stop`` is set."""

    def __init__(self, settings: StreamSettings, sink: UsageSink, name: str = "tollway-meter") -> None:
        self.settings = settings
        self.sink = sink
        self.name = name
        self.stats = MeterStats()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                client = await _unless_stopped(connect(self.settings, self.name), stop)
            except Exception as exc:  # refused (credentials, TLS): say so, try again
                log.warning("meter: cannot connect to NATS at %s (%r)", self.settings.shown_url(), exc)
                await _wait(stop, MAX_BACKOFF)
                continue
            if client is None:
                return
            try:
                await self._consume(client, stop)
            except OUTAGES as exc:
                log.warning("meter: NATS at %s away (%r); reconnecting", self.settings.shown_url(), exc)
                await _wait(stop, 1.0)
            except Exception:
                log.exception("meter: consuming failed; reconnecting")
                await _wait(stop, 1.0)
            finally:
                await client.close()

    async def _consume(self, client: Client, stop: asyncio.Event) -> None:
        js = client.jetstream(timeout=REQUEST_TIMEOUT)
        await ensure_stream(js, self.settings)
        subscription = await self._subscribe(js)
        log.info(
            "meter: storing usage from NATS at %s, stream %s, consumer %s",
            self.settings.shown_url(),
            self.settings.stream,
            self.settings.consumer,
        )
        while not stop.is_set():
            try:
                batch = await subscription.fetch(FETCH_MESSAGES, timeout=FETCH_WAIT)
            except nats.errors.TimeoutError:
                continue
            await self._store(batch, stop)

    async def _subscribe(self, js: JetStreamContext) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(
            durable_name=self.settings.consumer,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.settings.ack_wait,
            max_ack_pending=-1,
        )
        return await js.pull_subscribe(
            self.settings.subject, durable=self.settings.consumer, stream=self.settings.stream, config=config
        )

    async def _store(self, batch: list[Msg], stop: asyncio.Event) -> None:
        events: list[UsageEvent] = []
        for message in batch:
            events.extend(event for event in decode_lines(message.data) if event is not None)
        try:
            new = await asyncio.to_thread(self.sink.write, events)
        except Exception:
            stats = self.stats
            stats.failures += 1
            delay = min(MAX_BACKOFF, 0.1 * 2.0 ** (stats.failures - 1))
            # The first failure of an outage with its traceback, the rest in one line each: a
            # database away for minutes must not flood the log (or block on a full pipe).
            first = stats.failures == 1
            log.log(
                logging.ERROR if first else logging.WARNING,
                "meter: storing %d usage events failed (%d in a row); they go back to the stream%s",
                len(events),
                stats.failures,
                "" if first else f" ({_summary(sys.exc_info()[1])})",
                exc_info=first,
            )
            for message in batch:
                await message.nak(delay=delay)
            await _wait(stop, delay)
            return
        # After the commit: a lost acknowledgement only makes the events come again, counted once.
        for message in batch:
            await message.ack()
        stats = self.stats
        if stats.failures:
            log.info("meter: storing usage works again")
        stats.failures = 0
        stats.messages += len(batch)
        stats.stored += len(events)
        stats.new += new
        stats.last_store = time.monotonic()


def _summary(exc: BaseException | None) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


async def _unless_stopped(connecting: Coroutine[Any, Any, Client], stop: asyncio.Event) -> Client | None:
    """The connection (it waits for a NATS that is away, logging that once), or None once
    ``stop`` is set first."""
    task = asyncio.ensure_future(connecting)
    stopping = asyncio.ensure_future(stop.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    return None


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def wait_until_drained(settings: StreamSettings, limit: float) -> None:
    """Wait until the stream holds no message (all stored and acknowledged), at most ``limit``
    seconds; says how many are left to the next start or to other meters."""
    left: int | None = None
    try:
        async with asyncio.timeout(limit):
            client = await connect(settings, "tollway-drain")
            try:
                js = client.jetstream(timeout=REQUEST_TIMEOUT)
                # The count is the server's: there is no event here to wait on.
                while left := int((await js.stream_info(settings.stream)).state.messages):  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
            finally:
                await client.close()
    except OUTAGES as exc:  # TimeoutError among them: the limit passed
        log.warning(
            "meter: %s usage messages stay in NATS stream %s for the next meter (%s)",
            "some" if left is None else left,
            settings.stream,
            type(exc).__name__,
        )


async def run_meters(metering: MeteringSettings, engine: Engine, count: int, stop: asyncio.Event) -> None:
    """``count`` consumers storing through ``engine`` until ``stop`` is set."""
    settings = StreamSettings.of(metering)
    sink = DatabaseSink(engine)
    meters = [Meter(settings, sink, f"tollway-meter-{n}") for n in range(count)]
    await asyncio.gather(*(meter.run(stop) for meter in meters))


async def run_meter_process(settings: Settings, consumers: int = 1) -> None:
    """``tollway meter``: consumers against the shared database, stopped by SIGINT or SIGTERM
    (a batch being stored is committed and acknowledged first)."""
    if settings.metering.sink != "nats":
        log.warning("meter: [metering] sink is %r; gateways send nothing to NATS", settings.metering.sink)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    engine = make_engine(settings.database_url, pool_size=max(2, consumers))
    try:
        await run_meters(settings.metering, engine, consumers, stop)
    finally:
        engine.dispose()
    log.info("meter stopped")
