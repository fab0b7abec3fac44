"""405 and OPTIONS: the ``Allow`` header names every method the requested path serves.

FastAPI registers one route per method. When a path matches but the method does not, routing
raises 405 with the methods of the first route whose path matched only (``OPTIONS
/api/am/store/v1/applications`` said ``Allow: GET`` though POST works). The handler here answers
from every route of the app whose path matches, in the usual error body.

OPTIONS: Starlette and FastAPI have no automatic OPTIONS (405); JAX-RS (Apache CXF, under WSO2 API
Manager's REST APIs) answers it for every resource with the Allow header, as RFC 9110 9.3.7
intends. We follow WSO2: OPTIONS on an existing path answers 204 with Allow, which therefore names
OPTIONS too; unknown paths stay 404. (Browser CORS preflights would need a CORS middleware.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # pragma: no cover - FastAPI before nested routers lists every route in app.routes
    iter_route_contexts = None  # type: ignore[assignment]

from tollway.rest.errors import error_response

_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _routes(app: FastAPI) -> Iterable[Any]:
    if iter_route_contexts is None:  # pragma: no cover
        return app.routes
    return iter_route_contexts(app.routes)


def _route_path(scope: Scope) -> str:
    """The path the routes match: without the root path the app is served under, if any."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root + "/"):
        return path[len(root) :]
    return path


def served_methods(app: FastAPI, scope: Scope) -> set[str]:
    """The methods of every route of ``app`` whose path matches the request's."""
    path = _route_path(scope)
    methods: set[str] = set()
    for route in _routes(app):
        regex = getattr(route, "path_regex", None)
        route_methods = getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods.update(route_methods)
    return methods


def allow_header(methods: Iterable[str]) -> str:
    return ", ".join(sorted(set(methods), key=lambda m: (_ORDER.index(m) if m in _ORDER else len(_ORDER), m)))


def install_method_handling(app: FastAPI) -> None:
    """Answer 405 (raised by routing) with the path's full Allow header, OPTIONS with 204."""

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: StarletteHTTPException) -> Response:
        served = served_methods(request.app, request.scope)
        if not served or request.method in served:  # not routing's 405: render it as raised
            detail = exc.detail if isinstance(exc.detail, str) else "Method Not Allowed"
            headers = dict(exc.headers) if exc.headers else None
            return error_response(405, "Method Not Allowed", detail, headers=headers)
        allow = allow_header(served | {"OPTIONS"})
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allow})
        return error_response(
            405,
            "Method Not Allowed",
            f"{request.method} is not supported here; the resource supports {allow}",
            headers={"Allow": allow},
        )
