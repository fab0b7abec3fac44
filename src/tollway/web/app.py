"""The control-plane ASGI application: REST APIs, identity, portals, engine webhooks."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import text

from tollway import __version__
from tollway.rest.errors import install_error_handlers
from tollway.runtime import Runtime
from tollway.web.methods import install_method_handling
from tollway.web.routers import ROUTERS


def create_app(runtime: Runtime) -> FastAPI:
    # The documents and their reference pages are tollway.web.openapi's and tollway.web.docs'
    # (FastAPI's own pages load their scripts from a CDN).
    app = FastAPI(
        title="Tollway control plane", version=__version__, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    install_method_handling(app)

    @app.get("/health", tags=["health"])
    def health() -> dict[str, str]:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "UP", "version": __version__}

    for router in ROUTERS:
        app.include_router(router)
    return app
