"""Answers the gateway makes itself: ``{"code","message","description"}`` JSON, pre-rendered."""

from __future__ import annotations

import json
from http import HTTPStatus


def render(
    status: int, description: str, *, close: bool = False, extra: bytes = b"", body: bytes | None = None
) -> bytes:
    phrase = HTTPStatus(status).phrase
    if body is None:
        body = json.dumps({"code": status, "message": phrase, "description": description}).encode()
    head = (
        f"HTTP/1.1 {status} {phrase}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    ).encode()
    if status == 401:
        head += b'WWW-Authenticate: Bearer realm="tollway"\r\n'
    if close:
        head += b"Connection: close\r\n"
    return head + extra + b"\r\n" + body


class Answer:
    """A gateway answer, rendered once for keep-alive and once for closing connections."""

    __slots__ = ("close", "keep", "status")

    def __init__(self, status: int, description: str, extra: bytes = b"", body: bytes | None = None) -> None:
        self.status = status
        self.keep = render(status, description, extra=extra, body=body)
        self.close = render(status, description, close=True, extra=extra, body=body)

    @classmethod
    def json(cls, status: int, document: object) -> Answer:
        """An answer whose body is ``document`` instead of the error shape."""
        return cls(status, "", extra=b"Cache-Control: no-store\r\n", body=json.dumps(document).encode())


MISSING_CREDENTIALS = Answer(
    401, "Missing credentials: send 'Authorization: Bearer <access token>' or an 'apikey' header"
)
INVALID_CREDENTIALS = Answer(401, "Invalid credentials: the token or API key is unknown or revoked")
EXPIRED_CREDENTIALS = Answer(401, "Expired credentials: the token or API key has expired")
NOT_SUBSCRIBED = Answer(403, "The application is not subscribed to this API")
NO_SUCH_API = Answer(404, "No published API matches this path")
NO_BACKEND = Answer(502, "The API has no production endpoint configured")
BACKEND_UNREACHABLE = Answer(502, "The backend could not be reached")
BACKEND_FAILED = Answer(502, "The backend closed the connection without a complete answer")
BACKEND_TIMEOUT = Answer(504, "The backend did not answer in time")
BAD_REQUEST = Answer(400, "Malformed HTTP request")
PATH_ESCAPES = Answer(400, "The path's '..' segments climb above the API's context and version")
NOT_IMPLEMENTED = Answer(501, "Protocol upgrades are not supported by the gateway")
METERING_FULL = Answer(503, "Usage metering is backlogged; try again shortly")
LIMITS_UNAVAILABLE = Answer(
    503, "The plan limits cannot be checked: the shared limit counters are unreachable; try again shortly"
)
CREDENTIALS_BACKLOG = Answer(503, "Too many unknown credentials to verify; try again shortly")

_BLOCKED = {
    "BLOCKED": "The subscription is blocked",
    "PROD_ONLY_BLOCKED": "The subscription is blocked for production keys",
    "ON_HOLD": "The subscription is awaiting approval",
    "REJECTED": "The subscription was rejected",
    "TIER_UPDATE_PENDING": "The subscription's plan change is awaiting approval",
    "DELETE_PENDING": "The subscription is being removed",
}
BLOCKED = {state: Answer(403, text) for state, text in _BLOCKED.items()}


def blocked(state: str) -> Answer:
    return BLOCKED.get(state) or Answer(403, f"The subscription is {state}")


def too_many(seconds: int, quota: bool) -> Answer:
    what = "quota" if quota else "rate limit"
    return Answer(
        429, f"The plan's {what} is reached; retry after {seconds} s", f"Retry-After: {seconds}\r\n".encode()
    )


def _pico(amount: int) -> str:
    """Pico-units as plain decimal text: 250000000000 -> "0.25"."""
    sign = "-" if amount < 0 else ""
    whole, fraction = divmod(abs(amount), 10**12)
    text = f"{whole}.{fraction:012d}".rstrip("0").rstrip(".")
    return sign + text


def payment_required(currency: str, available: int, price: int, fee: int) -> Answer:
    """402: the subscriber's prepaid wallet cannot pay for the call (rendered per refusal)."""
    wanted = (
        f"the period's fee of {_pico(fee)} {currency} is due"
        if fee
        else (f"this call costs {_pico(price)} {currency}")
    )
    return Answer(
        402,
        f"The prepaid {currency} wallet of the application's owner holds {_pico(max(available, 0))} "
        f"{currency} not yet spent and {wanted}. Top up the wallet (GET /api/am/store/v1/wallets/{currency} "
        "shows it) or ask the API provider for credit; calls are not forwarded or billed until then.",
    )


def spend_cap_reached(subscription_id: str, currency: str, cap: int, price: int) -> Answer:
    """402: the call would take the period's spend past the subscription's HARD cap."""
    return Answer(
        402,
        f"The subscription's spend cap of {_pico(cap)} {currency} for this billing period is reached "
        f"(this call costs {_pico(price)} {currency}). Raise or remove the cap "
        f"(PUT /api/am/store/v1/subscriptions/{subscription_id}/spend-cap) or wait for the next period.",
    )


WALLET_UNAVAILABLE = Answer(
    503, "The prepaid wallet cannot be checked: the shared counters are unreachable; try again shortly"
)
WALLET_STALE = Answer(503, "The prepaid wallet's billing periods are not loaded yet; try again shortly")
