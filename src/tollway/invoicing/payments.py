"""Payment state of the invoices Tollway keeps (the ledger engine), and blocking for non-payment.

A finalized ledger invoice is ``open`` until an admin (REST or admin portal) records it ``paid``,
``void`` (cancelled: nothing is owed) or ``uncollectible`` (written off: still unpaid). It is due
``[monetization] invoice_due_days`` after it was finalized; once an ``open`` or ``uncollectible``
invoice is ``payment_grace_days`` past its due date, the maintenance run blocks its subscription
with reason ``payment_failed`` -- the reason Stripe's failed payments give -- and the gateway
refuses its calls. Recording the payment lifts the block at once, when no other invoice of the
subscription is overdue. Stripe's invoices are Stripe's: their state follows its webhooks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, sessionmaker

from tollway.billing.payment_blocks import block, unblock
from tollway.config import MonetizationSettings
from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.errors import Conflict, NotFound
from tollway.events import emit
from tollway.identity.principal import Principal
from tollway.models import Api, Application, Invoice, MonSubscription, Subscription, Tenant, User
from tollway.pricing.currency import format_amount

OPEN, PAID, VOID, UNCOLLECTIBLE = "open", "paid", "void", "uncollectible"
PAYMENT_STATES = (OPEN, PAID, VOID, UNCOLLECTIBLE)
UNPAID = (OPEN, UNCOLLECTIBLE)
_T = TypeVar("_T", bound=tuple[Any, ...])


def get_invoice(session: Session, tenant_id: str, invoice_id: str, owner_id: str | None = None) -> Invoice:
    """The tenant's invoice; with ``owner_id`` only one of that subscriber's applications."""
    query = select(Invoice).where(Invoice.tenant_id == tenant_id, Invoice.id == invoice_id)
    invoice = session.scalar(_owned(query, owner_id))
    if invoice is None:
        raise NotFound(f"invoice {invoice_id!r} not found")
    return invoice


def list_invoices(
    session: Session,
    tenant_id: str,
    *,
    status: str | None,
    subscription_id: str | None,
    owner_id: str | None,
    limit: int,
    offset: int,
) -> tuple[int, Sequence[Invoice]]:
    """Finalized invoices, newest period first, narrowed to a payment state, a subscription or the
    applications of one subscriber (``owner_id``)."""
    conditions: list[ColumnElement[bool]] = [Invoice.tenant_id == tenant_id]
    if status is not None:
        conditions.append(Invoice.status == status)
    if subscription_id is not None:
        conditions.append(Invoice.subscription_id == subscription_id)
    counted = _owned(select(func.count()).select_from(Invoice).where(*conditions), owner_id)
    total = session.scalar(counted) or 0
    query = _owned(select(Invoice).where(*conditions), owner_id)
    rows = session.scalars(
        query.order_by(Invoice.period_start.desc(), Invoice.id).limit(limit).offset(offset)
    ).all()
    return total, rows


def _owned(query: Select[_T], owner_id: str | None) -> Select[_T]:
    """Invoices of the owner's applications (through the engine subscription, which outlives the
    Tollway subscription: a removed subscription's invoices stay its subscriber's)."""
    if owner_id is None:
        return query
    return (
        query.join(MonSubscription, MonSubscription.id == Invoice.mon_subscription_id)
        .join(Application, Application.id == MonSubscription.application_id)
        .where(Application.owner_id == owner_id)
    )


def parties(session: Session, invoice: Invoice) -> tuple[str, str]:
    """Who issues the invoice (the API's provider, in its tenant) and whom it is for (the
    subscriber and the application), in words for the PDF."""
    api = session.get(Api, invoice.api_id)
    tenant = session.get(Tenant, invoice.tenant_id)
    domain = tenant.domain if tenant is not None else ""
    issuer = f"{api.provider} ({domain})" if api is not None and api.provider else domain
    row = session.get(MonSubscription, invoice.mon_subscription_id)
    app = session.get(Application, row.application_id) if row is not None else None
    owner = session.get(User, app.owner_id) if app is not None else None
    who = owner.username if owner is not None else "a removed user"
    return issuer, f"{who}, application {app.name if app is not None else '(removed)'}"


def set_payment_status(
    session: Session,
    settings: MonetizationSettings,
    caller: Principal,
    invoice_id: str,
    status: str,
    note: str | None,
) -> Invoice:
    invoice = get_invoice(session, caller.tenant_id, invoice_id)
    if invoice.due_at is None:
        raise Conflict(
            f"invoice {invoice.number} is collected by the {invoice.engine} engine: its payment "
            "state follows the engine (Stripe's webhooks), not Tollway"
        )
    if invoice.status == VOID and status != VOID:
        raise Conflict(f"invoice {invoice.number} is void: a void invoice stays void")
    if invoice.status != status:
        previous = invoice.status
        invoice.status = status
        invoice.paid_at = utcnow() if status == PAID else None
        invoice.amount_paid = invoice.amount_due if status == PAID else Decimal(0)
        invoice.status_set_by = caller.username
        invoice.status_note = note
        session.flush()
        _emit(session, invoice, previous)
    follow_payments(session, settings, invoice.subscription_id, utcnow())
    return invoice


def follow_payments(
    session: Session, settings: MonetizationSettings, subscription_id: str | None, now: datetime
) -> str:
    """Block the subscription if one of its invoices is overdue, lift a payment block if none is."""
    if subscription_id is None:
        return "ignored: no subscription"
    subscription = session.get(Subscription, subscription_id)
    overdue = settings.block_unpaid_invoices and _overdue_count(session, settings, subscription_id, now) > 0
    return block(session, subscription) if overdue else unblock(session, subscription)


def block_overdue(factory: sessionmaker[Session], settings: MonetizationSettings, now: datetime) -> int:
    """The maintenance run's part: block every subscription with an overdue invoice. One
    transaction per subscription; answers how many were blocked."""
    if not settings.block_unpaid_invoices:
        return 0
    with factory() as session:
        subscription_ids = session.scalars(
            select(Invoice.subscription_id)
            .join(Subscription, Subscription.id == Invoice.subscription_id)
            .where(*_overdue(settings, now), Subscription.status.in_(("UNBLOCKED", "PROD_ONLY_BLOCKED")))
            .distinct()
        ).all()
    blocked = 0
    for subscription_id in subscription_ids:
        with transaction(factory) as session:
            blocked += follow_payments(session, settings, subscription_id, now) == "blocked"
    return blocked


def _overdue(settings: MonetizationSettings, now: datetime) -> list[ColumnElement[bool]]:
    due_before = now - timedelta(days=settings.payment_grace_days)
    return [Invoice.status.in_(UNPAID), Invoice.due_at.is_not(None), Invoice.due_at <= due_before]


def _overdue_count(
    session: Session, settings: MonetizationSettings, subscription_id: str, now: datetime
) -> int:
    query = select(func.count()).select_from(Invoice)
    return int(
        session.scalar(query.where(Invoice.subscription_id == subscription_id, *_overdue(settings, now))) or 0
    )


EVENTS = {PAID: "invoice.paid", VOID: "invoice.voided", UNCOLLECTIBLE: "invoice.marked_uncollectible"}


def _emit(session: Session, invoice: Invoice, previous: str) -> None:
    event_type = EVENTS.get(invoice.status)
    if event_type is None:
        return  # back to open: no event (Stripe has none either)
    subscription = session.get(Subscription, invoice.subscription_id) if invoice.subscription_id else None
    data = {
        "invoiceId": invoice.id,
        "number": invoice.number,
        "subscriptionId": invoice.subscription_id,
        "status": invoice.status,
        "previousStatus": previous,
        "total": format_amount(invoice.total, invoice.currency),
        "currency": invoice.currency,
    }
    application_id = subscription.application_id if subscription is not None else None
    emit(session, invoice.tenant_id, event_type, data, application_id=application_id)
