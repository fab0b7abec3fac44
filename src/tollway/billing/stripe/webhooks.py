"""Stripe webhook events -> the state of Tollway subscriptions (blocked for payment or not).

An event is accepted only with a valid ``Stripe-Signature`` made with the tenant's
``MonetizationInfo.StripeWebhookSecret`` (or one of them, comma-separated) and at most 5 minutes
old (the SDK's verifier).

Effects, on the Tollway subscription behind the Stripe subscription (found through
``mon_subscriptions.engine_subscription_id``):

* ``invoice.payment_failed``, ``invoice.payment_action_required`` -> BLOCKED with reason
  ``payment_failed``, if the invoice is still unpaid;
* ``customer.subscription.updated`` -> BLOCKED (``payment_failed``) if the subscription is
  ``past_due`` or ``unpaid``;
* ``invoice.paid``, ``invoice.payment_succeeded`` -> UNBLOCKED, if Tollway blocked it for payment
  (never one a publisher blocked by hand) and the subscription is no longer delinquent;
* ``checkout.session.completed`` (a prepaid top-up, ``tollway.billing.stripe.top_ups``) -> the
  wallet is credited once the session, read from Stripe, is paid for the amount asked;
* ``customer.subscription.deleted`` (Stripe ended a subscription Tollway did not end) -> the
  monetized subscription is marked canceled at Stripe's end time, and the Tollway subscription is
  BLOCKED with reason ``billing_canceled``: its calls can no longer be billed (subscribing again
  makes a new Stripe subscription).

Idempotency comes from state, not from a table of event ids: before acting, the engine reads the
invoice or subscription as Stripe has it *now*, and the effect is "make the subscription match
that". A second delivery of an event, or an old event delivered after a newer one (Stripe does
not promise order), therefore finds the state already right and changes nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import stripe
from sqlalchemy import select
from sqlalchemy.orm import Session

from tollway.billing.contract import TenantContext, TopUpPaid, TopUpPaidHandler
from tollway.billing.payment_blocks import PAYMENT_FAILED, block, unblock
from tollway.billing.stripe.mapping import moment
from tollway.billing.stripe.top_ups import COMPLETED
from tollway.db.base import utcnow
from tollway.errors import BadRequest
from tollway.models import MonSubscription, Subscription

log = logging.getLogger(__name__)

TOLERANCE = 300  # seconds: a signed event older than this is refused (a replay)
BILLING_CANCELED = "billing_canceled"
BLOCKING_INVOICE_EVENTS = frozenset({"invoice.payment_failed", "invoice.payment_action_required"})
PAID_EVENTS = frozenset({"invoice.paid", "invoice.payment_succeeded"})
SUBSCRIPTION_UPDATED = "customer.subscription.updated"
SUBSCRIPTION_DELETED = "customer.subscription.deleted"
HANDLED = BLOCKING_INVOICE_EVENTS | PAID_EVENTS | {SUBSCRIPTION_UPDATED, SUBSCRIPTION_DELETED}
UNPAID_INVOICE = frozenset({"open", "uncollectible"})
DELINQUENT = frozenset({"past_due", "unpaid"})


def signing_secrets(value: str) -> list[str]:
    """The secrets in ``StripeWebhookSecret``: one, or several separated by commas.

    Each Stripe webhook endpoint has its own secret, and a tenant whose APIs bill both in connected
    accounts and in the platform account needs two endpoints (Connect and account events).
    """
    return [part.strip() for part in value.split(",") if part.strip()]


def verify(payload: bytes, signature: str | None, secrets: Sequence[str]) -> dict[str, Any]:
    """The event, if ``Stripe-Signature`` proves it came from Stripe in the last 5 minutes."""
    if not signature:
        raise BadRequest("'Stripe-Signature': the header is missing")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("the body is not a JSON Stripe event") from None
    refusal: stripe.SignatureVerificationError | None = None
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, signature, secret, TOLERANCE)  # type: ignore[no-untyped-call]
            break
        except stripe.SignatureVerificationError as error:
            refusal = refusal or error
    else:
        message = refusal.user_message if refusal is not None else "no signing secret"
        raise BadRequest(f"'Stripe-Signature': {message}")
    try:
        event = json.loads(text)
    except ValueError:
        raise BadRequest("the body is not a JSON Stripe event") from None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        raise BadRequest("the body is not a Stripe event")
    return event


def _id(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("id")
    return str(value) if value else None


def subscription_id_of(event_type: str, obj: Mapping[str, Any]) -> str | None:
    """The Stripe subscription an event is about (invoices carry it under ``parent`` today)."""
    if event_type.startswith("customer.subscription."):
        return _id(obj.get("id"))
    details = (obj.get("parent") or {}).get("subscription_details") or {}
    return _id(details.get("subscription")) or _id(obj.get("subscription"))


def _ended(
    session: Session, row: MonSubscription, subscription: Subscription | None, obj: Mapping[str, Any]
) -> str:
    if row.status != "active":
        return "unchanged: Tollway ended it"  # Tollway's own cancellation coming back
    ended = obj.get("ended_at") or obj.get("canceled_at")
    at = moment(int(ended)) if ended else utcnow()
    row.canceled_at = max(at, row.started_at)
    row.status = "canceled"  # Stripe has ended it: nothing to tell the engine
    session.flush()
    log.warning("Stripe ended subscription %s on its own; its Tollway subscription is blocked", row.id)
    return block(session, subscription, BILLING_CANCELED) if subscription is not None else "marked"


class StripeState(Protocol):
    """What the webhook handler asks of the engine: Stripe's current state of an object."""

    name: str

    def subscription_status(
        self, tenant: TenantContext, account: str | None, subscription_id: str
    ) -> str | None: ...

    def invoice_status(self, tenant: TenantContext, account: str | None, invoice_id: str) -> str | None: ...

    def paid_top_up(self, tenant: TenantContext, session_id: str) -> TopUpPaid | None: ...

    on_top_up_paid: TopUpPaidHandler


def process(session: Session, engine: StripeState, tenant: TenantContext, event: Mapping[str, Any]) -> str:
    """Apply one verified event; answers what was done (for the response and the logs)."""
    event_type = str(event.get("type") or "")
    if event_type == COMPLETED and not event.get("account"):
        return _top_up(session, engine, tenant, event["data"].get("object") or {})
    if event_type not in HANDLED:
        return "ignored: not an event Tollway acts on"
    obj = event["data"].get("object") or {}
    stripe_subscription = subscription_id_of(event_type, obj)
    if stripe_subscription is None:
        return "ignored: not about a subscription"
    row = session.scalar(
        select(MonSubscription).where(
            MonSubscription.engine_subscription_id == stripe_subscription,
            MonSubscription.tenant_id == tenant.id,
            MonSubscription.engine == engine.name,
        )
    )
    if row is None:
        return "ignored: not a Tollway subscription"
    subscription = session.get(Subscription, row.subscription_id) if row.subscription_id else None
    account = _id(event.get("account"))
    if event_type == SUBSCRIPTION_DELETED:
        return _ended(session, row, subscription, obj)
    if event_type in BLOCKING_INVOICE_EVENTS:
        invoice = _id(obj.get("id"))
        status = engine.invoice_status(tenant, account, invoice) if invoice else None
        if status in UNPAID_INVOICE:
            return block(session, subscription, PAYMENT_FAILED)
        return f"unchanged: the invoice is {status or 'unknown'} now"
    status = engine.subscription_status(tenant, account, stripe_subscription)
    if event_type == SUBSCRIPTION_UPDATED:
        if status in DELINQUENT:
            return block(session, subscription, PAYMENT_FAILED)
        return f"unchanged: the subscription is {status or 'unknown'}"
    if status in DELINQUENT:
        return f"unchanged: the subscription is still {status}"
    return unblock(session, subscription)


def _top_up(session: Session, engine: StripeState, tenant: TenantContext, obj: Mapping[str, Any]) -> str:
    """A Checkout Session completed: credit the wallet if Stripe says it is paid (once: by reference)."""
    session_id = _id(obj.get("id"))
    if session_id is None:
        return "ignored: no Checkout Session id"
    paid = engine.paid_top_up(tenant, session_id)
    if paid is None:
        return "ignored: not a paid Tollway top-up"
    engine.on_top_up_paid(session, paid)
    return f"credited: {paid.amount} {paid.currency} ({paid.reference})"
