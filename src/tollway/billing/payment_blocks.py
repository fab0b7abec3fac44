"""A subscription blocked because its invoices are not paid, and unblocked once they are.

Both engines use it: Stripe's webhooks (its dunning decides) and the ledger's overdue invoices
(Tollway's due date and grace period decide). Only a block with reason ``payment_failed`` is ever
lifted here, never one a publisher set by hand.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tollway.db.base import utcnow
from tollway.events import status_changed
from tollway.models import Subscription
from tollway.models.changes import mark_gateway_config_changed

PAYMENT_FAILED = "payment_failed"
BLOCKABLE = ("UNBLOCKED", "PROD_ONLY_BLOCKED")


def block(session: Session, subscription: Subscription | None, reason: str = PAYMENT_FAILED) -> str:
    """BLOCKED with ``reason`` (the gateway refuses it at its next reload); what happened, in words."""
    if subscription is None:
        return "ignored: the Tollway subscription no longer exists"
    if subscription.status == "BLOCKED":
        return "unchanged: already blocked"
    if subscription.status not in BLOCKABLE:
        return f"ignored: the subscription is {subscription.status}"
    previous = subscription.status
    subscription.status = "BLOCKED"
    subscription.status_reason = reason
    subscription.updated_at = utcnow()
    session.flush()
    mark_gateway_config_changed(session)
    status_changed(session, subscription, previous)
    return "blocked"


def unblock(session: Session, subscription: Subscription | None) -> str:
    """UNBLOCKED again, if (and only if) it was blocked for payment."""
    if subscription is None:
        return "ignored: the Tollway subscription no longer exists"
    if subscription.status != "BLOCKED" or subscription.status_reason != PAYMENT_FAILED:
        return "unchanged: not blocked for payment"
    subscription.status = "UNBLOCKED"
    subscription.status_reason = None
    subscription.updated_at = utcnow()
    session.flush()
    mark_gateway_config_changed(session)
    status_changed(session, subscription, "BLOCKED")
    return "unblocked"
