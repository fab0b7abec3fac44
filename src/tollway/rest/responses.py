"""The error answers every operation may give, for the OpenAPI documents."""

from __future__ import annotations

from typing import Any

from tollway.rest.schemas import ErrorBody

_DESCRIPTIONS = {
    400: "Bad request: the description names the field",
    401: "Missing, invalid or expired access token",
    403: "The access token lacks the required scope",
    404: "No such object (or it belongs to someone else)",
    409: "Conflict with the current state",
}

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text} for status, text in _DESCRIPTIONS.items()
}
