"""Render every error as ``{"code","message","description"}``; never leak a traceback.

Installing the handlers also installs :class:`tollway.rest.bodies.JsonBodyCheck`, so that JSON
bodies that parse but cannot be kept (lone surrogates, deep nesting) are a 400 on every endpoint.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tollway.errors import TollwayError
from tollway.rest.bodies import JsonBodyCheck

log = logging.getLogger(__name__)

_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
}


def error_response(
    status: int, message: str, description: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"code": status, "message": message, "description": description}, status_code=status, headers=headers
    )


def describe_validation_error(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
        field = ".".join(loc) or "body"
        kind = err.get("type", "")
        if kind == "extra_forbidden":
            parts.append(f"unknown field '{field}'")
        elif kind == "missing":
            parts.append(f"'{field}' is required")
        elif kind == "json_invalid":
            parts.append("the body is not valid JSON")
        else:
            parts.append(f"'{field}': {err.get('msg', 'invalid value')}")
    return "; ".join(parts)


def install_error_handlers(app: FastAPI) -> None:
    app.add_middleware(JsonBodyCheck)  # its BadJsonBody is rendered by _http below

    @app.exception_handler(TollwayError)
    async def _tollway(_: Request, exc: TollwayError) -> JSONResponse:
        return error_response(exc.status_code, exc.message, exc.description)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "Bad Request", describe_validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = _REASONS.get(exc.status_code, "Error")
        detail = exc.detail if isinstance(exc.detail, str) else reason
        return error_response(exc.status_code, reason, detail, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(
            500, "Internal Server Error", "an unexpected error occurred; it has been logged"
        )
