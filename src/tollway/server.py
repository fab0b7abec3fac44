"""Start-up of a full instance: migrate, bootstrap, then serve until told to stop.

Like WSO2 API Manager, the control plane answers HTTPS on ``[server] port`` (9443) and plain
HTTP on ``http_port`` (9763; 0 = off), with the configured certificate or, by default, the
instance's self-signed one (:mod:`tollway.security.certificates`). One app serves both: the
HTTPS listener runs the app's lifespan, the HTTP one starts once it has.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from tollway.errors import ConfigError
from tollway.gateway.process import start_gateway
from tollway.gateway.server import bind_socket
from tollway.runtime import Runtime
from tollway.scheduler import run_scheduler
from tollway.security.certificates import with_certificate
from tollway.web.app import create_app
from tollway.wiring import create_runtime

log = logging.getLogger(__name__)

# Background services started beside the control plane (gateway, metering, scheduler).
# Each takes the runtime and returns a coroutine that runs until cancelled.
ServiceStarter = Callable[[Runtime], Coroutine[Any, Any, None]]


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


def background_services(runtime: Runtime) -> list[ServiceStarter]:
    return [_gateway, run_scheduler]


async def _gateway(runtime: Runtime) -> None:
    await start_gateway(runtime.settings, runtime.engine)


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


def control_plane_listeners(app: object, settings: Settings) -> list[Listener]:
    """Bind the control plane's ports (HTTPS first); a port that is taken is a :class:`ConfigError`."""
    server = settings.server
    wanted = [("port", server.port, True), ("http_port", server.http_port, False)]
    listeners: list[Listener] = []
    try:
        for key, port, tls in wanted:
            if not port:
                continue
            try:
                sock = bind_socket(server.host, port, reuse_port=False)
            except OSError as exc:
                raise ConfigError(
                    f"[server] {key}: cannot listen on {server.host}:{port}: {exc.strerror}"
                ) from None
            config = uvicorn_config(app, settings, port, tls=tls)
            listeners.append(
                Listener(_Listener(config), sock, _url("https" if tls else "http", server.host, port))
            )
    except BaseException:
        for listener in listeners:
            listener.sock.close()
        raise
    return listeners


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
    runtime = await asyncio.to_thread(prepare, settings)
    settings = runtime.settings
    try:
        app = create_app(runtime)
        listeners = control_plane_listeners(app, settings)
    except BaseException:
        runtime.close()
        raise
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal() -> None:
        if stop.is_set():  # a second Ctrl-C: do not wait for open connections
            for listener in listeners:
                listener.server.force_exit = True
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal)
    starters = background_services(runtime)
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(start(runtime)) for start in starters]
    log.info("control plane on %s", " and ".join(listener.url for listener in listeners))
    log.info("open %s/devportal (publisher: /publisher, admin: /admin)", listeners[0].url)
    try:
        await serve_listeners(listeners, stop)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        runtime.close()
        log.info("stopped")
