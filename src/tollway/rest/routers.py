"""The routers of the admin, publisher and developer-portal domain APIs, for ``app._domain_routers``."""

from __future__ import annotations

from fastapi import APIRouter


def rest_routers() -> list[APIRouter]:
    from tollway.apis.endpoints import publisher_router as apis
    from tollway.apis.endpoints import store_router as catalog
    from tollway.applications.endpoints import router as applications
    from tollway.policies.endpoints import router as policies
    from tollway.rest.openapi import router as documents
    from tollway.subscriptions.endpoints import publisher_router as api_subscriptions
    from tollway.subscriptions.endpoints import store_router as subscriptions

    return [policies, apis, api_subscriptions, catalog, applications, subscriptions, documents]
