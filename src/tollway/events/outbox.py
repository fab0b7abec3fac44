"""The durable outbox: an event is a row written in the transaction that caused it.

``emit`` also writes one PENDING delivery per endpoint that wants the event, so what is sent is
decided with the change itself: a rollback sends nothing, a restart loses nothing (the
dispatcher in ``tollway.webhooks`` sends deliveries after the commit).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from tollway.db.base import utcnow
from tollway.models import Application, Subscription, WebhookDelivery, WebhookEndpoint, WebhookEvent

EVENT_TYPES = (
    "usage.threshold_crossed",
    "wallet.low_balance",
    "wallet.depleted",
    "invoice.finalized",
    "invoice.paid",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "subscription.blocked",
    "subscription.unblocked",
)


def _wants(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return not endpoint.event_types or "*" in endpoint.event_types or event_type in endpoint.event_types


def emit(
    session: Session,
    tenant_id: str,
    event_type: str,
    data: dict[str, Any],
    *,
    application_id: str | None = None,
    owner_id: str | None = None,
) -> str:
    """Record an event and its deliveries; answers the event id (``evt_...``).

    Receivers: the tenant's endpoints, and a subscriber's endpoints of ``application_id`` or,
    for events about the subscriber rather than one application (wallets), of any application
    ``owner_id`` owns.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    now = utcnow()
    event = WebhookEvent(
        id=f"evt_{uuid.uuid4().hex}",
        tenant_id=tenant_id,
        type=event_type,
        application_id=application_id,
        owner_id=owner_id,
        data=data,
        created_at=now,
    )
    session.add(event)
    receivers: list[ColumnElement[bool]] = [WebhookEndpoint.application_id.is_(None)]
    if application_id is not None:
        receivers.append(WebhookEndpoint.application_id == application_id)
    if owner_id is not None:
        owned = select(Application.id).where(
            Application.tenant_id == tenant_id, Application.owner_id == owner_id
        )
        receivers.append(WebhookEndpoint.application_id.in_(owned))
    endpoints = list(
        session.scalars(
            select(WebhookEndpoint).where(
                WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled.is_(True), or_(*receivers)
            )
        )
    )
    session.flush()  # the event before its deliveries (foreign key)
    for endpoint in endpoints:
        if _wants(endpoint, event_type):
            session.add(
                WebhookDelivery(
                    event_id=event.id,
                    endpoint_id=endpoint.id,
                    status="PENDING",
                    attempts=0,
                    next_attempt_at=now,
                    window_start=now,
                    created_at=now,
                )
            )
    session.flush()
    return event.id


BLOCKED_STATES = ("BLOCKED", "PROD_ONLY_BLOCKED")


def status_changed(session: Session, subscription: Subscription, previous: str) -> None:
    """``subscription.blocked`` / ``subscription.unblocked`` when a status change is one."""
    now_blocked, was_blocked = subscription.status in BLOCKED_STATES, previous in BLOCKED_STATES
    if now_blocked == was_blocked and not (now_blocked and previous != subscription.status):
        return
    event_type = "subscription.blocked" if now_blocked else "subscription.unblocked"
    data = {
        "subscriptionId": subscription.id,
        "applicationId": subscription.application_id,
        "apiId": subscription.api_id,
        "status": subscription.status,
        "previousStatus": previous,
        "reason": subscription.status_reason,
    }
    emit(session, subscription.tenant_id, event_type, data, application_id=subscription.application_id)
