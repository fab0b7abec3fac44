"""Start-up of a full instance: migrate, bootstrap, then serve until told to stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import uvicorn

from tollway.bootstrap import admin_password, ensure_default_tenant, is_loopback
from tollway.config import Settings
from tollway.db import migrate
from tollway.db.session import transaction
from tollway.gateway.process import start_gateway
from tollway.runtime import Runtime
from tollway.scheduler import run_scheduler
from tollway.web.app import create_app
from tollway.wiring import create_runtime

log = logging.getLogger(__name__)

# Background services started beside the control plane (gateway, metering, scheduler).
# Each takes the runtime and returns a coroutine that runs until cancelled.
ServiceStarter = Callable[[Runtime], Coroutine[Any, Any, None]]


def prepare(settings: Settings) -> Runtime:
    """Everything before listening: data folder, keys, schema, default tenant and admin."""
    if not is_loopback(settings.server.host):
        admin_password(settings.server.host)  # fail fast, before touching the database
    runtime = create_runtime(settings)
    migrate.upgrade(runtime.engine)
    with transaction(runtime.session_factory) as session:
        ensure_default_tenant(session, settings.server.host)
    return runtime


def background_services(runtime: Runtime) -> list[ServiceStarter]:
    return [_gateway, run_scheduler]


async def _gateway(runtime: Runtime) -> None:
    await start_gateway(runtime.settings, runtime.engine)


def uvicorn_config(app: object, settings: Settings, port: int) -> uvicorn.Config:
    tls = {}
    if settings.server.tls_cert and settings.server.tls_key:
        tls = {"ssl_certfile": str(settings.server.tls_cert), "ssl_keyfile": str(settings.server.tls_key)}
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=settings.server.host,
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        **tls,  # type: ignore[arg-type]
    )


async def serve_forever(settings: Settings) -> None:
    runtime = await asyncio.to_thread(prepare, settings)
    app = create_app(runtime)
    server = uvicorn.Server(uvicorn_config(app, settings, settings.server.port))
    starters = background_services(runtime)
    tasks: list[asyncio.Task[None]] = [asyncio.create_task(start(runtime)) for start in starters]
    log.info("control plane on http://%s:%d", settings.server.host, settings.server.port)
    try:
        await server.serve()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        runtime.close()
        log.info("stopped")
