"""The hot path: one raw asyncio protocol per client connection, httptools for parsing.

A request goes through, all in callbacks on the event loop and with dictionary look-ups only:
route (path prefix -> API; a path with dot segments is normalised first and refused when it climbs
out of its API, see :mod:`tollway.gateway.paths`), credential (SHA-256 of the token or key ->
application), subscription (application -> API -> subscription, must be UNBLOCKED), plan limits,
then the request head is rebuilt (credentials and hop-by-hop headers removed, ``X-Forwarded-*``
added) and written to a pooled keep-alive backend connection; the body streams through as it
arrives. The backend's answer is relayed byte for byte. Each exchange ends with exactly one usage
event, recorded before the last bytes of the answer leave (see :mod:`tollway.metering.recorder`).

Back-pressure both ways: a full backend socket pauses reading from the client and a full client
socket pauses reading from the backend, so no body is ever buffered without bound.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from functools import partial
from hashlib import sha256
from typing import TYPE_CHECKING

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from tollway.gateway import responses
from tollway.gateway.deadlines import Deadlines
from tollway.gateway.health import HEALTH_PATH, health_answer
from tollway.gateway.limits import PENDING, retry_after
from tollway.gateway.paths import NO_CLIMB, remove_dot_segments
from tollway.gateway.responses import Answer
from tollway.gateway.snapshot import ApiRoute, Backend, Credential, SubscriptionEntry
from tollway.gateway.upstream import HeadAnswer, UpstreamConnection, UpstreamPool

if TYPE_CHECKING:
    from tollway.gateway.core import Gateway

# What on_header does with each header name (lower case); absent = forwarded as is.
AUTHORIZATION, APIKEY, HOST, XFF, TRANSFER_ENCODING, EXPECT, DROP = range(7)
HEADER_KINDS = {
    b"authorization": AUTHORIZATION,
    b"apikey": APIKEY,
    b"host": HOST,
    b"x-forwarded-for": XFF,
    b"transfer-encoding": TRANSFER_ENCODING,
    b"expect": EXPECT,
    # Hop-by-hop (RFC 9110 7.6.1) and the forwarding headers the gateway sets itself.
    b"connection": DROP,
    b"keep-alive": DROP,
    b"proxy-connection": DROP,
    b"proxy-authorization": DROP,
    b"te": DROP,
    b"trailer": DROP,
    b"upgrade": DROP,
    b"x-forwarded-proto": DROP,
    b"x-forwarded-host": DROP,
}
SEP = b": "
CRLF = b"\r\n"
FORWARDED_HTTP = b"X-Forwarded-Proto: http\r\n"
FORWARDED_HTTPS = b"X-Forwarded-Proto: https\r\n"
QUESTION = ord("?")
HTTP11_HOST = b" HTTP/1.1\r\nHost: "
LAST_CHUNK = b"0\r\n\r\n"
CHUNKED = b"Transfer-Encoding: chunked\r\n"
STATUS_CLIENT_GONE = 499  # nginx's "client closed request": recorded, never billed


class Exchange:
    """One request and its answer.

    No ``__slots__``: class-level defaults make creating one (on every request) cheaper than
    assigning thirty slots.
    """

    url = b""
    method = b"GET"
    auth: bytes | None = None
    apikey: bytes | None = None
    host: bytes | None = None
    xff: bytes | None = None
    chunked = False
    expect = False
    keep_alive = True
    head_only = False
    request_done = False
    req_bytes = 0
    resp_bytes = 0
    status = 0
    from_backend = False
    route: ApiRoute | None = None
    tenant_id = ""
    app_id: str | None = None
    sub: SubscriptionEntry | None = None
    prepaid_period = 0.0  # the period a prepaid call is counted in (tollway.gateway.prepaid)
    refusal: Answer | None = None
    head = b""
    body: list[bytes] | None = None
    body_sent = False
    upstream: UpstreamConnection | None = None
    pool: UpstreamPool | None = None
    deadline: set[Exchange] | None = None  # the tick set of tollway.gateway.deadlines
    started = False
    activity = False
    retried = False
    alive = True
    unrecorded = False
    sandbox = False  # the credential is a sandbox one (kept while the plan limits are decided)

    def __init__(self, owner: ClientConnection, start: float) -> None:
        self.owner = owner
        self.start = start
        self.fwd: list[bytes] = []


class ClientConnection(asyncio.Protocol):
    __slots__ = (
        "backpressure",
        "closed",
        "current",
        "eof",
        "forwarded_proto",
        "gw",
        "hold",
        "idle_since",
        "parser",
        "parsing",
        "peer",
        "pending",
        "transport",
        "write_paused",
    )

    def __init__(self, gateway: Gateway, *, tls: bool = False) -> None:
        self.gw = gateway
        # What the backend is told of the listener this call came in on.
        self.forwarded_proto = FORWARDED_HTTPS if tls else FORWARDED_HTTP
        self.parser = HttpRequestParser(self)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set at connection_made
        self.peer = b""
        self.parsing: Exchange | None = None  # the request being read
        self.current: Exchange | None = None  # the request being answered
        self.pending: deque[Exchange] | None = None  # pipelined requests waiting their turn
        self.hold = False  # reading paused while a request waits (credentials, connection, turn)
        self.backpressure = False  # reading paused because the backend socket is full
        self.write_paused = False
        self.closed = False
        self.eof = False
        self.idle_since = 0.0

    # asyncio protocol ---------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = str(peer[0]).encode() if peer else b""
        self.idle_since = self.gw.loop.time()
        self.gw.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.closed:
            return
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade:
            self._reject(responses.NOT_IMPLEMENTED)
        except HttpParserError:
            self._reject(responses.BAD_REQUEST)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.gw.connections.discard(self)
        gone = [self.current, *(self.pending or ())]
        if self.parsing is not None and self.parsing not in gone:
            gone.append(self.parsing)
        self.current = self.parsing = self.pending = None
        for exchange in gone:
            if exchange is not None and exchange.alive:
                self._abandon(exchange)

    def eof_received(self) -> bool:
        """The client half-closed: answer what it asked, then close (True keeps the socket open)."""
        self.eof = True
        return self.current is not None or bool(self.pending)

    def pause_writing(self) -> None:
        self.write_paused = True
        current = self.current
        if current is not None and current.upstream is not None:
            current.upstream.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        current = self.current
        if current is not None and current.upstream is not None:
            current.upstream.transport.resume_reading()

    # reading control ------------------------------------------------------------------------------
    def _set_hold(self, hold: bool) -> None:
        if hold != self.hold:
            self.hold = hold
            self._apply_reading()

    def pause_client_reading(self) -> None:
        self.backpressure = True
        self._apply_reading()

    def resume_client_reading(self) -> None:
        self.backpressure = False
        self._apply_reading()

    def _apply_reading(self) -> None:
        if self.closed:
            return
        if self.hold or self.backpressure:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    # httptools callbacks --------------------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.parsing = Exchange(self, self.gw.loop.time())

    def on_url(self, url: bytes) -> None:
        exchange = self.parsing
        if exchange is not None:
            exchange.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        exchange = self.parsing
        if exchange is None:
            return
        exchange.req_bytes += len(name) + len(value) + 4
        kind = HEADER_KINDS.get(name.lower())
        if kind is None:
            exchange.fwd += (name, SEP, value, CRLF)
        elif kind == AUTHORIZATION:
            exchange.auth = value
        elif kind == APIKEY:
            exchange.apikey = value
        elif kind == HOST:
            exchange.host = value
        elif kind == XFF:
            exchange.xff = value
        elif kind == TRANSFER_ENCODING:
            exchange.chunked = b"chunked" in value.lower()
        elif kind == EXPECT:
            exchange.expect = b"100-continue" in value.lower()
            exchange.fwd += (name, SEP, value, CRLF)

    def on_headers_complete(self) -> None:
        exchange = self.parsing
        if exchange is None:
            return
        parser = self.parser
        exchange.method = method = parser.get_method()
        exchange.keep_alive = parser.should_keep_alive()
        exchange.head_only = method == b"HEAD"
        exchange.req_bytes += len(method) + len(exchange.url) + 12
        if self.current is None:
            self.current = exchange
            self._dispatch(exchange)
        else:  # pipelined: answers go out in order, so it waits its turn
            if self.pending is None:
                self.pending = deque()
            self.pending.append(exchange)
            self._set_hold(True)

    def on_body(self, body: bytes) -> None:
        exchange = self.parsing
        if exchange is None:
            return
        exchange.req_bytes += len(body)
        if not exchange.alive or exchange.refusal is not None:
            return  # answered already: the rest of the body is read and dropped
        if exchange.chunked:
            body = b"%x\r\n%b\r\n" % (len(body), body)
        upstream = exchange.upstream
        if upstream is not None:
            exchange.body_sent = True
            upstream.transport.write(body)
        else:
            if exchange.body is None:
                exchange.body = []
            exchange.body.append(body)
            self._set_hold(True)

    def on_message_complete(self) -> None:
        exchange = self.parsing
        if exchange is None:
            return
        self.parsing = None
        exchange.request_done = True
        if not exchange.alive:
            return
        if exchange.refusal is not None:
            if exchange is self.current:
                self._answer(exchange, exchange.refusal)
            return
        if exchange.chunked:
            upstream = exchange.upstream
            if upstream is not None:
                upstream.transport.write(LAST_CHUNK)
            else:
                if exchange.body is None:
                    exchange.body = []
                exchange.body.append(LAST_CHUNK)

    # decisions ----------------------------------------------------------------------------------
    def _dispatch(self, exchange: Exchange) -> None:
        gw = self.gw
        snap = gw.snapshot
        url = exchange.url
        query = url.find(b"?")
        path = url if query < 0 else url[:query]
        # A dot segment starts "/." or "/%2" (tollway.gateway.paths); other paths skip that work.
        if b"/." in path or b"/%2" in path:
            route = self._route_dotted(exchange, path, url[len(path) :])
            if route is None:
                return
        else:
            route = snap.route(path)
            if route is None:
                if path == HEALTH_PATH and exchange.method == b"GET":
                    exchange.unrecorded = True  # a probe, not a call of anyone's
                    self._refuse(exchange, health_answer(gw))
                    return
                exchange.tenant_id = snap.tenant_of_path(path)
                self._refuse(exchange, responses.NO_SUCH_API)
                return
        exchange.route = route
        exchange.tenant_id = route.tenant_id
        auth = exchange.auth
        if auth is not None and auth[:7].lower() == b"bearer ":
            digest = sha256(auth[7:].strip()).hexdigest()
            credential = gw.tokens.get(digest)
            is_key = False
        elif exchange.apikey is not None:
            digest = sha256(exchange.apikey.strip()).hexdigest()
            credential = snap.api_keys.get(digest) or gw.extra_keys.get(digest)
            is_key = True
            if auth is not None:  # not ours (e.g. Basic for the backend): passed on
                exchange.fwd += (b"Authorization", SEP, auth, CRLF)
        else:
            self._refuse(exchange, responses.MISSING_CREDENTIALS)
            return
        if credential is None:
            if gw.known_invalid(digest):
                self._refuse(exchange, responses.INVALID_CREDENTIALS)
            elif gw.look_up(digest, is_key, exchange):
                self._set_hold(True)  # resumed by credential_found / credential_unknown
            else:
                self._refuse(exchange, responses.CREDENTIALS_BACKLOG)
            return
        self._authorized(exchange, credential)

    def _route_dotted(self, exchange: Exchange, path: bytes, query: bytes) -> ApiRoute | None:
        """Route a path that may hold dot segments on its normalised form (None: refused).

        A ``..`` may remove only segments after the API's prefix: one that climbs into the prefix
        (the most segments any prefix has when none matches) or above the root is refused with 400,
        before credentials, forwarding or billing. The backend gets the normalised path.
        """
        snap = self.gw.snapshot
        normal, floor = remove_dot_segments(path) if path[:1] == b"/" else (path, NO_CLIMB)
        route = snap.route(normal)
        if floor < (route.prefix.count(b"/") if route is not None else snap.max_segments):
            exchange.tenant_id = snap.tenant_of_path(path)
            self._refuse(exchange, responses.PATH_ESCAPES)
            return None
        if route is None:
            exchange.tenant_id = snap.tenant_of_path(normal)
            self._refuse(exchange, responses.NO_SUCH_API)
            return None
        exchange.url = normal + query
        return route

    def credential_found(self, exchange: Exchange, credential: Credential | None) -> None:
        """The database answered a credential look-up (None: no such live credential)."""
        if not exchange.alive:
            return
        if credential is None:
            self._refuse(exchange, responses.INVALID_CREDENTIALS)
        else:
            self._authorized(exchange, credential)

    def credential_unverifiable(self, exchange: Exchange) -> None:
        if exchange.alive:
            self._refuse(exchange, responses.CREDENTIALS_BACKLOG)

    def _authorized(self, exchange: Exchange, credential: Credential) -> None:
        gw = self.gw
        now = time.time()
        if credential.expires_at <= now:
            self._refuse(exchange, responses.EXPIRED_CREDENTIALS)
            return
        app = gw.snapshot.applications.get(credential.application_id)
        if app is None:
            self._refuse(exchange, responses.INVALID_CREDENTIALS)
            return
        exchange.app_id = app.id
        route = exchange.route
        assert route is not None
        sub = app.subscriptions.get(route.id)
        if sub is None:
            self._refuse(exchange, responses.NOT_SUBSCRIBED)
            return
        exchange.sub = sub
        if sub.status != "UNBLOCKED" and not (sub.status == "PROD_ONLY_BLOCKED" and credential.sandbox):
            self._refuse(exchange, responses.blocked(sub.status))
            return
        if sub.prepaid is not None:
            period = gw.wallets.admit(sub, now)
            if period == PENDING:  # a lease of the wallet's calls from Redis (gateway.redis_wallets)
                exchange.sandbox = credential.sandbox
                self._set_hold(True)  # resumed by wallet_decided
                gw.wallets.admit_later(sub, partial(self.wallet_decided, exchange))
                return
            if period < 0:
                self._refuse(exchange, gw.wallet_refusal(sub, period))
                return
            exchange.prepaid_period = period
        self._check_limits(exchange, sub, now, credential.sandbox)

    def wallet_decided(self, exchange: Exchange, period: float) -> None:
        """The wallet of a held prepaid call is decided (``admit``'s answer, never PENDING)."""
        if not exchange.alive:
            if period > 0 and exchange.sub is not None:
                self.gw.wallets.uncount(exchange.sub, period)
            return
        sub = exchange.sub
        assert sub is not None
        if period < 0:
            self._refuse(exchange, self.gw.wallet_refusal(sub, period))
            return
        exchange.prepaid_period = period
        self._check_limits(exchange, sub, time.time(), exchange.sandbox)

    def _check_limits(self, exchange: Exchange, sub: SubscriptionEntry, now: float, sandbox: bool) -> None:
        gw = self.gw
        route = exchange.route
        assert route is not None
        plan = sub.plan
        if plan.quota or plan.burst or plan.quota_bytes:
            wait = gw.limiter.admit(sub.id, plan, now)
            if wait:
                if wait > 0:
                    self._refuse(exchange, responses.too_many(retry_after(wait), gw.limiter.quota_refused))
                elif wait == PENDING:  # the limiter asks Redis for a lease (tollway.gateway.redis_limits)
                    exchange.sandbox = sandbox
                    self._set_hold(True)  # resumed by limits_decided
                    gw.limiter.admit_later(sub.id, plan, partial(self.limits_decided, exchange))
                else:
                    self._refuse(exchange, responses.LIMITS_UNAVAILABLE)
                return
        self._admitted(exchange, route, sandbox)

    def limits_decided(self, exchange: Exchange, wait: float) -> None:
        """The plan limits of a held call are decided (``admit``'s answer, never PENDING)."""
        if not exchange.alive:
            return
        if wait > 0:
            self._refuse(exchange, responses.too_many(retry_after(wait), self.gw.limiter.quota_refused))
        elif wait:
            self._refuse(exchange, responses.LIMITS_UNAVAILABLE)
        else:
            route = exchange.route
            assert route is not None
            self._admitted(exchange, route, exchange.sandbox)

    def _admitted(self, exchange: Exchange, route: ApiRoute, sandbox: bool) -> None:
        gw = self.gw
        if gw.recorder.full:
            exchange.unrecorded = True  # recording the refusal would grow the full buffer
            self._refuse(exchange, responses.METERING_FULL)
            return
        backend = route.sandbox if sandbox and route.sandbox is not None else route.production
        if backend is None:
            self._refuse(exchange, responses.NO_BACKEND)
            return
        self._forward(exchange, route, backend)

    def _refuse(self, exchange: Exchange, answer: Answer) -> None:
        """Answer now if the request is fully read (or the client awaits 100-continue), else at its end."""
        if exchange.request_done:
            self._answer(exchange, answer)
        elif exchange.expect:
            self._answer(exchange, answer, close=True)
        else:
            exchange.refusal = answer
            self._set_hold(False)  # keep reading: the body is dropped, then the answer goes

    # forwarding -----------------------------------------------------------------------------------
    def _forward(self, exchange: Exchange, route: ApiRoute, backend: Backend) -> None:
        url = exchange.url
        rest = url[len(route.prefix) :]
        target = backend.raw_path + rest if not rest or rest[0] == QUESTION else backend.base_path + rest
        xff = exchange.xff
        parts = [exchange.method, b" ", target, HTTP11_HOST, backend.host_header, CRLF]
        parts += exchange.fwd
        parts += (b"X-Forwarded-For: ", xff + b", " + self.peer if xff else self.peer, CRLF)
        parts.append(self.forwarded_proto)
        if exchange.host is not None:
            parts += (b"X-Forwarded-Host: ", exchange.host, CRLF)
        if exchange.chunked:
            parts.append(CHUNKED)
        parts.append(CRLF)
        exchange.head = b"".join(parts)
        gw = self.gw
        gw.deadlines.add(exchange, exchange.start + route.timeout)
        pool = exchange.pool = gw.pool_for(backend)
        conn = pool.acquire(exchange)
        if conn is not None:
            self.attach(exchange, conn)
        else:
            self._set_hold(True)

    def attach(self, exchange: Exchange, conn: UpstreamConnection) -> None:
        """Send the request on ``conn`` (now, or when the pool hands one over)."""
        exchange.upstream = conn
        conn.exchange = exchange
        if exchange.head_only:
            conn.head = HeadAnswer()
        body = exchange.body
        if body:
            exchange.body = None
            exchange.body_sent = True
            conn.transport.write(exchange.head + b"".join(body))
        else:
            conn.transport.write(exchange.head)
        if self.write_paused:
            conn.transport.pause_reading()
        if exchange is self.current and not self.pending:
            self._set_hold(False)

    def upstream_data(self, exchange: Exchange, data: bytes, done: bool) -> None:
        exchange.resp_bytes += len(data)
        exchange.started = True
        if not done:
            exchange.activity = True
            self.transport.write(data)
            return
        conn = exchange.upstream
        exchange.upstream = None
        assert conn is not None
        reusable = conn.keep_alive and exchange.request_done
        # The answer is relayed as the backend framed it: one the backend ends by closing (or
        # marks "Connection: close") ends the client's connection too. A HEAD answer is
        # re-rendered with keep-alive, so only the backend connection goes.
        ends_connection = not conn.keep_alive and not exchange.head_only
        conn.reset()
        if reusable:
            if self.write_paused:
                conn.transport.resume_reading()
            exchange.pool.release(conn)  # type: ignore[union-attr]
        else:
            conn.transport.close()
        self._complete(exchange, data, close=ends_connection or not exchange.keep_alive)

    def upstream_lost(self, exchange: Exchange, conn: UpstreamConnection) -> None:
        """The backend closed the connection before the answer was complete."""
        if not exchange.alive:
            return
        exchange.upstream = None
        if exchange.started:  # part of the answer went out: the client must see it cut short
            self._complete(exchange, b"", close=True)
        elif conn.reused and not exchange.body_sent and not exchange.retried and exchange.pool:
            # A keep-alive connection the backend had just closed: send again on a fresh one.
            exchange.retried = True
            retry = exchange.pool.acquire(exchange)
            if retry is not None:
                self.attach(exchange, retry)
        else:
            self._answer(exchange, responses.BACKEND_FAILED, close=not exchange.request_done)

    def upstream_broken(self, exchange: Exchange, conn: UpstreamConnection) -> None:
        """The backend sent something that is not HTTP."""
        conn.exchange = None
        exchange.upstream = None
        conn.transport.close()
        if exchange.started:
            self._complete(exchange, b"", close=True)
        else:
            self._answer(exchange, responses.BACKEND_FAILED, close=not exchange.request_done)

    def upstream_unreachable(self, exchange: Exchange, *, timed_out: bool) -> None:
        answer = responses.BACKEND_TIMEOUT if timed_out else responses.BACKEND_UNREACHABLE
        self._answer(exchange, answer, close=not exchange.request_done)

    def timed_out(self, exchange: Exchange) -> None:
        """The exchange's deadline passed (see tollway.gateway.deadlines)."""
        if not exchange.alive:
            return
        conn = exchange.upstream
        if exchange.started:
            if exchange.activity:  # still streaming: another period of grace
                exchange.activity = False
                route = exchange.route
                timeout = route.timeout if route else 30.0
                self.gw.deadlines.add(exchange, self.gw.loop.time() + timeout)
                return
            assert conn is not None
            exchange.upstream = None
            conn.exchange = None
            conn.transport.close()
            self._complete(exchange, b"", close=True)
            return
        if conn is not None:
            exchange.upstream = None
            conn.exchange = None
            conn.transport.close()
        elif exchange.pool is not None:
            exchange.pool.forget(exchange)
        self._answer(exchange, responses.BACKEND_TIMEOUT, close=not exchange.request_done)

    # endings ----------------------------------------------------------------------------------------
    def _answer(self, exchange: Exchange, answer: Answer, close: bool = False) -> None:
        close = close or not exchange.keep_alive
        data = answer.close if close else answer.keep
        exchange.status = answer.status
        exchange.from_backend = False
        exchange.resp_bytes = len(data)
        self._complete(exchange, data, close)

    def _complete(self, exchange: Exchange, data: bytes, close: bool) -> None:
        """The one way an exchange ends: meter it, send the last bytes, move on."""
        exchange.alive = False
        if exchange.deadline is not None:
            Deadlines.discard(exchange)
        gw = self.gw
        gw.meter(exchange)
        # The last bytes leave once the event is in the spool: a crash then loses nothing.
        if self.eof and not self.pending:
            close = True
        if close:
            self.closed = True
        gw.recorder.after_spooled(self._send_last, data, close)
        if self.current is exchange:
            self.current = None
        self.idle_since = gw.loop.time()
        if close:
            return
        if self.pending:
            self.gw.loop.call_soon(self._next)
        elif self.hold:
            self._set_hold(False)

    def _send_last(self, data: bytes, close: bool) -> None:
        if data:
            self.transport.write(data)
        if close:
            self.transport.close()

    def _next(self) -> None:
        if self.closed or self.current is not None or not self.pending:
            return
        exchange = self.pending.popleft()
        self.current = exchange
        if not self.pending:
            self._set_hold(False)
        self._dispatch(exchange)

    def _abandon(self, exchange: Exchange) -> None:
        """The client went away while this exchange was open."""
        exchange.alive = False
        if exchange.deadline is not None:
            Deadlines.discard(exchange)
        conn = exchange.upstream
        if conn is not None:
            exchange.upstream = None
            conn.exchange = None
            conn.transport.close()
        elif exchange.pool is not None:
            exchange.pool.forget(exchange)
        if not exchange.from_backend:
            exchange.status = STATUS_CLIENT_GONE
        self.gw.meter(exchange)

    def _reject(self, answer: Answer) -> None:
        """A request that cannot be parsed: answer and close (nothing to route or bill)."""
        exchange = self.parsing or Exchange(self, self.gw.loop.time())
        self.parsing = None
        exchange.tenant_id = self.gw.snapshot.default_tenant_id
        if self.current is not None and self.current is not exchange:
            self._close()
            return
        self.current = exchange
        self._answer(exchange, answer, close=True)

    def _close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()

    def close_if_idle(self, before: float) -> None:
        """Close a keep-alive connection idle since ``before``, or one still sending a request head."""
        if self.current is None and self.idle_since < before:
            parsing = self.parsing
            if parsing is None or parsing.start < before:
                self._close()
