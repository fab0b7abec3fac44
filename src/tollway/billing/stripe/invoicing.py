"""Stripe invoices of a subscription, found by billing period, as the interface's invoices.

Which Stripe invoice bills Tollway's period *k* of a subscription (one item, never changed):

* metered (DynamicRate): the invoice made when Stripe's period *k* ended (``subscription_cycle``),
  or the final one made at cancellation - its usage line covers period *k*;
* licensed (FixedRate): billed in advance - the first invoice for period 0, the cycle invoice
  made when period *k* began for the others - its line covers period *k*.

Either way: the invoice with a (non-proration) line for the subscription whose period starts
where Stripe's period *k* starts. A draft is not final yet (Stripe finalizes cycle invoices an
hour after the period ends, so late usage still counts): the engine answers None and Tollway asks
again on its next run. Amounts are Stripe's; the period reported is Tollway's own, so Tollway's
records of billed periods line up with its periods to the microsecond.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from tollway.billing.contract import EngineInvoice, SubscriptionRef
from tollway.billing.stripe.catalog import Catalog, v1
from tollway.billing.stripe.clients import Target
from tollway.billing.stripe.facts import SubscriptionFacts
from tollway.billing.stripe.mapping import engine_invoice, money

CREATED_SLACK = 3600  # an invoice for period k is never made long before the period starts


@dataclass(frozen=True, slots=True)
class Found:
    invoice: Any
    lines: list[Any]


def _line_subscription(line: Mapping[str, Any]) -> str | None:
    parent = line.get("parent") or {}
    details = parent.get("subscription_item_details") or {}
    value = details.get("subscription") or line.get("subscription")
    return None if value is None else str(value)


def _proration(line: Mapping[str, Any]) -> bool:
    details = (line.get("parent") or {}).get("subscription_item_details") or {}
    return bool(details.get("proration") or line.get("proration"))


def bills_period(line: Mapping[str, Any], subscription_id: str, start: int) -> bool:
    period = line.get("period") or {}
    return (
        _line_subscription(line) == subscription_id
        and not _proration(line)
        and int(period.get("start") or -1) == start
    )


class Invoices:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.wire = catalog.wire

    def lines(self, target: Target, invoice: Any) -> list[Any]:
        embedded = invoice["lines"]
        if not embedded.get("has_more"):
            return list(embedded["data"])
        return list(
            self.wire.pages(
                "list invoice lines",
                target,
                lambda q: v1(target).invoices.line_items.list(invoice["id"], q, target.options()),
                {},
            )
        )

    def _candidates(self, target: Target, subscription_id: str, since: int) -> Iterator[Any]:
        return self.wire.pages(
            "list invoices",
            target,
            lambda q: v1(target).invoices.list(q, target.options()),
            {"subscription": subscription_id, "created": {"gte": since}},
        )

    def for_period(self, target: Target, facts: SubscriptionFacts, index: int) -> Found | None:
        """The invoice that bills Stripe's period ``index`` of the subscription, if it exists."""
        start = facts.period_start(index)
        for invoice in self._candidates(target, facts.id, start - CREATED_SLACK):
            lines = self.lines(target, invoice)
            if any(bills_period(line, facts.id, start) for line in lines):
                return Found(invoice, lines)
        return None

    def preview(self, target: Target, subscription_id: str) -> Found:
        invoice = self.wire.send(
            "preview an invoice",
            target,
            lambda: v1(target).invoices.create_preview({"subscription": subscription_id}, target.options()),
        )
        return Found(invoice, list(invoice["lines"]["data"]))

    def void_unpaid(self, target: Target, subscription_id: str) -> None:
        """Void (or delete, for drafts) what a subscription that never billed has invoiced."""
        service = v1(target).invoices
        for invoice in list(self._candidates(target, subscription_id, 0)):
            if invoice["status"] == "open":
                void = partial(service.void_invoice, invoice["id"], None, target.options())
                self.wire.maybe("void an invoice", target, void)
            elif invoice["status"] == "draft":
                delete = partial(service.delete, invoice["id"], None, target.options())
                self.wire.maybe("delete a draft invoice", target, delete)


def describe(ref: SubscriptionRef) -> str:
    return f"{ref.api.name} {ref.api.version}: Stripe subscription {ref.id}"


def to_engine_invoice(
    found: Found,
    ref: SubscriptionRef,
    facts: SubscriptionFacts,
    start: datetime,
    end: datetime,
    *,
    preview: bool = False,
) -> EngineInvoice:
    facts_shown: dict[str, str] = {}
    if facts.metered:
        calls = sum(int(line.get("quantity") or 0) for line in found.lines if not _proration(line))
        facts_shown["Billable Requests"] = str(calls)
    return engine_invoice(
        found.invoice,
        found.lines,
        period_start=start,
        period_end=end,
        description=describe(ref),
        preview=preview,
        facts=facts_shown,
    )


def nothing_billed(
    ref: SubscriptionRef, facts: SubscriptionFacts, currency: str, start: datetime, end: datetime, index: int
) -> EngineInvoice:
    """A period of an ended subscription that Stripe made no invoice for: nothing is owed."""
    zero = money(0, currency)
    return EngineInvoice(
        id=f"{facts.id}:{index}:none",
        status="paid",
        currency=currency.upper(),
        period_start=start,
        period_end=end,
        lines=(),
        subtotal=zero,
        tax=zero,
        total=zero,
        amount_due=zero,
        description=describe(ref),
    )
