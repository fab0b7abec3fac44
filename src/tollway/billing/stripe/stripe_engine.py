"""The Stripe billing engine: Tollway's monetization on Stripe's current API.

What each Tollway action does in Stripe (docs/billing-engines.md has the same table for users):

* business plan created -> a product and a recurring price on the tenant's platform account
  (FixedRate: licensed; DynamicRate: a billing meter and a metered price on it);
  edited -> a new price (prices are immutable), the old one deactivated once Tollway commits;
  deleted -> price, product and meter deactivated.
* monetization enabled -> in the API's connected account (``ConnectedAccountKey``, sent as
  ``Stripe-Account``; the platform account itself when the API has none): a product for the API,
  a meter per metered tier, a price per tier. Disabled -> the tier prices are deactivated (and the
  product once it has no active price); meters stay, since subscriptions keep billing to the end
  of their period.
* subscribe -> the subscriber's platform customer (found by metadata, or created), a shared
  customer in the connected account (one per application and provider), a subscription on the
  tier's price. Invoices are sent to the customer (``collection_method=send_invoice``) unless the
  tenant's ``StripeCollectionMethod`` is ``charge_automatically``.
* unsubscribe -> the subscription is cancelled with a final invoice for the metered usage
  (``invoice_now``, no proration); ending at a future time (monetization disabled) -> cancelled at
  the period end.
* usage -> meter events (usage.py); invoice view -> ``invoices.create_preview`` (metered) or the
  period's invoice (licensed, billed in advance); final invoices -> found by period (invoicing.py).

Every create carries an idempotency key derived from Tollway's; if a later step of one
operation fails, what the earlier steps created is undone before the error is raised, so nothing
is left behind in Stripe (and Tollway rolls back its rows).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import stripe
from sqlalchemy.orm import Session

from tollway.billing.attributes import EngineAttribute
from tollway.billing.contract import (
    ApiSpec,
    CustomerSpec,
    EngineCall,
    EngineError,
    EngineInvoice,
    EnginePlan,
    EngineRejected,
    EngineSetup,
    PlanSpec,
    SharedCustomerSpec,
    SubscriptionRef,
    SubscriptionSpec,
    TenantContext,
    TierPlan,
    TierSpec,
    TopUpCheckout,
    TopUpPaid,
    TopUpPaidHandler,
    TopUpRequest,
    UsageRecord,
)
from tollway.billing.stripe.catalog import Catalog, Undo, v1
from tollway.billing.stripe.clients import (
    CONNECTED_ACCOUNT,
    PLATFORM_KEY,
    WEBHOOK_SECRET,
    StripeClients,
    Target,
)
from tollway.billing.stripe.facts import LIVE, FactsCache, SubscriptionFacts, read_subscription
from tollway.billing.stripe.invoicing import Invoices, nothing_billed, to_engine_invoice
from tollway.billing.stripe.mapping import fingerprint, moment, price_params, stamp
from tollway.billing.stripe.retry import RetryPolicy
from tollway.billing.stripe.top_ups import checkout_params, paid_top_up
from tollway.billing.stripe.usage import UsageSender, meter_events
from tollway.billing.stripe.webhooks import process, signing_secrets, verify
from tollway.billing.stripe.wire import Wire, answer_lost, derive, replayed, translate
from tollway.config import StripeSettings
from tollway.db.base import utcnow
from tollway.db.session import after_commit
from tollway.errors import BadRequest
from tollway.pricing.periods import Period, period_at
from tollway.pricing.prices import PricingPlan

log = logging.getLogger(__name__)

COLLECTION_METHOD = "StripeCollectionMethod"
DAYS_UNTIL_DUE = "StripeDaysUntilDue"
_TICK = timedelta(microseconds=1)
_NOW_SLACK = timedelta(seconds=5)  # an end this close to now is "now": cancel at once


def _digest(*parts: str) -> str:
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:24]


def plan_event_name(tenant: TenantContext, policy_id: str) -> str:
    return f"tollway_plan_{_digest(tenant.id, policy_id)}"


def tier_event_name(tenant: TenantContext, api_id: str, tier_name: str) -> str:
    """One meter per API tier: usage of one subscription never mixes with another's."""
    return f"tollway_api_{_digest(tenant.id, api_id, tier_name)}"


def connected_account(api: ApiSpec) -> str | None:
    return (api.properties.get(CONNECTED_ACCOUNT) or "").strip() or None


def _metadata(**values: str | None) -> dict[str, str]:
    return {f"tollway_{key}": value[:500] for key, value in values.items() if value}


class StripeEngine:
    name = "stripe"
    transactional = False
    api_attributes = (
        EngineAttribute(
            CONNECTED_ACCOUNT,
            "Connected account key",
            required=True,
            description="the publisher's Stripe account (acct_...), connected to the platform account",
        ),
    )
    tenant_keys = (
        EngineAttribute(
            PLATFORM_KEY,
            "Billing engine platform account key",
            required=True,
            description="the secret key of the tenant's Stripe platform account",
        ),
        EngineAttribute(
            WEBHOOK_SECRET, "Stripe webhook signing secret", description="whsec_..., for payment events"
        ),
    )

    def __init__(self, setup: EngineSetup | None = None) -> None:
        settings = setup.settings.monetization.stripe if setup is not None else StripeSettings()
        self.clients = StripeClients(settings)
        self.retry = RetryPolicy(budget=settings.max_retry_seconds)
        self.wire = Wire(self.retry)
        self.catalog = Catalog(self.wire)
        self.facts = FactsCache(self.catalog)
        self.invoices = Invoices(self.catalog)
        self.usage = UsageSender(self.wire, self.clients)
        self.on_top_up_paid: TopUpPaidHandler = _no_wallets

    # ----- where requests go -------------------------------------------------------------------

    def platform(self, tenant: TenantContext) -> Target:
        return self.clients.target(tenant, None)

    def connected(self, tenant: TenantContext, api: ApiSpec) -> Target:
        return self.clients.target(tenant, connected_account(api))

    # ----- business plans (platform account) ---------------------------------------------------

    def _price(
        self,
        target: Target,
        pricing: PricingPlan,
        product: str,
        meter: str | None,
        metadata: dict[str, str],
        key: str,
        nickname: str | None = None,
    ) -> str:
        params = price_params(pricing, product, meter)
        params["metadata"] = {**metadata, "tollway_pricing": fingerprint(pricing)}
        if nickname:
            params["nickname"] = nickname[:250]
        return self.catalog.create_price(target, params, key)

    def create_plan(self, call: EngineCall, plan: PlanSpec) -> EnginePlan:
        price_params(plan.pricing, "prod_check", "mtr_check")  # refusals before anything is made
        target = self.platform(call.tenant)
        undo = Undo()
        try:
            product = self._plan_product(target, call, plan, call.subkey("product"))
            undo.add("product", lambda: self.catalog.retire_product(target, product))
            meter, price = self._plan_price(target, call, plan, product, undo)
        except Exception:
            undo.run()
            raise
        return EnginePlan(product_id=product, plan_id=price, meter_id=meter)

    def _plan_price(
        self, target: Target, call: EngineCall, plan: PlanSpec, product: str, undo: Undo
    ) -> tuple[str | None, str]:
        """The plan's meter (DynamicRate; a new one is undone on failure) and its new price."""
        meter = None
        if plan.pricing.plan_type == "DynamicRate":
            meter, ours = self.catalog.meter(
                target,
                plan_event_name(call.tenant, plan.policy_id),
                f"{plan.display_name} requests",
                call.subkey("meter"),
            )
            if ours:
                created = meter
                undo.add("meter", lambda: self.catalog.deactivate_meter(target, created))
        price = self._price(
            target,
            plan.pricing,
            product,
            meter,
            _metadata(tenant=call.tenant.id, policy_id=plan.policy_id, revision=str(plan.revision)),
            call.subkey("price"),
            plan.display_name,
        )
        return meter, price

    def _plan_product(self, target: Target, call: EngineCall, plan: PlanSpec, key: str) -> str:
        params: dict[str, Any] = {
            "name": plan.display_name[:250],
            "metadata": _metadata(tenant=call.tenant.id, policy_id=plan.policy_id, plan=plan.name),
        }
        if plan.description:
            params["description"] = plan.description[:5000]
        return self.catalog.create_product(target, params, key)

    def update_plan(self, call: EngineCall, plan: PlanSpec, current: EnginePlan) -> EnginePlan:
        price_params(plan.pricing, "prod_check", "mtr_check")
        target = self.platform(call.tenant)
        changes: dict[str, Any] = {"name": plan.display_name[:250]}
        if plan.description:
            changes["description"] = plan.description[:5000]
        product = current.product_id
        if not self.catalog.update_product(target, product, changes):
            product = self._plan_product(target, call, plan, call.subkey("product"))
        price = self.catalog.retrieve_price(target, current.plan_id)
        same = (
            product == current.product_id
            and price is not None
            and price["active"]
            and (price["metadata"] or {}).get("tollway_pricing") == fingerprint(plan.pricing)
        )
        if same:
            return current
        undo = Undo()
        try:
            meter, new_price = self._plan_price(target, call, plan, product, undo)
        except Exception:
            undo.run()
            raise
        old = current

        def retire_old() -> None:
            # Only once Tollway has committed the new price: a rollback keeps the old one in use.
            self.catalog.set_price_active(target, old.plan_id, False)
            if old.meter_id and old.meter_id != meter:
                self.catalog.deactivate_meter(target, old.meter_id)

        after_commit(call.session, retire_old)
        return EnginePlan(product_id=product, plan_id=new_price, meter_id=meter)

    def delete_plan(self, call: EngineCall, plan: EnginePlan) -> None:
        target = self.platform(call.tenant)
        self.catalog.set_price_active(target, plan.plan_id, False)
        self.catalog.retire_product(target, plan.product_id)
        if plan.meter_id:
            self.catalog.deactivate_meter(target, plan.meter_id)

    # ----- monetization of an API (connected account) ------------------------------------------

    def enable_monetization(
        self, call: EngineCall, api: ApiSpec, tiers: Sequence[TierSpec]
    ) -> list[TierPlan]:
        for tier in tiers:
            price_params(tier.plan.pricing, "prod_check", "mtr_check")
        target = self.connected(call.tenant, api)
        undo = Undo()
        answer: list[TierPlan] = []
        try:
            product = self.catalog.create_product(
                target,
                {
                    "name": f"{api.name} {api.version}"[:250],
                    "description": f"{api.name} {api.version} ({api.context}) by {api.provider}"[:5000],
                    "metadata": _metadata(tenant=call.tenant.id, api_id=api.api_id, context=api.context),
                },
                call.subkey("product"),
            )
            undo.add("product", lambda: self.catalog.retire_product(target, product))
            for tier in tiers:
                meter = None
                if tier.plan.pricing.plan_type == "DynamicRate":
                    meter, ours = self.catalog.meter(
                        target,
                        tier_event_name(call.tenant, api.api_id, tier.tier_name),
                        f"{api.name} {api.version} {tier.tier_name} requests",
                        call.subkey("meter", tier.tier_name),
                    )
                    if ours:
                        undo.add("meter", partial(self.catalog.deactivate_meter, target, meter))
                price = self._price(
                    target,
                    tier.plan.pricing,
                    product,
                    meter,
                    _metadata(
                        tenant=call.tenant.id,
                        api_id=api.api_id,
                        tier=tier.tier_name,
                        policy_id=tier.plan.policy_id,
                        platform_price=tier.platform_plan.plan_id if tier.platform_plan else None,
                    ),
                    call.subkey("price", tier.tier_name),
                    tier.tier_name,
                )
                undo.add("price", partial(self.catalog.set_price_active, target, price, False))
                answer.append(TierPlan(tier.tier_name, product, price))
        except Exception:
            undo.run()
            raise
        return answer

    def disable_monetization(self, call: EngineCall, api: ApiSpec, tiers: Sequence[TierPlan]) -> None:
        target = self.connected(call.tenant, api)
        try:
            for tier in tiers:
                self.catalog.set_price_active(target, tier.plan_id, False)
            for product in sorted({tier.product_id for tier in tiers}):
                self.catalog.retire_product(target, product)
        except EngineRejected as refused:
            # The account is gone or disconnected: nothing of it can be sold any more anyway.
            log.warning("retiring tier plans of API %s: %s", api.api_id, refused.message)

    # ----- customers ---------------------------------------------------------------------------

    def _create_customer(self, target: Target, params: dict[str, Any], key: str) -> str:
        customer = self.wire.send(
            "create a customer", target, lambda: v1(target).customers.create(params, target.options(key))
        )
        if replayed(customer):
            current = self.wire.maybe(
                "read a customer",
                target,
                lambda: v1(target).customers.retrieve(customer["id"], None, target.options()),
            )
            if current is None or current.get("deleted"):
                return self._create_customer(target, params, derive(key, "after", str(customer["id"])))
        return str(customer["id"])

    def _find_platform_customer(self, target: Target, tenant: TenantContext, user_id: str) -> str | None:
        query = f"metadata['tollway_user_id']:'{user_id}' AND metadata['tollway_tenant']:'{tenant.id}'"
        try:
            found = self.wire.raw(
                "search customers",
                lambda: v1(target).customers.search({"query": query, "limit": 1}, target.options()),
            )
        except stripe.InvalidRequestError:
            return None  # search is not offered everywhere; creating is always possible
        except stripe.StripeError as error:
            raise translate("search customers", target, error) from None
        data = list(found["data"])
        return str(data[0]["id"]) if data else None

    def create_customer(self, call: EngineCall, customer: CustomerSpec) -> str:
        target = self.platform(call.tenant)
        existing = self._find_platform_customer(target, call.tenant, customer.user_id)
        if existing is not None:
            return existing
        params: dict[str, Any] = {
            "name": customer.name[:256],
            "description": f"Tollway subscriber {customer.username} ({call.tenant.domain})"[:350],
            "metadata": _metadata(
                tenant=call.tenant.id, user_id=customer.user_id, username=customer.username
            ),
        }
        if customer.email:
            params["email"] = customer.email
        return self._create_customer(target, params, call.subkey("customer"))

    def create_shared_customer(self, call: EngineCall, spec: SharedCustomerSpec) -> str:
        target = self.connected(call.tenant, spec.api)
        params: dict[str, Any] = {
            "name": spec.customer.name[:256],
            "description": f"{spec.application_name}: Tollway application of {spec.customer.username}"[:350],
            "metadata": _metadata(
                tenant=call.tenant.id,
                user_id=spec.customer.user_id,
                application_id=spec.application_id,
                platform_customer=spec.parent_customer_id,
            ),
        }
        if spec.customer.email:
            params["email"] = spec.customer.email
        return self._create_customer(target, params, call.subkey("customer"))

    def delete_customer(self, call: EngineCall, customer_id: str, api: ApiSpec | None) -> None:
        target = self.connected(call.tenant, api) if api is not None else self.platform(call.tenant)
        self.wire.maybe(
            "delete a customer",
            target,
            lambda: v1(target).customers.delete(customer_id, None, target.options()),
        )

    # ----- subscriptions -----------------------------------------------------------------------

    def _collection(self, tenant: TenantContext) -> dict[str, Any]:
        method = (tenant.monetization_info.get(COLLECTION_METHOD) or "send_invoice").strip()
        if method == "charge_automatically":
            return {"collection_method": method}
        if method != "send_invoice":
            raise EngineRejected(
                f"MonetizationInfo.{COLLECTION_METHOD}", "must be send_invoice or charge_automatically"
            )
        days = (tenant.monetization_info.get(DAYS_UNTIL_DUE) or "30").strip()
        if not days.isdigit() or not 0 < int(days) <= 730:
            raise EngineRejected(
                f"MonetizationInfo.{DAYS_UNTIL_DUE}", "must be a whole number of days, 1-730"
            )
        return {"collection_method": method, "days_until_due": int(days)}

    def create_subscription(self, call: EngineCall, spec: SubscriptionSpec) -> str:
        target = self.connected(call.tenant, spec.api)
        key = call.subkey("subscription")
        params: dict[str, Any] = {
            "customer": spec.customer_id,
            "items": [{"price": spec.tier.plan_id}],
            "description": f"{spec.api.name} {spec.api.version} - {spec.tier.tier_name}"[:500],
            "metadata": _metadata(
                tenant=call.tenant.id,
                subscription_id=spec.subscription_id,
                application_id=spec.application_id,
                api_id=spec.api.api_id,
                tier=spec.tier.tier_name,
                request=key,  # finds what a request made when its answer was lost
            ),
            **self._collection(call.tenant),
        }
        return self._subscribe(target, params, key, spec.tier.tier_name)

    def _subscribe(self, target: Target, params: dict[str, Any], key: str, tier: str) -> str:
        try:
            sub = self.wire.raw(
                "create a subscription", lambda: v1(target).subscriptions.create(params, target.options(key))
            )
        except stripe.InvalidRequestError as error:
            if str(getattr(error, "param", "") or "").startswith("items"):
                raise EngineRejected(
                    "throttlingPolicy", f"Stripe refused the price of tier {tier!r}: {error.user_message}"
                ) from None
            raise translate("create a subscription", target, error) from None
        except stripe.StripeError as error:
            if answer_lost(error):
                self._drop_made_by(target, str(params["customer"]), key)
            raise translate("create a subscription", target, error) from None
        if replayed(sub):
            current = read_subscription(self.catalog, target, str(sub["id"]))
            if current is None or current["status"] not in LIVE:
                return self._subscribe(target, params, derive(key, "after", str(sub["id"])), tier)
        self.facts.get(target, str(sub["id"]), sub)
        return str(sub["id"])

    def _drop_made_by(self, target: Target, customer: str, key: str) -> None:
        """Cancel (and void the invoice of) a subscription that request ``key`` made unbeknown to us.

        Tollway rolls the subscription back, and the request's key is never used again, so such a
        subscription would bill the customer for nothing. One attempt, no retries: the caller is
        already out of its retry budget.
        """
        subs = v1(target).subscriptions
        try:
            found = subs.list({"customer": customer, "status": "all", "limit": 100}, target.options())
            made = [
                sub
                for sub in found["data"]
                if (sub["metadata"] or {}).get("tollway_request") == key and sub["status"] in LIVE
            ]
            for sub in made:
                subs.cancel(sub["id"], {"invoice_now": False, "prorate": False}, target.options())
                self.invoices.void_unpaid(target, str(sub["id"]))
                log.warning(
                    "cancelled Stripe subscription %s, made by a request whose answer was lost", sub["id"]
                )
        except (stripe.StripeError, EngineError) as error:
            log.error(
                "Stripe may hold a subscription nobody uses: customer %s, metadata tollway_request=%s (%s)",
                customer,
                key,
                type(error).__name__,
            )

    def cancel_subscription(self, call: EngineCall, subscription: SubscriptionRef, at: datetime) -> None:
        target = self.connected(call.tenant, subscription.api)
        sub = read_subscription(self.catalog, target, subscription.id)
        if sub is None or sub["status"] not in LIVE:
            return  # already ended (a repeated call)
        subs = v1(target).subscriptions
        if at <= subscription.started_at:
            # Undone before it billed anything (its creation rolled back): no final invoice, and
            # what was invoiced in advance is voided.
            self.wire.send(
                "cancel a subscription",
                target,
                lambda: subs.cancel(
                    subscription.id, {"invoice_now": False, "prorate": False}, target.options()
                ),
            )
            self.invoices.void_unpaid(target, subscription.id)
            return
        if at <= utcnow() + _NOW_SLACK:
            self.wire.send(
                "cancel a subscription",
                target,
                lambda: subs.cancel(
                    subscription.id, {"invoice_now": True, "prorate": False}, target.options()
                ),
            )
            return
        period_end = int(sub["items"]["data"][0]["current_period_end"])
        changes: dict[str, Any]
        if abs(stamp(at) - period_end) <= 2:
            changes = {"cancel_at_period_end": True}
        else:
            changes = {"cancel_at": math.ceil(at.timestamp()), "proration_behavior": "none"}
        self.wire.send(
            "schedule a subscription's end",
            target,
            lambda: subs.update(subscription.id, changes, target.options()),
        )

    def resume_subscription(self, call: EngineCall, subscription: SubscriptionRef) -> None:
        target = self.connected(call.tenant, subscription.api)
        sub = read_subscription(self.catalog, target, subscription.id)
        if sub is None or sub["status"] not in LIVE:
            raise EngineError(f"Stripe subscription {subscription.id} has already ended")
        # Stripe takes one of the two ways an end is scheduled; clear the one that is set.
        if sub["cancel_at_period_end"]:
            changes: dict[str, Any] = {"cancel_at_period_end": False}
        elif sub["cancel_at"]:
            changes = {"cancel_at": ""}
        else:
            return  # nothing scheduled (a repeated call)
        self.wire.send(
            "resume a subscription",
            target,
            lambda: v1(target).subscriptions.update(subscription.id, changes, target.options()),
        )

    # ----- usage and invoices ------------------------------------------------------------------

    def publish_usage(
        self, call: EngineCall, subscription: SubscriptionRef, records: Sequence[UsageRecord]
    ) -> None:
        target = self.connected(call.tenant, subscription.api)
        facts = self.facts.get(target, subscription.id)
        if not facts.metered:
            return  # a fixed price: usage does not change what is billed
        self.usage.send(call.tenant, target, facts, meter_events(facts, subscription, records))

    def _tollway_period(self, subscription: SubscriptionRef, at: datetime) -> Period:
        end = subscription.canceled_at
        if end is not None and at >= end:
            at = end - _TICK
        period = period_at(subscription.started_at, subscription.billing_cycle, at)
        if end is not None and end < period.end:
            period = Period(period.index, period.start, end)
        return period

    def preview_invoice(
        self, call: EngineCall, subscription: SubscriptionRef, at: datetime
    ) -> EngineInvoice | None:
        if at < subscription.started_at:
            return None
        target = self.connected(call.tenant, subscription.api)
        sub = read_subscription(self.catalog, target, subscription.id)
        if sub is None:
            return None
        facts = self.facts.get(target, subscription.id, sub)
        period = self._tollway_period(subscription, at)
        if sub["status"] not in LIVE:
            return self.period_invoice(call, subscription, period)
        if not facts.metered:  # billed in advance: the current period's invoice already exists
            current = facts.index_at(moment(int(sub["items"]["data"][0]["current_period_start"])))
            found = self.invoices.for_period(target, facts, current)
            if found is not None:
                return to_engine_invoice(found, subscription, facts, period.start, period.end)
        preview = self.invoices.preview(target, subscription.id)
        return to_engine_invoice(preview, subscription, facts, period.start, period.end, preview=True)

    def period_invoice(
        self, call: EngineCall, subscription: SubscriptionRef, period: Period
    ) -> EngineInvoice | None:
        target = self.connected(call.tenant, subscription.api)
        facts = self.facts.get(target, subscription.id)
        found = self.invoices.for_period(target, facts, period.index)
        if found is not None:
            if found.invoice["status"] == "draft":
                return None  # Stripe finalizes it about an hour after the period (late usage counts)
            return to_engine_invoice(found, subscription, facts, period.start, period.end)
        sub = read_subscription(self.catalog, target, subscription.id)
        if sub is not None and sub["status"] in LIVE:
            return None  # not made yet
        currency = str((sub or {}).get("currency") or "usd")
        return nothing_billed(subscription, facts, currency, period.start, period.end, period.index)

    # ----- webhooks ----------------------------------------------------------------------------

    def subscription_status(
        self, tenant: TenantContext, account: str | None, subscription_id: str
    ) -> str | None:
        """Stripe's current status of a subscription (None if Stripe does not know it)."""
        target = self.clients.target(tenant, account)
        sub = read_subscription(self.catalog, target, subscription_id)
        return None if sub is None else str(sub["status"])

    def invoice_status(self, tenant: TenantContext, account: str | None, invoice_id: str) -> str | None:
        target = self.clients.target(tenant, account)
        invoice = self.wire.maybe(
            "read an invoice",
            target,
            lambda: v1(target).invoices.retrieve(invoice_id, None, target.options()),
        )
        return None if invoice is None else str(invoice["status"])

    def receive_webhook(
        self, session: Session, tenant: TenantContext, payload: bytes, headers: Mapping[str, str]
    ) -> str:
        """Verify an event with the tenant's webhook signing secret(s), then apply it."""
        secrets = signing_secrets(tenant.monetization_info.get(WEBHOOK_SECRET) or "")
        if not secrets:
            raise BadRequest(f"'MonetizationInfo.{WEBHOOK_SECRET}': tenant {tenant.domain} has not set it")
        return process(session, self, tenant, verify(payload, headers.get("stripe-signature"), secrets))

    # ----- prepaid top-ups (platform account; tollway.billing.stripe.top_ups) -----------------

    def create_top_up(self, call: EngineCall, request: TopUpRequest) -> TopUpCheckout:
        params = checkout_params(request, call.tenant.id)
        target = self.platform(call.tenant)
        session = self.wire.send(
            "create a Checkout Session",
            target,
            lambda: v1(target).checkout.sessions.create(params, target.options(call.key)),
        )
        return TopUpCheckout(session_id=str(session["id"]), url=str(session["url"]))

    def paid_top_up(self, tenant: TenantContext, session_id: str) -> TopUpPaid | None:
        """The top-up a Checkout Session pays for, as Stripe has the session now."""
        target = self.platform(tenant)
        found = self.wire.maybe(
            "read a Checkout Session",
            target,
            lambda: v1(target).checkout.sessions.retrieve(session_id, None, target.options()),
        )
        return None if found is None else paid_top_up(found, tenant.id)

    def close(self) -> None:
        self.clients.close()


def _no_wallets(session: Session, paid: TopUpPaid) -> None:
    raise EngineError(f"a top-up was paid ({paid.reference}) but no wallet service is installed")


def facts_of(engine: StripeEngine, tenant: TenantContext, subscription: SubscriptionRef) -> SubscriptionFacts:
    """The cached facts of a subscription (for tests and tools)."""
    return engine.facts.get(engine.connected(tenant, subscription.api), subscription.id)


__all__ = ["EngineError", "StripeEngine"]
