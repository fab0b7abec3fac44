"""REST bodies of the monetization endpoints (publisher, developer portal, admin)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from tollway.rest.schemas import RequestBody, ResponseBody, SingleLine

PropertyName = Annotated[str, StringConstraints(min_length=1, max_length=190), SingleLine]
PropertyValue = Annotated[str, StringConstraints(max_length=1024), SingleLine]


class MonetizeIn(RequestBody):
    """``POST /apis/{apiId}/monetize``: enable or disable, with the publisher's properties."""

    enabled: bool
    properties: Annotated[dict[PropertyName, PropertyValue], Field(max_length=50)] = {}


class MonetizationOut(ResponseBody):
    """Whether the API is monetized and its tier -> engine plan mapping."""

    enabled: bool
    properties: dict[str, str]


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


class PublishAccepted(ResponseBody):
    status: str
    message: str


class PublishStatus(ResponseBody):
    state: str
    status: str
    startedTime: str
    lastPublishedTime: str
    lastPublsihedTime: str
