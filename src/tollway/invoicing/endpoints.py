"""Invoices and revenue over REST.

Publisher: ``GET /apis/{apiId}/revenue``, ``GET /subscriptions/{subscriptionId}/usage``.
Developer portal: ``GET /subscriptions/{subscriptionId}/usage`` (the subscription's owner only),
``GET /invoices[/{invoiceId}]`` (the finalized invoices of the caller's applications).
Admin: ``GET /invoices[/{invoiceId}]`` (the tenant's), ``POST /invoices/{invoiceId}/payment-status``
(the ledger's invoices: paid, void, uncollectible or open again).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.orm import Session

from tollway.applications.service import owner_id
from tollway.identity.principal import Principal, requires
from tollway.invoicing import invoices, payments
from tollway.invoicing.pdf import invoice_pdf
from tollway.invoicing.schemas import (
    InvoiceLineOut,
    PaymentStatusIn,
    RevenueOut,
    StoredInvoiceList,
    StoredInvoiceOut,
    UsageOut,
)
from tollway.models import Api, Invoice
from tollway.monetization.endpoints import Monetization, api_in_tenant
from tollway.pricing.currency import format_amount
from tollway.pricing.encoding import price_text
from tollway.rest.deps import CurrentRuntime, DbSession
from tollway.rest.pagination import Page, page
from tollway.rest.prefixes import ADMIN, PUBLISHER, STORE
from tollway.rest.responses import ERRORS
from tollway.rest.schemas import Choice
from tollway.subscriptions.service import get_in_tenant, get_owned

TAG = "Monetization"
publisher_router = APIRouter(prefix=PUBLISHER, tags=[TAG], responses=ERRORS)
store_router = APIRouter(prefix=STORE, tags=[TAG], responses=ERRORS)
admin_router = APIRouter(prefix=ADMIN, tags=["Invoices"], responses=ERRORS)

ApiViewer = Annotated[Principal, Depends(requires("apim:api_view"))]
SubscriptionViewer = Annotated[Principal, Depends(requires("apim:subscription_view"))]
Subscriber = Annotated[Principal, Depends(requires("apim:sub_manage", "apim:subscribe"))]
Admin = Annotated[Principal, Depends(requires("apim:admin"))]
Paged = Annotated[Page, Depends(page)]
InvoiceId = Annotated[str, Path(max_length=64)]
PaymentState = Annotated[
    str | None, Query(description="open, paid, void or uncollectible"), Choice(*payments.PAYMENT_STATES)
]
SubscriptionFilter = Annotated[str | None, Query(max_length=64)]


def stored_invoice_out(invoice: Invoice, *, for_admin: bool) -> StoredInvoiceOut:
    currency = invoice.currency
    return StoredInvoiceOut(
        invoiceId=invoice.id,
        number=invoice.number,
        subscriptionId=invoice.subscription_id,
        apiId=invoice.api_id,
        engine=invoice.engine,
        currency=currency,
        periodStart=invoice.period_start,
        periodEnd=invoice.period_end,
        status=invoice.status,
        lines=[
            InvoiceLineOut(
                description=line.description,
                quantity=line.quantity,
                unitAmount=price_text(line.unit_amount),
                amount=format_amount(line.amount, currency),
            )
            for line in invoice.lines
        ],
        subtotal=format_amount(invoice.subtotal, currency),
        tax=format_amount(invoice.tax, currency),
        total=format_amount(invoice.total, currency),
        amountDue=format_amount(invoice.amount_due, currency),
        amountPaid=format_amount(invoice.amount_paid, currency),
        finalizedAt=invoice.finalized_at,
        dueAt=invoice.due_at,
        paidAt=invoice.paid_at,
        statusSetBy=invoice.status_set_by if for_admin else None,
        statusNote=invoice.status_note if for_admin else None,
    )


def invoice_pdf_response(session: Session, invoice: Invoice, *, for_admin: bool) -> Response:
    """The invoice as a PDF download named after its number."""
    body = stored_invoice_out(invoice, for_admin=for_admin).model_dump(mode="json")
    api = session.get(Api, invoice.api_id)
    body["apiName"] = f"{api.name} {api.version}" if api is not None else "(removed API)"
    issuer, customer = payments.parties(session, invoice)
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", invoice.number or invoice.id)
    return Response(
        invoice_pdf(body, issuer, customer),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}.pdf"'},
    )


PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}, "description": "the invoice as a PDF"}
}


def _listed(
    session: Session,
    caller: Principal,
    paging: Page,
    status: str | None,
    subscription_id: str | None,
    *,
    for_admin: bool,
) -> StoredInvoiceList:
    """One page of the tenant's invoices (an admin's) or of the caller's own (a subscriber's)."""
    total, rows = payments.list_invoices(
        session,
        caller.tenant_id,
        status=status,
        subscription_id=subscription_id,
        owner_id=None if for_admin else owner_id(caller),
        limit=paging.limit,
        offset=paging.offset,
    )
    items = [stored_invoice_out(row, for_admin=for_admin) for row in rows]
    pagination = paging.pagination(total, status=status, subscriptionId=subscription_id)
    return StoredInvoiceList(count=len(items), list=items, pagination=pagination)


@admin_router.get("/invoices", response_model=StoredInvoiceList, summary="The tenant's finalized invoices")
def admin_invoices(
    caller: Admin,
    session: DbSession,
    paging: Paged,
    status: PaymentState = None,
    subscriptionId: SubscriptionFilter = None,
) -> StoredInvoiceList:
    return _listed(session, caller, paging, status, subscriptionId, for_admin=True)


@admin_router.get("/invoices/{invoiceId}", response_model=StoredInvoiceOut, summary="One invoice")
def admin_invoice(invoiceId: InvoiceId, caller: Admin, session: DbSession) -> StoredInvoiceOut:
    return stored_invoice_out(payments.get_invoice(session, caller.tenant_id, invoiceId), for_admin=True)


@admin_router.get(
    "/invoices/{invoiceId}/pdf", response_class=Response, responses=PDF, summary="One invoice as a PDF"
)
def admin_invoice_pdf(invoiceId: InvoiceId, caller: Admin, session: DbSession) -> Response:
    invoice = payments.get_invoice(session, caller.tenant_id, invoiceId)
    return invoice_pdf_response(session, invoice, for_admin=True)


@admin_router.post(
    "/invoices/{invoiceId}/payment-status",
    response_model=StoredInvoiceOut,
    summary="Record a ledger invoice's payment state (paid unblocks a subscription blocked for it)",
)
def set_payment_status(
    invoiceId: InvoiceId, body: PaymentStatusIn, caller: Admin, session: DbSession, runtime: CurrentRuntime
) -> StoredInvoiceOut:
    invoice = payments.set_payment_status(
        session, runtime.settings.monetization, caller, invoiceId, body.status, body.note
    )
    return stored_invoice_out(invoice, for_admin=True)


@publisher_router.get("/apis/{apiId}/revenue", response_model=RevenueOut, summary="Total revenue of an API")
def get_api_revenue(apiId: str, session: DbSession, svc: Monetization, caller: ApiViewer) -> RevenueOut:
    return RevenueOut(properties=invoices.api_revenue(svc, session, api_in_tenant(session, caller, apiId)))


@publisher_router.get(
    "/subscriptions/{subscriptionId}/usage",
    response_model=UsageOut,
    summary="Current invoice of a subscription to one of the tenant's APIs",
)
def publisher_usage(
    subscriptionId: str, session: DbSession, svc: Monetization, caller: SubscriptionViewer
) -> UsageOut:
    subscription = get_in_tenant(session, caller.tenant_id, subscriptionId)
    return UsageOut.model_validate(
        invoices.invoice_body(invoices.current_invoice(svc, session, subscription.id))
    )


@store_router.get(
    "/subscriptions/{subscriptionId}/usage",
    response_model=UsageOut,
    summary="Current invoice of one of your subscriptions",
)
def store_usage(subscriptionId: str, session: DbSession, svc: Monetization, caller: Subscriber) -> UsageOut:
    subscription = get_owned(session, caller, subscriptionId)
    return UsageOut.model_validate(
        invoices.invoice_body(invoices.current_invoice(svc, session, subscription.id))
    )


@store_router.get("/invoices", response_model=StoredInvoiceList, summary="Your finalized invoices")
def my_invoices(
    caller: Subscriber,
    session: DbSession,
    paging: Paged,
    status: PaymentState = None,
    subscriptionId: SubscriptionFilter = None,
) -> StoredInvoiceList:
    return _listed(session, caller, paging, status, subscriptionId, for_admin=False)


@store_router.get("/invoices/{invoiceId}", response_model=StoredInvoiceOut, summary="One of your invoices")
def my_invoice(invoiceId: InvoiceId, caller: Subscriber, session: DbSession) -> StoredInvoiceOut:
    invoice = payments.get_invoice(session, caller.tenant_id, invoiceId, owner_id(caller))
    return stored_invoice_out(invoice, for_admin=False)


@store_router.get(
    "/invoices/{invoiceId}/pdf",
    response_class=Response,
    responses=PDF,
    summary="One of your invoices as a PDF",
)
def my_invoice_pdf(invoiceId: InvoiceId, caller: Subscriber, session: DbSession) -> Response:
    invoice = payments.get_invoice(session, caller.tenant_id, invoiceId, owner_id(caller))
    return invoice_pdf_response(session, invoice, for_admin=False)
