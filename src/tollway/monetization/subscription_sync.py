"""Monetized subscriptions: the subscription workflow WSO2 runs in its Stripe executors.

A subscription is monetized when its API has monetization enabled and its tier has an active
engine plan. Then, inside the subscriber's transaction (no workflow configuration needed):

1. the subscriber's platform customer (one per user and tenant) is found or created;
2. the shared customer in the API provider's account (one per application and provider);
3. the engine subscription, anchored now (its billing periods start here).

A subscription waiting for approval (``ON_HOLD``) is monetized when it is approved
(``MonetizationHooks.subscription_activated``), so approval workflows keep working.

Ending (subscription deleted, API deleted, monetization disabled) is recorded first: the row gets
``canceled_at`` and status ``canceling``; after the commit its usage up to ``canceled_at`` is
published and the engine is told (see :mod:`tollway.invoicing.maintenance`); the final period
is invoiced like any other.

Statuses of ``mon_subscriptions``: ``active``; ``canceling`` (end recorded, engine not told yet);
``canceled`` (engine told; still billing until ``canceled_at`` if that is in the future);
``ended`` (final invoice stored, nothing left to do).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from tollway.billing.contract import SharedCustomerSpec, SubscriptionRef, SubscriptionSpec, TierPlan
from tollway.db.base import new_id, utcnow
from tollway.db.session import after_commit
from tollway.errors import NotFound
from tollway.models import (
    Api,
    Application,
    MonApiTierPlan,
    MonPlatformCustomer,
    MonSharedCustomer,
    MonSubscription,
    Subscription,
    SubscriptionPolicy,
    User,
)
from tollway.monetization.context import api_snapshot, api_spec, customer_spec
from tollway.monetization.service import MonetizationService
from tollway.policies.pricing import pricing_plan_of

LIVE = ("active", "canceling", "canceled")
WAITING = ("ON_HOLD", "REJECTED")


def live_rows(
    session: Session, *, at: datetime, subscription_id: str | None = None, api_id: str | None = None
) -> list[MonSubscription]:
    """Monetized subscriptions still billing at ``at`` (not ended, end not reached)."""
    stmt = select(MonSubscription).where(
        MonSubscription.status.in_(LIVE),
        or_(MonSubscription.canceled_at.is_(None), MonSubscription.canceled_at > at),
    )
    if subscription_id is not None:
        stmt = stmt.where(MonSubscription.subscription_id == subscription_id)
    if api_id is not None:
        stmt = stmt.where(MonSubscription.api_id == api_id)
    return list(session.scalars(stmt.order_by(MonSubscription.started_at)))


def _platform_customer(
    svc: MonetizationService, session: Session, tenant_id: str, user: User
) -> MonPlatformCustomer:
    row = session.scalar(
        select(MonPlatformCustomer).where(
            MonPlatformCustomer.tenant_id == tenant_id, MonPlatformCustomer.user_id == user.id
        )
    )
    if row is not None:
        return row
    call = svc.call(session, tenant_id, f"cus:{tenant_id}:{user.id}")
    with svc.engine_errors():
        customer_id = svc.engine.create_customer(call, customer_spec(user))
    svc.compensate(session, lambda: svc.engine.delete_customer(call, customer_id, None))
    row = MonPlatformCustomer(tenant_id=tenant_id, user_id=user.id, engine_customer_id=customer_id)
    session.add(row)
    session.flush()
    return row


def _shared_customer(
    svc: MonetizationService,
    session: Session,
    app: Application,
    api: Api,
    parent: MonPlatformCustomer,
    user: User,
) -> MonSharedCustomer:
    row = session.scalar(
        select(MonSharedCustomer).where(
            MonSharedCustomer.application_id == app.id, MonSharedCustomer.api_provider == api.provider
        )
    )
    if row is not None:
        return row
    spec = api_spec(api)
    call = svc.call(session, app.tenant_id, f"scus:{app.id}:{api.provider}")
    shared = SharedCustomerSpec(
        application_id=app.id,
        application_name=app.name,
        api=spec,
        parent_customer_id=parent.engine_customer_id,
        customer=customer_spec(user),
    )
    with svc.engine_errors():
        customer_id = svc.engine.create_shared_customer(call, shared)
    svc.compensate(session, lambda: svc.engine.delete_customer(call, customer_id, spec))
    row = MonSharedCustomer(
        tenant_id=app.tenant_id,
        application_id=app.id,
        api_provider=api.provider,
        engine_customer_id=customer_id,
        parent_id=parent.id,
    )
    session.add(row)
    session.flush()
    return row


def monetize(
    svc: MonetizationService, session: Session, subscription: Subscription
) -> MonSubscription | None:
    """Create the engine subscription behind ``subscription`` if its tier is monetized."""
    api = session.get(Api, subscription.api_id)
    policy = session.get(SubscriptionPolicy, subscription.policy_id)
    if api is None or policy is None or not api.monetization_enabled:
        return None
    tier = session.scalar(
        select(MonApiTierPlan).where(
            MonApiTierPlan.api_id == api.id,
            MonApiTierPlan.tier_name == policy.name,
            MonApiTierPlan.active.is_(True),
        )
    )
    pricing = pricing_plan_of(policy)
    if tier is None or pricing is None:
        return None
    app = session.get(Application, subscription.application_id)
    user = session.get(User, app.owner_id) if app is not None else None
    if app is None or user is None:
        raise NotFound(f"application {subscription.application_id} or its owner does not exist")

    platform = _platform_customer(svc, session, app.tenant_id, user)
    shared = _shared_customer(svc, session, app, api, platform, user)
    mon_id, now = new_id(), utcnow()
    spec = api_spec(api)
    call = svc.call(session, app.tenant_id, f"msub:{mon_id}")
    with svc.engine_errors():
        engine_id = svc.engine.create_subscription(
            call,
            SubscriptionSpec(
                subscription_id=subscription.id,
                application_id=app.id,
                api=spec,
                tier=TierPlan(tier.tier_name, tier.engine_product_id, tier.engine_plan_id),
                pricing=pricing,
                customer_id=shared.engine_customer_id,
                start=now,
            ),
        )
    ref = SubscriptionRef(
        engine_id, subscription.id, spec, shared.engine_customer_id, now, pricing.billing_cycle
    )
    svc.compensate(session, lambda: svc.engine.cancel_subscription(call, ref, now))
    row = MonSubscription(
        id=mon_id,
        tenant_id=subscription.tenant_id,
        subscription_id=subscription.id,
        application_id=app.id,
        api_id=api.id,
        policy_id=policy.id,
        api_snapshot=api_snapshot(spec),
        billing_cycle=pricing.billing_cycle,
        engine=svc.engine.name,
        engine_subscription_id=engine_id,
        shared_customer_id=shared.id,
        status="active",
        plan_type=pricing.plan_type,
        started_at=now,
    )
    session.add(row)
    session.flush()
    return row


def end_subscriptions(
    svc: MonetizationService, session: Session, rows: Sequence[MonSubscription], *, at: datetime
) -> None:
    """Record that ``rows`` stop billing at ``at``; the engine is told after commit."""
    if not rows:
        return
    for row in rows:
        row.canceled_at = at
        row.status = "canceling"
    session.flush()
    ids = [row.id for row in rows]

    def tell_engine() -> None:
        svc.runtime.subscriptions_ended(ids)
        svc.wake_scheduler()  # what had to wait for the usage to settle is finished there

    after_commit(session, tell_engine)


def resume(svc: MonetizationService, session: Session, row: MonSubscription) -> None:
    """Take back the scheduled end of ``row`` (monetization enabled again before it came).

    The row is locked first: the maintenance run that tells the engine about ends locks it too,
    so the engine hears the cancel and the resume in the order the database records them.
    """
    locked = session.get(MonSubscription, row.id, with_for_update=True, populate_existing=True)
    if locked is None or locked.canceled_at is None:
        return
    ending = locked.canceled_at
    if locked.status == "canceled":  # the engine was told about the end: take it back there too
        ref = svc.ref(session, locked)
        call = svc.call(session, locked.tenant_id, f"resume:{locked.id}:{ending.timestamp():.6f}")
        with svc.engine_errors():
            svc.engine.resume_subscription(call, ref)
        svc.compensate(session, lambda: svc.engine.cancel_subscription(call, ref, ending))
    locked.status = "active"
    locked.canceled_at = None
    session.flush()


def on_subscription_created(svc: MonetizationService, session: Session, subscription: Subscription) -> None:
    if subscription.status in WAITING:
        return  # an approval workflow holds it; monetized when approved
    monetize(svc, session, subscription)


def on_subscription_activated(svc: MonetizationService, session: Session, subscription: Subscription) -> None:
    if not live_rows(session, at=utcnow(), subscription_id=subscription.id):
        monetize(svc, session, subscription)


def on_subscription_deleting(svc: MonetizationService, session: Session, subscription: Subscription) -> None:
    now = utcnow()
    end_subscriptions(svc, session, live_rows(session, at=now, subscription_id=subscription.id), at=now)
