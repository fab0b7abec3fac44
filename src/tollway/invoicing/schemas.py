"""REST bodies of invoices and revenue (publisher and developer portal)."""

from __future__ import annotations

from tollway.rest.schemas import ResponseBody


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
