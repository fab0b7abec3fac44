"""One Stripe request as the engine makes it: retried within the budget, errors translated.

Stripe's errors become the interface's: a refused key or an unreachable connected account is
:class:`EngineRejected` naming the setting to fix (Tollway answers 400), anything else
:class:`EngineError` (502). Messages are Stripe's own (Stripe masks keys in them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import stripe

from tollway.billing.contract import EngineError, EngineRejected
from tollway.billing.stripe.clients import CONNECTED_ACCOUNT, PLATFORM_KEY, Target
from tollway.billing.stripe.retry import RetryPolicy, _header

T = TypeVar("T")


def derive(key: str, *parts: str) -> str:
    """A deterministic key for a follow-up request (at most 64 characters, like ``EngineCall.subkey``)."""
    joined = ":".join((key, *parts))
    if len(joined) <= 64:
        return joined
    return "k" + hashlib.sha256(joined.encode()).hexdigest()[:63]


def replayed(obj: Any) -> bool:
    """Whether Stripe answered from its idempotency store (the object was made by an earlier try)."""
    response = getattr(obj, "last_response", None)
    return response is not None and _header(response.headers, "Idempotent-Replayed") == "true"


def is_missing(error: stripe.StripeError) -> bool:
    return error.http_status == 404 or error.code == "resource_missing"


def answer_lost(error: stripe.StripeError) -> bool:
    """Whether Stripe may have done the work although the client got an error.

    A timeout or a 5xx may come after the work was done; a 409 or 429 ends retries that may have
    started with such an answer.
    """
    status = error.http_status or 0
    return isinstance(error, stripe.APIConnectionError) or status >= 500 or status in (409, 429)


def message(error: stripe.StripeError) -> str:
    return str(error.user_message or type(error).__name__)


def translate(what: str, target: Target, error: stripe.StripeError) -> EngineError:
    if isinstance(error, stripe.AuthenticationError):
        return EngineRejected(f"MonetizationInfo.{PLATFORM_KEY}", f"Stripe refused the key: {message(error)}")
    if isinstance(error, stripe.PermissionError) and target.account:
        return EngineRejected(
            f"properties.{CONNECTED_ACCOUNT}",
            f"the platform account cannot act for {target.account}: {message(error)}",
        )
    param = getattr(error, "param", None)
    where = f" (parameter {param})" if param else ""
    status = f"HTTP {error.http_status}" if error.http_status else "no answer"
    return EngineError(f"Stripe refused to {what} ({status}): {message(error)}{where}")


class Wire:
    def __init__(self, retry: RetryPolicy) -> None:
        self.retry = retry

    def raw(self, what: str, request: Callable[[], T]) -> T:
        """Retried; Stripe's error raised as it is (for callers that handle some of them)."""
        return self.retry.run(request, what)

    def send(self, what: str, target: Target, request: Callable[[], T]) -> T:
        try:
            return self.retry.run(request, what)
        except stripe.StripeError as error:
            raise translate(what, target, error) from None

    def maybe(self, what: str, target: Target, request: Callable[[], T]) -> T | None:
        """Like :meth:`send`, but None when the object does not exist (any more)."""
        try:
            return self.retry.run(request, what)
        except stripe.StripeError as error:
            if is_missing(error):
                return None
            raise translate(what, target, error) from None

    def pages(
        self, what: str, target: Target, fetch: Callable[[dict[str, Any]], Any], params: dict[str, Any]
    ) -> Iterator[Any]:
        """Every object of a Stripe list, page by page (each page retried on its own)."""
        query = {**params, "limit": 100}
        while True:
            page = self.send(what, target, partial(fetch, dict(query)))
            data = list(page["data"])
            yield from data
            if not page.get("has_more") or not data:
                return
            query["starting_after"] = data[-1]["id"]
