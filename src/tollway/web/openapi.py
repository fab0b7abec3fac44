"""One OpenAPI document per REST API, served beside it (``{prefix}/openapi.json``), and the whole
control plane's at ``/openapi.json``.

The documents are cut from the control plane's own routes by path prefix, so an endpoint any
package registers under ``/api/am/publisher/v1`` appears in the publisher document without
further wiring. Paths are relative to the API's base path, given as the document's server, as
in WSO2's own documents. Operations list the OAuth2 scopes they accept.

FastAPI documents a 422 for every operation with parameters or a body; Tollway answers those
validation errors 400 with its error body (each router documents it), so the 422 is dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # pragma: no cover - FastAPI before nested routers
    iter_route_contexts = None  # type: ignore[assignment]

from tollway import __version__
from tollway.identity.principal import SCOPES_ATTRIBUTE
from tollway.identity.roles import ADMIN_SCOPES, ALL_SCOPES, DEVPORTAL_SCOPES, PUBLISHER_SCOPES
from tollway.rest.prefixes import ADMIN, PUBLISHER, STORE

SECURITY_SCHEME = "OAuth2Security"
WHOLE_APP = ""  # the document of every route, served at /openapi.json
DOCUMENTS = {
    WHOLE_APP: (
        "Tollway control plane",
        "The three REST APIs, OAuth2, client registration, SCIM 2.0, self sign-up and the billing"
        " engines' webhooks.",
        ALL_SCOPES,
    ),
    ADMIN: ("Tollway Admin API", "Business plans, tenants and monetization administration.", ADMIN_SCOPES),
    PUBLISHER: ("Tollway Publisher API", "APIs, their lifecycle and their subscriptions.", PUBLISHER_SCOPES),
    STORE: (
        "Tollway Developer Portal API",
        "API catalog, applications, keys and subscriptions.",
        DEVPORTAL_SCOPES,
    ),
}
_CACHE = "openapi_documents"


def accepted_scopes(dependant: Dependant) -> tuple[str, ...] | None:
    """The scopes the operation's auth dependency accepts; () = anonymous allowed; None = no auth."""
    for dependency in dependant.dependencies:
        scopes = getattr(dependency.call, SCOPES_ATTRIBUTE, None)
        if scopes is not None:
            return tuple(scopes)
        nested = accepted_scopes(dependency)
        if nested is not None:
            return nested
    return None


def api_routes(app: FastAPI) -> list[Any]:
    """Every API route of the app with its full path (included routers are nested in FastAPI >= 0.16x)."""
    if iter_route_contexts is None:  # pragma: no cover - older FastAPI flattens included routers
        return [route for route in app.routes if isinstance(route, APIRoute)]
    return [ctx for ctx in iter_route_contexts(app.routes) if isinstance(ctx.original_route, APIRoute)]


def _drop_unsent_validation_errors(document: dict[str, Any]) -> None:
    for item in document.get("paths", {}).values():
        for operation in item.values():
            operation.get("responses", {}).pop("422", None)
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)


def build_document(app: FastAPI, prefix: str) -> dict[str, Any]:
    title, description, scopes = DOCUMENTS[prefix]
    routes = [
        route
        for route in api_routes(app)
        if route.include_in_schema and (route.path or "").startswith(prefix + "/")
    ]
    document = get_openapi(title=title, version=__version__, description=description, routes=routes)
    _drop_unsent_validation_errors(document)
    paths: dict[str, Any] = {}
    for path, item in document.get("paths", {}).items():
        paths[path[len(prefix) :]] = item
    for route in routes:
        accepted = accepted_scopes(route.dependant)
        if accepted is None:
            continue
        security: list[dict[str, list[str]]] = [{SECURITY_SCHEME: list(accepted)}]
        if not accepted:
            security.insert(0, {})  # anonymous callers are served too
        item = paths.get(route.path[len(prefix) :], {})
        for method in route.methods or ():
            if method.lower() in item:
                item[method.lower()]["security"] = security
    document["paths"] = paths
    if prefix:
        document["servers"] = [{"url": prefix}]
    components = document.setdefault("components", {})
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "oauth2",
            "flows": {
                "password": {"tokenUrl": "/oauth2/token", "scopes": {s: s for s in sorted(scopes)}},
                "clientCredentials": {"tokenUrl": "/oauth2/token", "scopes": {s: s for s in sorted(scopes)}},
            },
        }
    }
    return document


def _document_endpoint(prefix: str) -> Callable[[Request], dict[str, Any]]:
    def document(request: Request) -> dict[str, Any]:
        cache: dict[str, dict[str, Any]] | None = getattr(request.app.state, _CACHE, None)
        if cache is None:
            cache = {}
            setattr(request.app.state, _CACHE, cache)
        if prefix not in cache:
            cache[prefix] = build_document(request.app, prefix)
        return cache[prefix]

    return document


def document_url(prefix: str) -> str:
    return prefix + "/openapi.json"


router = APIRouter()
for _prefix in DOCUMENTS:
    router.add_api_route(
        document_url(_prefix), _document_endpoint(_prefix), methods=["GET"], include_in_schema=False
    )
