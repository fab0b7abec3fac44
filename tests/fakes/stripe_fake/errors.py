"""Stripe's error shape: ``{"error": {"type", "code", "param", "message", "doc_url"}}``."""

from __future__ import annotations

from typing import Any


class StripeError(Exception):
    """An error the fake answers with, in Stripe's JSON error shape."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        replayable: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})
        # Stripe stores an idempotent result only once an endpoint started executing: errors from
        # parameter validation are not replayed, errors raised by the endpoint itself are.
        self.replayable = replayable

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        return {"error": error}


def invalid(
    message: str, *, param: str | None = None, code: str | None = None, status: int = 400
) -> StripeError:
    return StripeError(status, message, param=param, code=code)


def param_error(message: str, *, param: str | None = None, code: str | None = None) -> StripeError:
    """A parameter validation error (never stored for idempotent replay)."""
    return StripeError(400, message, param=param, code=code, replayable=False)


def unknown_parameter(param: str) -> StripeError:
    return param_error(f"Received unknown parameter: {param}", param=param, code="parameter_unknown")


def missing_parameter(param: str) -> StripeError:
    return param_error(f"Missing required param: {param}.", param=param, code="parameter_missing")


def exclusive_parameters(*params: str) -> StripeError:
    return param_error(
        f"You may only specify one of these parameters: {', '.join(params)}.",
        param=params[-1],
        code="parameters_exclusive",
    )


def no_such(kind: str, object_id: str, *, param: str = "id", status: int = 404) -> StripeError:
    """Stripe's ``No such product: 'prod_x'`` (404 on the path, 400 when named by a parameter)."""
    return StripeError(status, f"No such {kind}: '{object_id}'", param=param, code="resource_missing")


def mask_key(key: str) -> str:
    """Stripe masks all but a key's mode prefix and its last four characters."""
    for prefix in ("sk_test_", "sk_live_", "rk_test_", "rk_live_"):
        if key.startswith(prefix):
            rest = key[len(prefix) :]
            return prefix + "*" * max(len(rest) - 4, 0) + rest[-4:]
    return "*" * max(len(key) - 4, 0) + key[-4:]
