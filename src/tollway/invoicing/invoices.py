"""Invoices of monetized subscriptions and revenue of APIs.

* The *open* invoice of a subscription (its current billing period) is computed live by the
  engine from the usage it has received (status ``draft``).
* At the end of a period the maintenance run asks the engine for the period's final invoice and
  stores it in ``invoices`` with a number (``TW-<year>-<sequence>``), once the period's usage
  has all been published, late usage included (``[monetization] late_usage_window`` after its end).
* The revenue of an API is the sum, over all its monetized subscriptions (also deleted ones), of
  their stored invoices and of the periods not stored yet (computed live), current one included.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tollway.billing.contract import EngineInvoice
from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.errors import NotFound
from tollway.events import emit
from tollway.models import Api, Invoice, InvoiceLineRow, MonSubscription, Subscription
from tollway.monetization.enabling import monetized_tiers
from tollway.monetization.service import MonetizationService
from tollway.monetization.subscription_sync import LIVE
from tollway.pricing.currency import format_amount, round_amount
from tollway.pricing.encoding import price_text
from tollway.pricing.periods import Period, periods_overlapping
from tollway.publishing.usage_publisher import late_window

log = logging.getLogger(__name__)

_TICK = timedelta(microseconds=1)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def invoice_body(invoice: EngineInvoice, number: str | None = None) -> dict[str, Any]:
    """Both portals' ``/usage`` answer: WSO2's ``properties`` table plus the structured invoice."""
    currency = invoice.currency
    remaining = invoice.amount_due - invoice.amount_paid
    properties: dict[str, str] = {
        "Invoice ID": invoice.id,
        "Description": invoice.description,
        "Account Name": invoice.customer_name,
        "Customer Email": invoice.customer_email or "",
        "Currency": currency.lower(),
        "Period Start": _stamp(invoice.period_start),
        "Period End": _stamp(invoice.period_end),
        "Subtotal": format_amount(invoice.subtotal, currency),
        "Tax": format_amount(invoice.tax, currency),
        "Total": format_amount(invoice.total, currency),
        "Amount Due": format_amount(invoice.amount_due, currency),
        "Amount Paid": format_amount(invoice.amount_paid, currency),
        "Amount Remaining": format_amount(round_amount(remaining, currency), currency),
        "Paid": "true" if invoice.status == "paid" else "false",
        "Status": invoice.status,
    }
    if number:
        properties["Invoice Number"] = number
    properties.update(invoice.extra)
    return {
        "properties": properties,
        "invoice": {
            "id": invoice.id,
            "number": number,
            "currency": currency,
            "periodStart": _iso(invoice.period_start),
            "periodEnd": _iso(invoice.period_end),
            "status": invoice.status,
            "lines": [
                {
                    "description": line.description,
                    "quantity": line.quantity,
                    "unitAmount": price_text(line.unit_amount),
                    "amount": format_amount(line.amount, currency),
                }
                for line in invoice.lines
            ],
            "subtotal": format_amount(invoice.subtotal, currency),
            "tax": format_amount(invoice.tax, currency),
            "total": format_amount(invoice.total, currency),
            "amountDue": format_amount(invoice.amount_due, currency),
        },
    }


def current_row(session: Session, subscription_id: str) -> MonSubscription | None:
    """The monetized subscription behind a Tollway subscription (the newest still billing)."""
    rows = list(
        session.scalars(
            select(MonSubscription)
            .where(MonSubscription.subscription_id == subscription_id)
            .order_by(MonSubscription.started_at.desc())
        )
    )
    for row in rows:
        if row.status in LIVE:
            return row
    return rows[0] if rows else None


def current_invoice(svc: MonetizationService, session: Session, subscription_id: str) -> EngineInvoice:
    row = current_row(session, subscription_id)
    if row is None:
        raise NotFound(
            f"subscription {subscription_id} is not billed: "
            "its business plan is free or the API is not monetized"
        )
    call = svc.call(session, row.tenant_id, f"preview:{row.id}")
    with svc.engine_errors():
        invoice = svc.engine.preview_invoice(call, svc.ref(session, row), utcnow())
    if invoice is None:
        raise NotFound(f"the billing engine has no invoice for subscription {subscription_id} yet")
    return invoice


def unbilled_periods(
    row: MonSubscription, last_end: datetime | None, now: datetime
) -> tuple[list[Period], Period | None]:
    """Periods from the last stored invoice on: those that ended by ``now``, and the current one."""
    start = last_end or row.started_at
    ended_at = row.canceled_at if row.canceled_at is not None and row.canceled_at <= now else None
    horizon = ended_at if ended_at is not None else now + _TICK
    finished: list[Period] = []
    current = None
    for period in periods_overlapping(row.started_at, row.billing_cycle, start, horizon):
        if row.canceled_at is not None and row.canceled_at < period.end:
            period = Period(period.index, period.start, row.canceled_at)
        if period.end <= now:
            finished.append(period)
        else:
            current = period
    return finished, current


def _last_ends(session: Session, ids: list[str]) -> dict[str, datetime]:
    found: dict[str, datetime] = {}
    for offset in range(0, len(ids), 500):
        chunk = ids[offset : offset + 500]
        rows = session.execute(
            select(Invoice.mon_subscription_id, func.max(Invoice.period_end))
            .where(Invoice.mon_subscription_id.in_(chunk))
            .group_by(Invoice.mon_subscription_id)
        )
        found.update({mon_id: end for mon_id, end in rows})
    return found


def api_revenue(svc: MonetizationService, session: Session, api: Api) -> dict[str, str]:
    """WSO2's getTotalRevenue: amount per subscription, ``total`` and ``currency``.

    With plans in several currencies there is no single total: ``total <CUR>`` per currency
    replaces ``total``/``currency``.
    """
    rows = list(session.scalars(select(MonSubscription).where(MonSubscription.api_id == api.id)))
    amounts: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for mon_id, currency, total in session.execute(
        select(Invoice.mon_subscription_id, Invoice.currency, Invoice.total).where(
            Invoice.api_id == api.id, Invoice.status != "void"
        )
    ):
        amounts[mon_id][currency] += total
    last_ends = _last_ends(session, [row.id for row in rows])
    now = utcnow()
    for row in rows:
        if row.status == "ended" or row.engine != svc.engine_name:
            continue
        finished, current = unbilled_periods(row, last_ends.get(row.id), now)
        ref = svc.ref(session, row)
        call = svc.call(session, row.tenant_id, f"revenue:{row.id}")
        with svc.engine_errors():
            live = [svc.engine.period_invoice(call, ref, period) for period in finished]
            if current is not None:
                live.append(svc.engine.preview_invoice(call, ref, now))
        for invoice in live:
            if invoice is not None:
                amounts[row.id][invoice.currency] += invoice.total

    by_subscription: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        key = row.subscription_id or row.id
        for currency, amount in amounts.get(row.id, {}).items():
            by_subscription[key][currency] += amount
    totals: dict[str, Decimal] = defaultdict(Decimal)
    properties: dict[str, str] = {}
    for key, per_currency in by_subscription.items():
        parts = []
        for currency, amount in sorted(per_currency.items()):
            totals[currency] += amount
            parts.append(format_amount(amount, currency))
        properties[key] = (
            parts[0]
            if len(parts) == 1
            else ", ".join(f"{format_amount(a, c)} {c}" for c, a in sorted(per_currency.items()))
        )
    if len(totals) <= 1:
        currency = next(iter(totals), _api_currency(session, api))
        properties["total"] = format_amount(
            totals.get(currency, round_amount(Decimal(0), currency)), currency
        )
        properties["currency"] = currency
    else:
        for currency, amount in sorted(totals.items()):
            properties[f"total {currency}"] = format_amount(amount, currency)
    return properties


def _api_currency(session: Session, api: Api) -> str:
    currencies = {pricing.currency for _, pricing in monetized_tiers(session, api)}
    return currencies.pop() if len(currencies) == 1 else "USD"


def _next_number(session: Session, year: int) -> str:
    prefix = f"TW-{year:04d}-"
    count = session.scalar(select(func.count()).select_from(Invoice).where(Invoice.number.like(f"{prefix}%")))
    return f"{prefix}{int(count or 0) + 1:06d}"


def store_invoice(
    session: Session,
    row: MonSubscription,
    invoice: EngineInvoice,
    engine: str,
    due_days: int | None = None,
    now: datetime | None = None,
) -> Invoice:
    """Keep an engine's final invoice (numbered) for a monetized subscription's period. With
    ``due_days`` Tollway keeps its payment state (the ledger): due that many days after ``now``
    (when it is issued), and paid at once when nothing is due."""
    now = now or utcnow()
    nothing_due = due_days is not None and invoice.amount_due <= invoice.amount_paid
    stored = Invoice(
        tenant_id=row.tenant_id,
        number=_next_number(session, utcnow().year),
        engine=engine,
        engine_invoice_id=invoice.id,
        mon_subscription_id=row.id,
        subscription_id=row.subscription_id,
        api_id=row.api_id,
        currency=invoice.currency,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        status="paid" if nothing_due else invoice.status,
        due_at=now + timedelta(days=due_days) if due_days is not None else None,
        paid_at=now if nothing_due else None,
        subtotal=invoice.subtotal,
        tax=invoice.tax,
        total=invoice.total,
        amount_due=invoice.amount_due,
        amount_paid=invoice.amount_paid,
        finalized_at=now,
    )
    stored.lines = [
        InvoiceLineRow(
            position=index,
            description=line.description[:255],
            quantity=line.quantity,
            unit_amount=line.unit_amount,
            amount=line.amount,
        )
        for index, line in enumerate(invoice.lines)
    ]
    session.add(stored)
    session.flush()
    return stored


def _finalized(session: Session, row: MonSubscription, invoice: Invoice) -> None:
    sub = session.get(Subscription, row.subscription_id) if row.subscription_id else None
    data = {
        "invoiceId": invoice.id,
        "number": invoice.number,
        "subscriptionId": row.subscription_id,
        "apiId": row.api_id,
        "currency": invoice.currency,
        "total": format_amount(invoice.total, invoice.currency),
        "amountDue": format_amount(invoice.amount_due, invoice.currency),
        "status": invoice.status,
        "periodStart": invoice.period_start.isoformat(),
        "periodEnd": invoice.period_end.isoformat(),
    }
    emit(
        session, row.tenant_id, "invoice.finalized", data, application_id=sub.application_id if sub else None
    )


def finalize_invoices(svc: MonetizationService, factory: sessionmaker[Session], now: datetime) -> int:
    """Store the final invoice of every ended period whose usage is all published.

    For metered plans that means published up to the period's end plus the late-usage window:
    a call that reaches the database late then never lands after its period's invoice got a
    number (the publisher bills it in its own period, see :mod:`~tollway.publishing.usage_publisher`).

    The caller holds the maintenance lock (numbers are given in sequence). One transaction per
    invoice: a failure leaves that period for the next run and does not stop the others.
    """
    with factory() as session:
        rows = list(
            session.scalars(
                select(MonSubscription).where(
                    MonSubscription.engine == svc.engine_name, MonSubscription.status.in_(LIVE)
                )
            )
        )
        last_ends = _last_ends(session, [row.id for row in rows])
    late = late_window(svc)
    stored = 0
    for row in rows:
        finished, _ = unbilled_periods(row, last_ends.get(row.id), now)
        for period in finished:
            final = row.canceled_at is not None and period.end == row.canceled_at
            if final and row.status != "canceled":
                break  # the engine has not been told of the end yet
            if (
                row.plan_type == "DynamicRate"
                and (row.usage_published_until or row.started_at) < period.end + late
            ):
                break  # usage of the period not all published yet, late usage included
            try:
                with transaction(factory) as session:
                    fresh = session.get(MonSubscription, row.id)
                    assert fresh is not None
                    call = svc.call(session, fresh.tenant_id, f"invoice:{fresh.id}:{period.index}")
                    invoice = svc.engine.period_invoice(call, svc.ref(session, fresh), period)
                    if invoice is None:
                        break  # the engine makes it later; asked again next run
                    # A transactional engine (the ledger) records what is owed and collects
                    # nothing: Tollway keeps its invoices' payment state.
                    due = svc.settings.monetization.invoice_due_days if svc.engine.transactional else None
                    stored_invoice = store_invoice(session, fresh, invoice, svc.engine_name, due, now)
                    _finalized(session, fresh, stored_invoice)
                    if final:
                        fresh.status = "ended"
                stored += 1
            except Exception:
                log.exception("finalizing the invoice of %s for %s failed", row.id, period)
                break
        else:
            if (
                row.status == "canceled"
                and row.canceled_at is not None
                and row.canceled_at <= now
                and not finished
            ):
                with transaction(factory) as session:
                    fresh = session.get(MonSubscription, row.id)
                    if fresh is not None:
                        fresh.status = "ended"  # ended before its first period was billed
    return stored
