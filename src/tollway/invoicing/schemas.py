"""REST bodies of invoices and revenue (publisher and developer portal)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import ConfigDict, StringConstraints

from tollway.invoicing.payments import PAYMENT_STATES
from tollway.rest.pagination import Pagination
from tollway.rest.schemas import Choice, RequestBody, ResponseBody, SingleLine


class RevenueOut(ResponseBody):
    """Amount per subscription, ``total`` and ``currency`` (decimal strings)."""

    properties: dict[str, str]


class InvoiceLineOut(ResponseBody):
    description: str
    quantity: int
    unitAmount: str
    amount: str


class InvoiceOut(ResponseBody):
    id: str
    number: str | None
    currency: str
    periodStart: str
    periodEnd: str
    status: str
    lines: list[InvoiceLineOut]
    subtotal: str
    tax: str
    total: str
    amountDue: str


class UsageOut(ResponseBody):
    """WSO2's invoice table (``properties``) plus the structured invoice."""

    properties: dict[str, str]
    invoice: InvoiceOut


class StoredInvoiceOut(ResponseBody):
    """A finalized invoice with its payment state (``dueAt`` only where Tollway keeps it: the ledger)."""

    invoiceId: str
    number: str | None
    subscriptionId: str | None
    apiId: str
    engine: str
    currency: str
    periodStart: datetime
    periodEnd: datetime
    status: str
    lines: list[InvoiceLineOut]
    subtotal: str
    tax: str
    total: str
    amountDue: str
    amountPaid: str
    finalizedAt: datetime | None
    dueAt: datetime | None
    paidAt: datetime | None
    statusSetBy: str | None = None
    statusNote: str | None = None


class StoredInvoiceList(ResponseBody):
    count: int
    list: list[StoredInvoiceOut]
    pagination: Pagination


class PaymentStatusIn(RequestBody):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "paid", "note": "bank transfer 2026-12-04 ref 4471"}]}
    )

    status: Annotated[str, Choice(*PAYMENT_STATES)]
    note: Annotated[str, StringConstraints(max_length=500), SingleLine] | None = None
