"""Webhook events in Stripe's shape, signed with the ``Stripe-Signature`` scheme."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from .fixtures import template
from .ids import new_id


def plain(data_object: Any) -> dict[str, Any]:
    """A JSON-plain copy of a dict or of a ``stripe.StripeObject``."""
    if isinstance(data_object, Mapping):  # a dict, or a stripe.StripeObject (a dict subclass)
        result: dict[str, Any] = json.loads(json.dumps(data_object))
        return result
    raise TypeError(f"cannot turn {type(data_object).__name__} into an event's data.object")


def build_event(
    event_type: str,
    data_object: Any,
    *,
    created: int,
    api_version: str,
    livemode: bool = False,
    account: str | None = None,
    previous_attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    event = template("event")
    data: dict[str, Any] = {"object": plain(data_object)}
    if previous_attributes is not None:
        data["previous_attributes"] = dict(previous_attributes)
    event.update(
        id=new_id("evt"),
        api_version=api_version,
        created=created,
        data=data,
        livemode=livemode,
        pending_webhooks=1,
        request={"id": None, "idempotency_key": None},
        type=event_type,
    )
    if account is not None:
        event["account"] = account  # set on events that come from a connected account
    return event


def sign(payload: bytes, secret: str, timestamp: int) -> str:
    """``t=<ts>,v1=<hex HMAC-SHA256 of "<ts>.<payload>">``, as ``stripe.Webhook`` verifies it."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
