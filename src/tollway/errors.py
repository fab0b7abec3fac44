"""One error hierarchy for the whole platform.

Every domain error carries its HTTP status and is rendered as
``{"code": int, "message": str, "description": str}`` by a single handler.
"""

from __future__ import annotations


class TollwayError(Exception):
    status_code = 500
    message = "Internal server error"

    def __init__(self, description: str = "", *, message: str | None = None) -> None:
        super().__init__(description or message or self.message)
        self.description = description
        if message is not None:
            self.message = message

    def body(self) -> dict[str, object]:
        return {"code": self.status_code, "message": self.message, "description": self.description}


class BadRequest(TollwayError):
    status_code = 400
    message = "Bad Request"


class Unauthorized(TollwayError):
    status_code = 401
    message = "Unauthorized"


class Forbidden(TollwayError):
    status_code = 403
    message = "Forbidden"


class NotFound(TollwayError):
    status_code = 404
    message = "Not Found"


class Conflict(TollwayError):
    status_code = 409
    message = "Conflict"


class BillingEngineError(TollwayError):
    """The billing engine refused or failed; nothing was half-written on our side."""

    status_code = 502
    message = "Billing engine error"


class ConfigError(Exception):
    """A bad configuration value: one line naming the key and the file."""
