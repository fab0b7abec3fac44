"""Monetization of an API: enable (engine plans per tier), disable, tier -> plan mapping.

Enabling happens inside the publisher's transaction (engine first, compensated on rollback).
Disabling is recorded first and carried out in the engine after the commit:

* the API's tier plans are marked inactive at once: no new subscription is monetized;
* every live monetized subscription is told to end at the end of its current billing period:
  it keeps being metered until then, and that period is invoiced like any other;
* the engine retires the tier plans and schedules the ends after the commit (retried by the
  scheduler's maintenance run until it succeeds).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tollway.billing.attributes import api_attributes
from tollway.billing.contract import TierPlan, TierSpec
from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.errors import BadRequest
from tollway.models import Api, ApiPolicy, MonApiTierPlan, Subscription, SubscriptionPolicy
from tollway.monetization.context import api_spec, plan_spec
from tollway.monetization.plan_sync import ensure_platform_plan
from tollway.monetization.service import MonetizationService
from tollway.monetization.subscription_sync import end_subscriptions, live_rows, monetize, resume
from tollway.policies.pricing import pricing_plan_of
from tollway.pricing.periods import period_at
from tollway.pricing.prices import PricingPlan

log = logging.getLogger(__name__)

MONETIZABLE_STATES = ("PUBLISHED",)


def validate_properties(svc: MonetizationService, properties: Mapping[str, str]) -> dict[str, str]:
    """Check the publisher's properties against the engine's API attributes and the configured ones."""
    attributes = {a.name: a for a in api_attributes(svc.engine, svc.settings)}
    for name in properties:
        if name not in attributes:
            known = ", ".join(sorted(attributes)) or "none are configured"
            raise BadRequest(f"'properties.{name}': unknown monetization property ({known})")
    cleaned = {name: value.strip() for name, value in properties.items()}
    for attribute in attributes.values():
        if attribute.required and not cleaned.get(attribute.name):
            what = f" ({attribute.description})" if attribute.description else ""
            raise BadRequest(f"'properties.{attribute.name}' is required{what}")
    return cleaned


def monetized_tiers(session: Session, api: Api) -> list[tuple[SubscriptionPolicy, PricingPlan]]:
    """The API's business plans that are monetized, in the API's order."""
    rows = session.execute(
        select(SubscriptionPolicy)
        .join(ApiPolicy, ApiPolicy.policy_id == SubscriptionPolicy.id)
        .where(ApiPolicy.api_id == api.id)
        .order_by(ApiPolicy.position, SubscriptionPolicy.name)
    ).scalars()
    tiers = []
    for policy in rows:
        pricing = pricing_plan_of(policy)
        if pricing is not None:
            tiers.append((policy, pricing))
    return tiers


def tier_rows(session: Session, api_id: str, *, active: bool | None = True) -> list[MonApiTierPlan]:
    stmt = select(MonApiTierPlan).where(MonApiTierPlan.api_id == api_id)
    if active is not None:
        stmt = stmt.where(MonApiTierPlan.active.is_(active))
    return list(session.scalars(stmt.order_by(MonApiTierPlan.tier_name)))


def tier_plan_mapping(session: Session, api: Api) -> dict[str, str]:
    """WSO2's getMonetizedPoliciesToPlanMapping: tier name -> the engine's plan id."""
    if not api.monetization_enabled:
        return {}
    return {row.tier_name: row.engine_plan_id for row in tier_rows(session, api.id)}


def _retire_rows_now(
    svc: MonetizationService, session: Session, api: Api, rows: list[MonApiTierPlan]
) -> None:
    if not rows:
        return
    call = svc.call(session, api.tenant_id, f"tier-retire:{api.id}:{rows[0].engine_plan_id}")
    with svc.engine_errors():
        svc.engine.disable_monetization(
            call, api_spec(api), [TierPlan(r.tier_name, r.engine_product_id, r.engine_plan_id) for r in rows]
        )
    for row in rows:
        session.delete(row)
    session.flush()


def enable(svc: MonetizationService, session: Session, api: Api, properties: Mapping[str, str]) -> None:
    if api.lifecycle_status not in MONETIZABLE_STATES:
        raise BadRequest(
            f"'lifeCycleStatus': only a PUBLISHED API can be monetized; this one is {api.lifecycle_status}"
        )
    cleaned = validate_properties(svc, properties)
    tiers = monetized_tiers(session, api)
    if not tiers:
        raise BadRequest(
            "'policies': the API offers no monetized business plan "
            "(billingPlan COMMERCIAL with a FixedRate or DynamicRate monetization plan)"
        )
    # Leftovers of an earlier disable that the engine has not retired yet go first.
    _retire_rows_now(svc, session, api, tier_rows(session, api.id, active=False))

    api.monetization_properties = cleaned
    api.monetization_enabled = True
    api.updated_at = utcnow()
    offered = {policy.name for policy, _ in tiers}
    existing = {row.tier_name: row for row in tier_rows(session, api.id)}
    stale = [row for name, row in existing.items() if name not in offered]
    for row in stale:
        row.active = False
    missing = [(policy, pricing) for policy, pricing in tiers if policy.name not in existing]
    session.flush()

    spec = api_spec(api)
    if missing:
        specs = [
            TierSpec(
                policy.name, plan_spec(policy, pricing), ensure_platform_plan(svc, session, policy, pricing)
            )
            for policy, pricing in missing
        ]
        versions = ",".join(f"{p.name}={p.id}:r{p.revision}" for p, _ in missing)
        call = svc.call(
            session, api.tenant_id, f"monetize:{api.id}:{hashlib.sha256(versions.encode()).hexdigest()[:16]}"
        )
        with svc.engine_errors():
            created = svc.engine.enable_monetization(call, spec, specs)
        svc.compensate(session, lambda: svc.engine.disable_monetization(call, spec, created))
        by_name = {policy.name: policy for policy, _ in missing}
        for tier in created:
            session.add(
                MonApiTierPlan(
                    api_id=api.id,
                    tier_name=tier.tier_name,
                    policy_id=by_name[tier.tier_name].id,
                    engine_product_id=tier.product_id,
                    engine_plan_id=tier.plan_id,
                    active=True,
                )
            )
        session.flush()
    if stale:
        svc.wake_scheduler()
    _monetize_existing(svc, session, api, {policy.id for policy, _ in tiers})


def _monetize_existing(svc: MonetizationService, session: Session, api: Api, policy_ids: set[str]) -> None:
    """Subscriptions not billed now are billed from now on; none is billed twice for a time.

    One still in the period it was in when monetization was disabled (its end scheduled for the
    period's end) is resumed: it bills on as if never cancelled. Ending it and starting a new one
    would charge a second fixed fee for the rest of a period already paid for. One whose period
    ended while monetization was off starts afresh now: the time in between is free.
    """
    now = utcnow()
    subscriptions = session.scalars(
        select(Subscription).where(Subscription.api_id == api.id, Subscription.policy_id.in_(policy_ids))
    ).all()
    for subscription in subscriptions:
        if subscription.status in ("ON_HOLD", "REJECTED"):
            continue
        live = live_rows(session, subscription_id=subscription.id, at=now)
        scheduled = [row for row in live if row.canceled_at is not None]
        if len(scheduled) < len(live):
            continue  # already billed and not ending
        resumable = [
            r for r in scheduled if r.engine == svc.engine_name and r.policy_id == subscription.policy_id
        ]
        if len(scheduled) == 1 and resumable:
            resume(svc, session, resumable[0])
            continue
        # Billed by another engine (or under another plan) until its end: end it now, bill afresh.
        end_subscriptions(svc, session, scheduled, at=now)
        monetize(svc, session, subscription)


def disable(svc: MonetizationService, session: Session, api: Api) -> None:
    api.monetization_enabled = False
    api.updated_at = utcnow()
    for row in tier_rows(session, api.id):
        row.active = False
    now = utcnow()
    for live in live_rows(session, api_id=api.id, at=now):
        if live.canceled_at is None:
            end_subscriptions(
                svc, session, [live], at=period_at(live.started_at, live.billing_cycle, now).end
            )
    session.flush()
    tenant_id = api.tenant_id
    svc.later(
        session, tenant_id, f"tier-retire:{api.id}", lambda s, _c: retire_inactive_tiers_of(svc, s, api.id)
    )


def on_api_deleting(svc: MonetizationService, session: Session, api: Api) -> None:
    """The API goes: its subscriptions end now, its tier plans are retired after commit."""
    now = utcnow()
    end_subscriptions(svc, session, live_rows(session, api_id=api.id, at=now), at=now)
    rows = tier_rows(session, api.id, active=None)
    if rows:
        spec = api_spec(api)
        tiers = [TierPlan(r.tier_name, r.engine_product_id, r.engine_plan_id) for r in rows]
        # The rows are deleted with the API, so this one is best effort (logged if it fails).
        svc.later(
            session,
            api.tenant_id,
            f"tier-retire:{api.id}",
            lambda _s, c: svc.engine.disable_monetization(c, spec, tiers),
        )


def retire_inactive_tiers_of(svc: MonetizationService, session: Session, api_id: str) -> int:
    api = session.get(Api, api_id)
    rows = tier_rows(session, api_id, active=False)
    if api is None or not rows:
        return 0
    _retire_rows_now(svc, session, api, rows)
    return len(rows)


def retire_inactive_tiers(svc: MonetizationService, factory: sessionmaker[Session]) -> int:
    """Maintenance: tell the engine about tier plans marked inactive (one API per transaction)."""
    with factory() as session:
        api_ids = sorted(
            set(session.scalars(select(MonApiTierPlan.api_id).where(MonApiTierPlan.active.is_(False))))
        )
    done = 0
    for api_id in api_ids:
        try:
            with transaction(factory) as session:
                done += retire_inactive_tiers_of(svc, session, api_id)
        except Exception:
            log.exception("retiring the tier plans of API %s failed; retried on the next run", api_id)
    return done
