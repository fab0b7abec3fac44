"""Keep-alive connections to backends: a raw asyncio protocol per connection, a pool per backend.

The response is not re-encoded: the bytes the backend sends are relayed to the client as they
come (chunked framing included), and httptools only tells where the response ends. Callbacks go
to the client connection that owns the exchange (see :mod:`tollway.gateway.proxy`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections import deque
from typing import TYPE_CHECKING, Any

from httptools import HttpParserError, HttpResponseParser

from tollway.gateway.snapshot import Backend

if TYPE_CHECKING:
    from tollway.gateway.proxy import Exchange

log = logging.getLogger(__name__)


class HeadAnswer:
    """The answer to a HEAD request, re-rendered from its parsed head.

    llhttp cannot be told that an answer has no body, and backends do send bodies to HEAD
    requests; so the status line and headers are collected and sent on their own, and the
    connection is not reused.
    """

    DROP = frozenset((b"connection", b"keep-alive"))

    def __init__(self) -> None:
        self.parser = HttpResponseParser(self)
        self.reason = b""
        self.lines: list[bytes] = []
        self.status = 0
        self.complete = False

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() not in self.DROP:
            self.lines.append(name + b": " + value + b"\r\n")

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # interim answers are not passed on for HEAD
            self.reason, self.lines = b"", []
            return
        self.status = status
        self.complete = True

    def render(self) -> bytes:
        return b"HTTP/1.1 %d %b\r\n%bConnection: keep-alive\r\n\r\n" % (
            self.status,
            self.reason,
            b"".join(self.lines),
        )


class UpstreamConnection(asyncio.Protocol):
    __slots__ = (
        "closed",
        "done",
        "exchange",
        "head",
        "interim",
        "keep_alive",
        "parser",
        "pool",
        "reused",
        "transport",
    )

    def __init__(self, pool: UpstreamPool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set at connection_made
        self.parser = HttpResponseParser(self)
        self.exchange: Exchange | None = None
        self.reused = False
        self.closed = False
        self.done = False
        self.interim = False
        self.keep_alive = True
        self.head: HeadAnswer | None = None

    # asyncio protocol ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None:  # nothing asked: a confused backend; never reuse this connection
            self.transport.close()
            return
        head = self.head
        try:
            (self.parser if head is None else head.parser).feed_data(data)
        except HttpParserError:
            self.keep_alive = False
            exchange.owner.upstream_broken(exchange, self)
            return
        if head is None:
            exchange.owner.upstream_data(exchange, data, self.done)
        elif head.complete:
            self.head = None
            self.keep_alive = False
            exchange.status = head.status
            exchange.from_backend = True
            exchange.owner.upstream_data(exchange, head.render(), True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.lost(self)
        exchange = self.exchange
        if exchange is not None:
            self.exchange = None
            exchange.owner.upstream_lost(exchange, self)

    def pause_writing(self) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.owner.pause_client_reading()

    def resume_writing(self) -> None:
        exchange = self.exchange
        if exchange is not None:
            exchange.owner.resume_client_reading()

    # httptools callbacks ------------------------------------------------------------------------
    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self.interim = True  # 100 Continue and friends: relayed, the real answer follows
            return
        self.keep_alive = self.parser.should_keep_alive()
        exchange = self.exchange
        if exchange is not None:
            exchange.status = status
            exchange.from_backend = True

    def on_message_complete(self) -> None:
        if self.interim:
            self.interim = False
        else:
            self.done = True

    # lifecycle ------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Ready for the next request on this connection (it has now served one)."""
        self.reused = True
        self.exchange = None
        self.done = False
        self.interim = False


class UpstreamPool:
    """Connections to one backend: idle ones reused last-in first-out, at most ``limit`` open."""

    def __init__(
        self,
        backend: Backend,
        *,
        limit: int,
        connect_timeout: float,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.host = backend.host
        self.port = backend.port
        self.limit = limit
        self.connect_timeout = connect_timeout
        self.ssl_context = ssl_context if backend.tls else None
        self.server_hostname = backend.host if backend.tls else None
        self.idle: list[UpstreamConnection] = []
        self.waiters: deque[Exchange] = deque()
        self.open = 0  # connected or connecting
        self.connecting = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def acquire(self, exchange: Exchange) -> UpstreamConnection | None:
        """An idle connection now, or None: the exchange waits and gets one via ``attach``."""
        idle = self.idle
        while idle:
            conn = idle.pop()
            if not conn.closed:
                return conn
        self.waiters.append(exchange)
        self._fill()
        return None

    def forget(self, exchange: Exchange) -> None:
        """An exchange that stopped waiting (timed out, client gone)."""
        with contextlib.suppress(ValueError):
            self.waiters.remove(exchange)

    def release(self, conn: UpstreamConnection) -> None:
        if conn.closed:
            return
        waiters = self.waiters
        while waiters:
            exchange = waiters.popleft()
            if exchange.alive:
                exchange.owner.attach(exchange, conn)
                return
        self.idle.append(conn)

    def lost(self, conn: UpstreamConnection) -> None:
        self.open -= 1
        if not conn.exchange:
            with contextlib.suppress(ValueError):
                self.idle.remove(conn)
        if self.waiters:
            self._fill()

    def _fill(self) -> None:
        while self.connecting < len(self.waiters) and self.open < self.limit:
            self.open += 1
            self.connecting += 1
            task = asyncio.get_running_loop().create_task(self._connect())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        error: Any = None
        conn: UpstreamConnection | None = None
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: UpstreamConnection(self),
                    self.host,
                    self.port,
                    ssl=self.ssl_context,
                    server_hostname=self.server_hostname,
                ),
                self.connect_timeout,
            )
        except TimeoutError:
            error = "timeout"
        except (OSError, ssl.SSLError) as exc:
            error = exc
        finally:
            self.connecting -= 1
        if conn is not None:
            self.release(conn)
            return
        self.open -= 1
        while self.waiters:  # one waiter learns of the failure; the others get their own attempt
            exchange = self.waiters.popleft()
            if exchange.alive:
                exchange.owner.upstream_unreachable(exchange, timed_out=error == "timeout")
                break
        self._fill()

    def close(self) -> None:
        for conn in self.idle:
            conn.transport.close()
        self.idle.clear()
        for task in self.tasks:
            task.cancel()
