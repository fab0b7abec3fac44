"""A method a path does not serve answers 405 with an Allow header naming every method it serves.

FastAPI registers one route per method, and routing used to report only the methods of the first
route whose path matched (``OPTIONS /applications`` -> ``Allow: GET`` though POST works). The
test walks every route of the app, fills its path parameters with a sample value and compares the
Allow header to the union of the methods of every route that matches that path. OPTIONS answers
204 with the same header (see tollway.web.methods).
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from starlette.convertors import FloatConvertor, IntegerConvertor, UUIDConvertor
from starlette.routing import replace_params

from tests.support.rest import STORE
from tests.support.servers import ServerThread

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # pragma: no cover - FastAPI before nested routers lists every route in app.routes
    iter_route_contexts = None  # type: ignore[assignment]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def every_route(app: FastAPI) -> list[Any]:
    """Each route of the app with its full path (routers included into the app too)."""
    if iter_route_contexts is None:  # pragma: no cover
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def sample_value(convertor: Any) -> Any:
    if isinstance(convertor, IntegerConvertor):
        return 7
    if isinstance(convertor, FloatConvertor):
        return 7.5
    if isinstance(convertor, UUIDConvertor):
        return uuid.UUID(int=7)
    return "sample-7"


def sample_path(route: Any) -> str:
    convertors = route.param_convertors
    params = {name: sample_value(convertor) for name, convertor in convertors.items()}
    path, remaining = replace_params(route.path_format, convertors, params)
    assert not remaining
    return str(path)


def served_paths(app: FastAPI) -> dict[str, set[str]]:
    """A sample path of every HTTP route -> the methods of all routes matching it."""
    routes = [
        route
        for route in every_route(app)
        if getattr(route, "methods", None) and getattr(route, "path_regex", None) is not None
    ]
    assert len(routes) > 50, "the walk found too few routes"
    paths = {sample_path(route) for route in routes}
    return {
        path: {method for route in routes if route.path_regex.match(path) for method in route.methods}
        for path in sorted(paths)
    }


def allowed(response: httpx.Response) -> list[str]:
    return [method.strip() for method in response.headers.get("allow", "").split(",") if method.strip()]


def test_405_and_options_list_every_method_of_the_path(live_server: ServerThread, http: httpx.Client) -> None:
    app = live_server.server.config.app
    assert isinstance(app, FastAPI)
    wrong: list[str] = []
    for path, methods in served_paths(app).items():
        expected = methods | {"OPTIONS"}
        options = http.options(path)
        if options.status_code != 204 or sorted(allowed(options)) != sorted(expected):
            wrong.append(f"OPTIONS {path}: {options.status_code} Allow: {allowed(options)}; want {expected}")
        for method in METHODS:
            if method in methods:
                continue
            response = http.request(method, path)
            got = allowed(response)
            if response.status_code != 405 or sorted(got) != sorted(expected):
                wrong.append(f"{method} {path}: {response.status_code} Allow: {got}; want {expected}")
                continue
            if method != "HEAD":
                body = response.json()
                if body.get("code") != 405 or body.get("message") != "Method Not Allowed":
                    wrong.append(f"{method} {path}: body {body}")
    assert not wrong, "\n".join(wrong)


def test_the_reported_case(http: httpx.Client) -> None:
    options = http.options(f"{STORE}/applications")
    assert options.status_code == 204 and options.content == b""
    assert options.headers["allow"] == "GET, POST, OPTIONS"
    response = http.patch(f"{STORE}/applications")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, OPTIONS"
    assert response.json() == {
        "code": 405,
        "message": "Method Not Allowed",
        "description": "PATCH is not supported here; the resource supports GET, POST, OPTIONS",
    }
    single = http.put(f"{STORE}/subscriptions/sample-7")
    assert single.status_code == 405 and single.headers["allow"] == "GET, DELETE, OPTIONS"


def test_unknown_paths_stay_404(http: httpx.Client) -> None:
    for method in ("GET", "OPTIONS", "PATCH"):
        response = http.request(method, f"{STORE}/no-such-resource")
        assert response.status_code == 404, (method, response.text)
        assert "allow" not in response.headers
