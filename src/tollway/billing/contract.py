"""The billing-engine interface: what Tollway asks of any engine (ledger, Stripe, your own).

It mirrors WSO2's ``Monetization`` interface (create/update/delete billing plan, enable/disable
monetization, tier -> plan mapping, current usage, total revenue, publish usage) plus the
subscription workflow WSO2 puts in separate executors (customer, shared customer, subscription).

Rules every engine follows (docs/billing-engines.md explains them with an example):

* Arguments and answers are the frozen dataclasses below; no database row crosses the interface.
  Engines keep no Tollway state: Tollway stores the ids an engine returns (``mon_*`` tables) and
  hands them back on later calls.
* Every call gets an :class:`EngineCall`: the tenant (with its decrypted ``MonetizationInfo``
  secrets: never log them), a deterministic idempotency ``key`` for the operation (a retry of the
  same operation carries the same key, so an engine that forwards it, as Stripe's
  ``Idempotency-Key``, never does the work twice), and the database ``session`` of the unit of
  work the call belongs to.
* Tollway calls an engine *inside* its transaction, after its own checks passed, so that an
  engine refusal rolls the change back and nothing is half-written. A ``transactional`` engine
  (the built-in ledger) keeps its records in Tollway's database and writes them through
  ``call.session`` (never committing): they commit or roll back with Tollway's rows. For any
  other engine Tollway runs a compensating call (delete the plan it just created, cancel the
  subscription) if its transaction rolls back after the engine said yes.
* Failures raise :class:`EngineError` (answered 502) or :class:`EngineRejected` (answered 400
  naming the field). Anything else an engine raises is a bug.
* Money is ``Decimal``; times are timezone-aware UTC.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol, cast, runtime_checkable

from sqlalchemy.orm import Session, sessionmaker

from tollway.pricing.periods import Period
from tollway.pricing.prices import InvoiceLine, PricedPeriod, PricingPlan

if TYPE_CHECKING:
    from tollway.config import Settings

__all__ = [
    "ApiSpec",
    "BillingEngine",
    "CustomerSpec",
    "EngineCall",
    "EngineError",
    "EngineInvoice",
    "EnginePlan",
    "EngineRejected",
    "EngineSetup",
    "InvoiceLine",
    "PlanSpec",
    "SharedCustomerSpec",
    "SubscriptionRef",
    "SubscriptionSpec",
    "TenantContext",
    "TierPlan",
    "TierSpec",
    "UsageRecord",
]


class EngineError(Exception):
    """The engine failed or could not be reached; Tollway answers 502 and keeps nothing."""


class EngineRejected(EngineError):
    """The engine refused the input; ``field`` names what to fix (Tollway answers 400)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class EngineSetup:
    """What an engine gets once, when the instance starts: ``EngineClass(setup)``."""

    settings: Settings
    session_factory: sessionmaker[Session]


@dataclass(frozen=True, slots=True)
class TenantContext:
    id: str
    domain: str
    # The tenant admin's MonetizationInfo (e.g. BillingEnginePlatformAccountKey), decrypted.
    monetization_info: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class EngineCall:
    tenant: TenantContext
    session: Session = field(repr=False)
    key: str

    def subkey(self, *parts: str) -> str:
        """A key for a sub-request of this operation (still deterministic, at most 64 chars)."""
        joined = ":".join((self.key, *parts))
        if len(joined) <= 64:
            return joined
        return "k" + hashlib.sha256(joined.encode()).hexdigest()[:63]


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """A business plan (subscription policy) with its pricing."""

    policy_id: str
    name: str
    display_name: str
    description: str
    revision: int
    pricing: PricingPlan


@dataclass(frozen=True, slots=True)
class EnginePlan:
    """The engine's product and price/plan for a business plan, in the platform account."""

    product_id: str
    plan_id: str
    meter_id: str | None = None


@dataclass(frozen=True, slots=True)
class ApiSpec:
    api_id: str
    name: str
    version: str
    context: str
    provider: str
    # The API's monetization properties ([[monetization.additional_attributes]], e.g.
    # ConnectedAccountKey: the publisher's account in the engine).
    properties: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TierSpec:
    """A monetized tier of an API: the business plan it offers and that plan's platform plan."""

    tier_name: str
    plan: PlanSpec
    platform_plan: EnginePlan | None


@dataclass(frozen=True, slots=True)
class TierPlan:
    """The engine's product and plan for one tier of an API (in the publisher's account)."""

    tier_name: str
    product_id: str
    plan_id: str


@dataclass(frozen=True, slots=True)
class CustomerSpec:
    """The subscriber: one platform customer per user and tenant."""

    user_id: str
    username: str
    name: str
    email: str | None


@dataclass(frozen=True, slots=True)
class SharedCustomerSpec:
    """The subscriber's customer in the API provider's account, one per application and provider."""

    application_id: str
    application_name: str
    api: ApiSpec
    parent_customer_id: str
    customer: CustomerSpec


@dataclass(frozen=True, slots=True)
class SubscriptionSpec:
    subscription_id: str  # Tollway's subscription id
    application_id: str
    api: ApiSpec
    tier: TierPlan
    pricing: PricingPlan
    customer_id: str  # the shared customer
    start: datetime  # billing periods are anchored here


@dataclass(frozen=True, slots=True)
class SubscriptionRef:
    """An engine subscription Tollway created earlier, as handed back to the engine."""

    id: str  # the engine's subscription id
    subscription_id: str | None
    api: ApiSpec
    customer_id: str | None
    started_at: datetime
    billing_cycle: str
    canceled_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """Billable calls in ``[window_start, window_end)``, all inside one billing period.

    ``key`` is deterministic (subscription + window): sending the same record twice must count
    it once.
    """

    key: str
    quantity: int
    window_start: datetime
    window_end: datetime


@dataclass(frozen=True, slots=True)
class EngineInvoice:
    """An invoice as the engine sees it. ``status``: draft (the open period, computed live),
    open (finalized, awaiting payment), paid, void."""

    id: str
    status: str
    currency: str
    period_start: datetime
    period_end: datetime
    lines: tuple[InvoiceLine, ...]
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    amount_due: Decimal
    amount_paid: Decimal = Decimal(0)
    customer_name: str = ""
    customer_email: str | None = None
    description: str = ""
    # Engine-specific facts shown beside the invoice (e.g. "Hosted Invoice URL").
    extra: Mapping[str, str] = field(default_factory=dict)


def invoice_of(
    invoice_id: str,
    status: str,
    period: Period,
    priced: PricedPeriod,
    *,
    customer_name: str = "",
    customer_email: str | None = None,
    description: str = "",
    extra: Mapping[str, str] | None = None,
) -> EngineInvoice:
    """The invoice of one period priced by :func:`tollway.pricing.prices.price_period`
    (for engines that price with Tollway's own pricing)."""
    return EngineInvoice(
        id=invoice_id,
        status=status,
        currency=priced.currency,
        period_start=period.start,
        period_end=period.end,
        lines=priced.lines,
        subtotal=priced.subtotal,
        tax=priced.tax,
        total=priced.total,
        amount_due=priced.total,
        customer_name=customer_name,
        customer_email=customer_email,
        description=description,
        extra=extra or {},
    )


@runtime_checkable
class BillingEngine(Protocol):
    """A billing engine. Instances are shared by all requests and threads of an instance."""

    name: str
    # True when the engine keeps its records in Tollway's database through ``call.session``.
    transactional: bool

    # Business plans (called when the admin creates, edits or deletes a COMMERCIAL plan).
    def create_plan(self, call: EngineCall, plan: PlanSpec) -> EnginePlan: ...

    def update_plan(self, call: EngineCall, plan: PlanSpec, current: EnginePlan) -> EnginePlan:
        """Return the plan to use from now on (engines with immutable prices make a new one)."""
        ...

    def delete_plan(self, call: EngineCall, plan: EnginePlan) -> None:
        """Retire the plan: no new subscriptions; existing ones keep their price."""
        ...

    # Monetization of an API (publisher's Monetization page).
    def enable_monetization(
        self, call: EngineCall, api: ApiSpec, tiers: Sequence[TierSpec]
    ) -> list[TierPlan]:
        """Create the API's product and one plan per monetized tier; answer them in tier order."""
        ...

    def disable_monetization(self, call: EngineCall, api: ApiSpec, tiers: Sequence[TierPlan]) -> None:
        """Retire the API's tier plans (existing subscriptions are ended separately)."""
        ...

    # Subscribers (the subscription workflow).
    def create_customer(self, call: EngineCall, customer: CustomerSpec) -> str: ...

    def create_shared_customer(self, call: EngineCall, spec: SharedCustomerSpec) -> str: ...

    def delete_customer(self, call: EngineCall, customer_id: str, api: ApiSpec | None) -> None:
        """Compensation only: remove a customer created by a transaction that rolled back
        (``api`` is given for a shared customer, None for a platform customer)."""
        ...

    def create_subscription(self, call: EngineCall, spec: SubscriptionSpec) -> str: ...

    def cancel_subscription(self, call: EngineCall, subscription: SubscriptionRef, at: datetime) -> None:
        """End billing at ``at``: in the future (the end of the current period, when monetization is
        disabled) or now (the subscription was deleted; its usage up to ``at`` has been published
        before this call, so the final invoice can be made)."""
        ...

    def resume_subscription(self, call: EngineCall, subscription: SubscriptionRef) -> None:
        """Undo an end scheduled by ``cancel_subscription`` that has not come yet (monetization was
        enabled again within the period): the subscription bills on as if never cancelled."""
        ...

    # Usage and invoices.
    def publish_usage(
        self, call: EngineCall, subscription: SubscriptionRef, records: Sequence[UsageRecord]
    ) -> None:
        """Record billable usage. Idempotent per record key; all records or an error."""
        ...

    def preview_invoice(
        self, call: EngineCall, subscription: SubscriptionRef, at: datetime
    ) -> EngineInvoice | None:
        """The invoice of the period holding ``at`` (the last period if the subscription has ended
        by then), with the usage received so far; None if the engine has nothing to show."""
        ...

    def period_invoice(
        self, call: EngineCall, subscription: SubscriptionRef, period: Period
    ) -> EngineInvoice | None:
        """The final invoice of an ended period, or None when the engine has not made it yet
        (Tollway asks again on its next run)."""
        ...

    def close(self) -> None:
        """Release connections; called when the instance stops."""
        ...


@runtime_checkable
class WebhookReceiver(Protocol):
    """An engine whose service reports changes over HTTP (payments failing, subscriptions ended).

    Served at ``POST /api/am/{engine name}/webhook/{tenantDomain}``; the engine authenticates the
    payload itself (e.g. a signature header) and raises a TollwayError for a bad one.
    """

    def receive_webhook(
        self, session: Session, tenant: TenantContext, payload: bytes, headers: Mapping[str, str]
    ) -> str:
        """Apply the event; answers what was done (for the response and the logs)."""
        ...


# --------------------------------------------------------------------------- prepaid top-ups


@dataclass(frozen=True, slots=True)
class TopUpRequest:
    """A subscriber buying prepaid credit for their wallet in ``currency``."""

    owner_id: str  # the wallet's owner (a user id)
    owner_email: str | None
    currency: str
    amount: Decimal
    success_url: str
    cancel_url: str


@dataclass(frozen=True, slots=True)
class TopUpCheckout:
    """Where the subscriber pays (a hosted payment page)."""

    session_id: str
    url: str


@dataclass(frozen=True, slots=True)
class TopUpPaid:
    """A top-up the engine's service confirmed as paid; ``reference`` is unique per payment."""

    reference: str
    tenant_id: str
    owner_id: str
    currency: str
    amount: Decimal


TopUpPaidHandler = Callable[[Session, TopUpPaid], None]


class TopUpSeller(Protocol):
    """An engine that takes payments for prepaid credit (Stripe: Checkout Sessions in payment mode).

    ``on_top_up_paid`` is set by :func:`tollway.wiring.create_runtime`: the engine calls it, in the
    webhook's transaction, once its service says a top-up is paid.
    """

    on_top_up_paid: TopUpPaidHandler

    def create_top_up(self, call: EngineCall, request: TopUpRequest) -> TopUpCheckout: ...


def top_up_seller(engine: object) -> TopUpSeller | None:
    """``engine`` as a :class:`TopUpSeller`, or None when it takes no payments (the ledger)."""
    return cast(TopUpSeller, engine) if callable(getattr(engine, "create_top_up", None)) else None
