"""The control-plane ASGI application: REST APIs, identity, portals, webhooks, scheduler."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import text
from sqlalchemy.orm import Session

from tollway import __version__
from tollway.db.session import run_post_commit
from tollway.errors_http import install_error_handlers
from tollway.runtime import Runtime

log = logging.getLogger(__name__)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_session(request: Request) -> Iterator[Session]:
    """One request = one transaction: committed when the endpoint returns, rolled back on error."""
    runtime = get_runtime(request)
    session = runtime.session_factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        session.info.pop("post_commit", None)
        raise
    finally:
        session.close()
    run_post_commit(session)


def create_app(runtime: Runtime) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for start in runtime.extras.get("on_startup", []):
            await start()
        try:
            yield
        finally:
            for stop in reversed(runtime.extras.get("on_shutdown", [])):
                await stop()

    app = FastAPI(title="Tollway control plane", version=__version__, lifespan=lifespan, docs_url=None)
    app.state.runtime = runtime
    install_error_handlers(app)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "UP", "version": __version__}

    for router in _domain_routers():
        app.include_router(router)
    return app


def _domain_routers() -> list[APIRouter]:
    """Each domain package contributes its router(s); listed here so the app's surface is explicit."""
    from tollway.auth.endpoints import router as identity
    from tollway.billing.stripe.endpoints import stripe_routers
    from tollway.monetization.endpoints import monetization_routers
    from tollway.portals import portal_routers
    from tollway.rest.routers import rest_routers
    from tollway.tenants.endpoints import router as tenants
    from tollway.users.scim_endpoints import router as scim_users
    from tollway.users.signup import router as sign_up

    return [
        *portal_routers(),
        *rest_routers(),
        *monetization_routers(),
        *stripe_routers(),
        identity,
        scim_users,
        sign_up,
        tenants,
    ]
