"""Start-up of a full instance: listen, migrate, bootstrap, then serve until told to stop.

Every port is bound first, so that a second instance on them ends at once, with the port named,
before it reads or writes anything of the data folder (the running one's spool above all).

Like WSO2 API Manager, the control plane answers HTTPS on ``[server] port`` (9443) and plain
HTTP on ``http_port`` (9763; 0 = off), with the configured certificate or, by default, the
instance's self-signed one (:mod:`tollway.security.certificates`). One app serves both: the
HTTPS listener runs the app's lifespan, the HTTP one starts once it has.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
import socket
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import uvicorn

from tollway.bootstrap import admin_password, ensure_default_tenant, is_loopback
from tollway.config import Settings
from tollway.db import migrate
from tollway.db.session import transaction
from tollway.gateway.process import check_ports, start_gateway
from tollway.gateway.server import GatewaySockets, bind_gateway, listen_on
from tollway.metering.meter import DRAIN_LIMIT, run_meters, wait_until_drained
from tollway.metering.nats_stream import StreamSettings
from tollway.runtime import Runtime
from tollway.scheduler import run_scheduler
from tollway.security.certificates import with_certificate
from tollway.web.app import create_app
from tollway.wiring import create_runtime

log = logging.getLogger(__name__)

# Background services started beside the control plane (gateway, metering, scheduler).
# Each takes the runtime and returns a coroutine that runs until cancelled.
ServiceStarter = Callable[[Runtime], Coroutine[Any, Any, None]]
SIGNALS = (signal.SIGINT, signal.SIGTERM)


def prepare(settings: Settings) -> Runtime:
    """Everything before listening: data folder, keys, TLS certificate, schema, default tenant and admin."""
    if not is_loopback(settings.server.host):
        admin_password(settings.server.host)  # fail fast, before touching the database
    settings = with_certificate(settings)
    runtime = create_runtime(settings)
    migrate.upgrade(runtime.engine)
    with transaction(runtime.session_factory) as session:
        ensure_default_tenant(session, settings.server.host)
    return runtime


def background_services(runtime: Runtime, gateway: GatewaySockets | None = None) -> list[ServiceStarter]:
    """``gateway``: the gateway's sockets, when bound already (:func:`bind_ports`)."""
    metering = runtime.settings.metering
    with_meters = metering.sink == "nats" and metering.consumers > 0
    run = _gateway_and_meters if with_meters else _gateway
    return [functools.partial(run, sockets=gateway), run_scheduler]


async def _gateway(runtime: Runtime, sockets: GatewaySockets | None = None) -> None:
    await start_gateway(runtime.settings, runtime.engine, sockets)


async def _gateway_and_meters(runtime: Runtime, sockets: GatewaySockets | None = None) -> None:
    """The gateway and ``[metering] consumers`` meters storing what the nodes send to NATS.

    Stopping, the gateway goes first (its last events go to NATS), then the meters store what the
    stream holds (for up to ``DRAIN_LIMIT`` seconds: other nodes may keep sending) and stop once
    their batch is committed and acknowledged."""
    metering = runtime.settings.metering
    stop = asyncio.Event()
    meters = asyncio.create_task(run_meters(metering, runtime.engine, metering.consumers, stop))
    try:
        await start_gateway(runtime.settings, runtime.engine, sockets)
        await asyncio.shield(meters)  # no gateway in this process: the meters run until cancelled
    finally:
        if not meters.done():
            await wait_until_drained(StreamSettings.of(metering), DRAIN_LIMIT)
        stop.set()
        await meters


def uvicorn_config(app: object, settings: Settings, port: int, *, tls: bool = True) -> uvicorn.Config:
    """The listener on ``port``: HTTPS with the settings' certificate when ``tls``, plain HTTP
    without (it then leaves the app's lifespan to the HTTPS listener)."""
    options: dict[str, Any] = {"lifespan": "on"}
    if not tls:
        options["lifespan"] = "off"
    elif settings.server.tls_cert and settings.server.tls_key:
        options["ssl_certfile"] = str(settings.server.tls_cert)
        options["ssl_keyfile"] = str(settings.server.tls_key)
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.server.host,
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_config=None,
        **options,
    )


class _Listener(uvicorn.Server):
    """A uvicorn server that leaves SIGINT/SIGTERM to :func:`serve_forever`, which stops both."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class Listener:
    server: uvicorn.Server
    sock: socket.socket
    url: str


def _url(scheme: str, host: str, port: int) -> str:
    shown = "localhost" if is_loopback(host) else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{scheme}://{shown}:{port}"


@dataclass
class Ports:
    """What ``tollway serve`` listens on, bound before it touches the data folder."""

    control: list[tuple[int, bool, socket.socket]]  # port, HTTPS?, socket (HTTPS first)
    gateway: GatewaySockets | None = None  # None: off, or its worker processes bind them

    def close(self) -> None:
        for _, _, sock in self.control:
            sock.close()
        if self.gateway is not None:
            self.gateway.close()


def bind_ports(settings: Settings) -> Ports:
    """Every port, or a :class:`ConfigError` naming the one that is taken."""
    server = settings.server
    ports = Ports([])
    try:
        for key, port, tls in [("port", server.port, True), ("http_port", server.http_port, False)]:
            if port:
                ports.control.append((port, tls, listen_on(server.host, port, key)))
        if settings.gateway.enabled and settings.gateway.workers > 1:
            check_ports(server.host, server.gateway_port, server.gateway_https_port)
        elif settings.gateway.enabled:  # HTTPS too when set: serve always has a certificate
            ports.gateway = bind_gateway(server.host, server.gateway_port, server.gateway_https_port)
    except BaseException:
        ports.close()
        raise
    return ports


def control_plane_listeners(
    app: object, settings: Settings, bound: list[tuple[int, bool, socket.socket]]
) -> list[Listener]:
    """The control plane's servers on its ``bound`` sockets."""
    host = settings.server.host
    return [
        Listener(
            _Listener(uvicorn_config(app, settings, port, tls=tls)),
            sock,
            _url("https" if tls else "http", host, port),
        )
        for port, tls, sock in bound
    ]


async def serve_listeners(listeners: list[Listener], stop: asyncio.Event) -> None:
    """Serve on every listener until ``stop`` is set or one of them ends (a failed start-up)."""
    first, *others = listeners
    tasks = [asyncio.create_task(first.server.serve(sockets=[first.sock]))]
    while not first.server.started:  # until the app's lifespan has run (or failed)
        done, _ = await asyncio.wait(tasks, timeout=0.01)
        if done:
            break
    if first.server.started:
        tasks += [asyncio.create_task(lst.server.serve(sockets=[lst.sock])) for lst in others]
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait([stopping, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    for listener in reversed(listeners):  # plain HTTP first, the lifespan's listener last
        listener.server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)
    for listener in listeners:
        listener.sock.close()


async def serve_forever(settings: Settings) -> None:
    # The ports first: a second instance on them ends here, before it reads or writes anything
    # of the data folder (spool, keys, certificate) that the running one uses.
    ports = bind_ports(settings)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    listeners: list[Listener] = []

    def on_signal() -> None:
        if stop.is_set():  # a second Ctrl-C: do not wait for open connections
            for listener in listeners:
                listener.server.force_exit = True
        stop.set()

    # From here a stop is a clean one, even while preparing: it ends once prepared.
    for signum in SIGNALS:
        loop.add_signal_handler(signum, on_signal)
    runtime: Runtime | None = None
    try:
        runtime = await asyncio.to_thread(prepare, settings)
        if stop.is_set():
            log.info("stopped before serving")
            return
        app = create_app(runtime)
        listeners += control_plane_listeners(app, runtime.settings, ports.control)
        await _serve(runtime, listeners, ports.gateway, stop)
    finally:
        for signum in SIGNALS:
            loop.remove_signal_handler(signum)
        ports.close()  # those still here: the servers closed theirs
        if runtime is not None:
            runtime.close()


async def _serve(
    runtime: Runtime, listeners: list[Listener], gateway: GatewaySockets | None, stop: asyncio.Event
) -> None:
    """Serve with the background services until ``stop``; a service that fails stops it all
    and is raised (a gateway that cannot start is no reason to run without one)."""
    failed: list[BaseException] = []

    def ended(task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if error is not None and not stop.is_set():
            failed.append(error)
            stop.set()

    tasks = [asyncio.create_task(start(runtime)) for start in background_services(runtime, gateway)]
    for task in tasks:
        task.add_done_callback(ended)
    log.info("control plane on %s", " and ".join(listener.url for listener in listeners))
    log.info("open %s/devportal (publisher: /publisher, admin: /admin)", listeners[0].url)
    try:
        await serve_listeners(listeners, stop)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        log.info("stopped")
    if failed:
        raise failed[0]
