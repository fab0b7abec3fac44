"""Running one gateway process: listen, load, recover, serve, and stop without losing an event."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
import logging
import os
import socket
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine

from tollway.config import Settings
from tollway.errors import ConfigError
from tollway.gateway import snapshot_loader
from tollway.gateway.core import Gateway
from tollway.gateway.limits import Limiter
from tollway.gateway.prepaid import WalletGuard
from tollway.gateway.proxy import ClientConnection
from tollway.gateway.redis_limits import RedisLimiter
from tollway.gateway.redis_wallets import RedisWalletGuard
from tollway.gateway.shared_limits import SharedCounterTable, SharedLimiter
from tollway.metering.database import DatabaseSink
from tollway.metering.events import UsageSink
from tollway.metering.nats_sink import NatsSink
from tollway.metering.nats_stream import StreamSettings
from tollway.metering.priority import WriterPriority
from tollway.metering.progress import StoreProgress
from tollway.metering.recorder import UsageRecorder
from tollway.metering.spool import Spool
from tollway.metering.writer import SpoolWriter, drain, write_forever

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 10.0  # seconds in-flight requests get to finish at shutdown
SWITCH_INTERVAL = 0.0005


def make_sink(settings: Settings, engine: Engine) -> UsageSink:
    """``[metering] sink``: the database itself, or a JetStream stream that meters consume."""
    if settings.metering.sink == "nats":
        return NatsSink(StreamSettings.of(settings.metering))
    return DatabaseSink(engine)


def spool_writer(
    settings: Settings, engine: Engine, progress: StoreProgress, priority: WriterPriority | None = None
) -> SpoolWriter:
    """The writer that stores the spools of a node's gateway processes."""
    return SpoolWriter(
        settings.server.data_dir / "spool",
        make_sink(settings, engine),
        batch_size=settings.metering.batch_size,
        progress=progress,
        priority=priority,
    )


def make_limiter(settings: Settings, shared_limits: SharedCounterTable | None) -> Limiter:
    """The plan-limit counters of one gateway process: this node's (its own, or shared by its
    workers), or with ``[gateway] limits = "redis"`` leases from Redis, falling back on this
    node's when Redis is away and ``[redis] on_unavailable = "fail_open"``."""
    local = SharedLimiter(shared_limits) if shared_limits is not None else Limiter()
    if settings.gateway.limits != "redis":
        return local
    return RedisLimiter(settings.redis.url, on_unavailable=settings.redis.on_unavailable, fallback=local)


def make_wallet_guard(
    settings: Settings, shared_limits: SharedCounterTable | None
) -> WalletGuard | RedisWalletGuard:
    """Prepaid calls counted by this node (its workers together), or across nodes in Redis."""
    if settings.gateway.limits == "redis":
        return RedisWalletGuard(settings.redis.url)
    return WalletGuard(shared_limits or SharedCounterTable(settings.gateway.limit_slots))


def bind_socket(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:  # several worker processes accept on the same port; the kernel balances
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(4096)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def listen_on(host: str, port: int, key: str, *, reuse_port: bool = False) -> socket.socket:
    """``bind_socket``; a port it cannot have is a :class:`ConfigError` naming ``[server] key``."""
    try:
        return bind_socket(host, port, reuse_port=reuse_port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"[server] {key}: port {port} on {host} is already in use; is another Tollway"
                " running? Stop it or choose another port"
            ) from None
        raise ConfigError(f"[server] {key}: cannot listen on {host}:{port}: {exc.strerror}") from None


def check_free(host: str, port: int, key: str) -> None:
    """Fail like :func:`listen_on` when anything listens on ``port``: bound without
    SO_REUSEPORT, so the workers of another gateway on it count too."""
    listen_on(host, port, key).close()


@dataclass
class GatewaySockets:
    """The listening sockets of one gateway process, bound before its spool is opened."""

    http: socket.socket
    https: socket.socket | None = None

    def close(self) -> None:
        for sock in (self.http, self.https):
            if sock is not None:
                sock.close()


def bind_gateway(host: str, port: int, https_port: int, *, reuse_port: bool = False) -> GatewaySockets:
    """Plain HTTP on ``port`` and HTTPS on ``https_port`` (0 = none)."""
    sockets = GatewaySockets(listen_on(host, port, "gateway_port", reuse_port=reuse_port))
    if https_port:
        try:
            sockets.https = listen_on(host, https_port, "gateway_https_port", reuse_port=reuse_port)
        except ConfigError:
            sockets.close()
            raise
    return sockets


def server_tls(settings: Settings) -> ssl.SSLContext | None:
    """The HTTPS listener's context: ``[server] tls_cert``/``tls_key`` (``tollway serve`` and
    ``tollway gateway`` set them to the instance's self-signed certificate when not configured)."""
    cert, key = settings.server.tls_cert, settings.server.tls_key
    if not (cert and key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(str(cert), str(key))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"[server] tls_cert/tls_key: cannot load {cert} and {key}: {exc}") from None
    return context


async def run_gateway(
    settings: Settings,
    engine: Engine,
    *,
    host: str | None = None,
    port: int | None = None,
    https_port: int | None = None,
    reuse_port: bool = False,
    sockets: GatewaySockets | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Gateway, int], None] | None = None,
    shared_limits: SharedCounterTable | None = None,
    progress: StoreProgress | None = None,
    slot: int = 0,
) -> None:
    """Serve until ``stop`` is set or the task is cancelled; then drain and store every event.

    Plain HTTP on ``port`` (default ``[server] gateway_port``) and, when a certificate is set,
    HTTPS on ``https_port`` (default ``[server] gateway_https_port``; 0 = none); or on
    ``sockets``, bound by the caller.

    ``shared_limits``: the limit counters of the worker processes of one gateway; without it this
    process counts alone (the fastest: no lock). ``progress``: given to the worker processes of a
    supervisor, whose spool writer process stores their events; without it this process runs a
    spool writer of its own, in a thread.
    """
    # A writer thread holds the GIL while it builds a batch; Python's default 5 ms switch
    # interval would then stall the event loop (and every request's latency) for up to 5 ms.
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
    host = host or settings.server.host
    port = settings.server.gateway_port if port is None else port
    https_port = settings.server.gateway_https_port if https_port is None else https_port
    gw_settings, metering = settings.gateway, settings.metering
    spool_dir = settings.server.data_dir / "spool"
    # Listen first: a port that is taken ends this before the spool folder is touched.
    tls = server_tls(settings) if https_port else None
    if sockets is None:
        sockets = bind_gateway(host, port, https_port if tls else 0, reuse_port=reuse_port)
    elif tls is None and sockets.https is not None:
        sockets.https.close()
        sockets.https = None
    sock, tls_sock = sockets.http, sockets.https
    writer: SpoolWriter | None = None
    if progress is None:
        progress = StoreProgress(1)
        writer = spool_writer(settings, engine, progress)
    load = functools.partial(snapshot_loader.load_snapshot, engine, gw_settings.backend_timeout)
    try:
        snapshot = await asyncio.to_thread(load)
    except BaseException:
        sockets.close()
        raise
    spool = Spool(spool_dir)
    progress.claim(slot, os.getpid())
    recorder = UsageRecorder(spool, progress, slot, buffer_limit=metering.buffer_limit)
    gateway = Gateway(
        snapshot=snapshot,
        recorder=recorder,
        load_snapshot=load,
        current_version=functools.partial(snapshot_loader.current_version, engine),
        load_credentials=functools.partial(snapshot_loader.load_credentials, engine),
        billable_classes=list(gw_settings.billable_status_classes),
        max_connections_per_backend=gw_settings.max_connections_per_backend,
        connect_timeout=gw_settings.connect_timeout,
        poll_interval=gw_settings.snapshot_poll_interval,
        limiter=make_limiter(settings, shared_limits),
        wallets=make_wallet_guard(settings, shared_limits),
        sink_name=settings.metering.sink,
    )
    servers: list[asyncio.Server] = []
    try:  # from the spool's first segment on, a failure or a cancel still seals it
        spool.open()
        await _serve(servers, gateway, sockets, tls)
    except BaseException:
        await _shutdown(servers, gateway, recorder, writer, [])
        sockets.close()
        raise
    tasks = [
        asyncio.create_task(gateway.refresh_forever()),
        asyncio.create_task(gateway.resolve_credentials_forever()),
        asyncio.create_task(gateway.sweep_forever()),
    ]
    if writer is not None:
        tasks.append(asyncio.create_task(write_forever(writer, metering.flush_interval)))
    if isinstance(gateway.limiter, RedisLimiter):
        tasks.append(asyncio.create_task(gateway.limiter.maintain_forever()))
        log.info("gateway plan limits shared through Redis at %s", gateway.limiter.shown_url())
    if isinstance(gateway.wallets, RedisWalletGuard):
        tasks.append(asyncio.create_task(gateway.wallets.maintain_forever()))
    bound = sock.getsockname()[1]
    if tls_sock is not None:
        log.info("gateway on http://%s:%d and https://%s:%d", host, bound, host, tls_sock.getsockname()[1])
    else:
        log.info("gateway on http://%s:%d", host, bound)
    if on_ready is not None:
        on_ready(gateway, bound)
    cancelled = False
    try:
        await (stop.wait() if stop is not None else asyncio.Future())
    except asyncio.CancelledError:
        cancelled = True
    finally:
        await _shutdown(servers, gateway, recorder, writer, tasks)
    if cancelled:
        raise asyncio.CancelledError


async def _serve(
    servers: list[asyncio.Server], gateway: Gateway, sockets: GatewaySockets, tls: ssl.SSLContext | None
) -> None:
    """Start serving on ``sockets``; ``servers`` gets each server as it starts."""
    loop = asyncio.get_running_loop()
    servers.append(await loop.create_server(lambda: ClientConnection(gateway), sock=sockets.http))
    if sockets.https is not None:
        tls_server = await loop.create_server(
            lambda: ClientConnection(gateway, tls=True), sock=sockets.https, ssl=tls
        )
        servers.append(tls_server)


async def _shutdown(
    servers: list[asyncio.Server],
    gateway: Gateway,
    recorder: UsageRecorder,
    writer: SpoolWriter | None,
    tasks: list[asyncio.Task[None]],
) -> None:
    for server in servers:
        server.close()
    give_up = asyncio.get_running_loop().time() + SHUTDOWN_GRACE
    while asyncio.get_running_loop().time() < give_up:
        busy = [c for c in gateway.connections if c.current is not None or c.parsing is not None]
        if not busy:
            break
        await asyncio.sleep(0.02)
    recorder.flush()  # answers completed in this iteration still wait for their spool write
    for conn in list(gateway.connections):
        conn.transport.close()
    await asyncio.sleep(0.05)  # let connection_lost callbacks record abandoned exchanges
    for task in tasks:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.gather(*tasks, return_exceptions=True)
    if isinstance(gateway.limiter, RedisLimiter):
        await gateway.limiter.close()  # what is left of its leases goes back to the other nodes
    if isinstance(gateway.wallets, RedisWalletGuard):
        await gateway.wallets.close()
    spooled = recorder.close()
    gateway.close_pools()
    if writer is None:  # the supervisor's writer process stores the sealed spool
        log.info("gateway worker stopped; usage events %s", "all spooled" if spooled else "NOT all spooled")
        return
    stored_all = await asyncio.to_thread(drain, writer, SHUTDOWN_GRACE)
    writer.close()
    writer.sink.close()
    log.info("gateway stopped; usage events %s", "all stored" if stored_all else "kept in the spool")
