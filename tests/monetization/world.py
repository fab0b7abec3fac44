"""A small monetization world for service-level tests: plans, APIs, applications, subscriptions.

Rows are made the way the domain services make them (flush, then the monetization hook inside
the same transaction), so these tests exercise the real hooks, the real ledger engine and a real
database without depending on the REST layer. Usage goes through the real metering sink.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update

from tollway.billing.contract import EngineInvoice
from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.identity.roles import ROLE_PUBLISHER, ROLE_SUBSCRIBER
from tollway.invoicing import invoices
from tollway.metering.database import DatabaseSink
from tollway.metering.events import UsageEvent
from tollway.models import (
    DEFAULT_TENANT,
    Api,
    ApiPolicy,
    Application,
    LedgerSubscription,
    MonSubscription,
    PolicyPriceTier,
    Subscription,
    SubscriptionPolicy,
    Tenant,
    User,
    UserRole,
)
from tollway.monetization import enabling as apis
from tollway.monetization.service import MonetizationService
from tollway.publishing.usage_publisher import SETTLE, PublishResult, publish_all
from tollway.runtime import Runtime

_ids = itertools.count(1)


@dataclass
class World:
    runtime: Runtime
    tenant_id: str = ""
    publisher_id: str = ""
    subscriber_id: str = ""
    sink: DatabaseSink = field(init=False)
    owners: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # subscription -> ids

    def __post_init__(self) -> None:
        self.sink = DatabaseSink(self.runtime.engine)
        with transaction(self.runtime.session_factory) as session:
            tenant = session.scalar(select(Tenant).where(Tenant.domain == DEFAULT_TENANT))
            assert tenant is not None
            self.tenant_id = tenant.id
        # Invoices at once, as most tests about other things expect them; tests of late usage
        # (test_late_usage.py, test_scheduler.py) set their own window.
        self.set_late_window(0)
        self.publisher_id = self.user("pub", ROLE_PUBLISHER)
        self.subscriber_id = self.user("dev", ROLE_SUBSCRIBER, email="dev@example.com")

    @property
    def svc(self) -> MonetizationService:
        return MonetizationService(self.runtime)

    def set_late_window(self, seconds: int, **more: Any) -> None:
        """``[monetization] late_usage_window`` (and any ``more`` of that section) for this world."""
        monetization = self.runtime.settings.monetization.model_copy(
            update={"late_usage_window": seconds, **more}
        )
        self.runtime.settings = self.runtime.settings.model_copy(update={"monetization": monetization})

    def tx(self) -> Any:
        return transaction(self.runtime.session_factory)

    def user(self, name: str, role: str, email: str | None = None) -> str:
        with self.tx() as session:
            user = User(tenant_id=self.tenant_id, username=name, password_hash="x", email=email)
            user.roles.append(UserRole(role=role))
            session.add(user)
            session.flush()
            return user.id

    def policy(
        self,
        name: str = "Pro",
        *,
        plan: str | None = "DynamicRate",
        price: str | None = "0.0004",
        fixed: str | None = None,
        currency: str = "USD",
        cycle: str = "month",
        included: int = 0,
        tiers: Iterable[tuple[int | None, str]] = (),
        tier_mode: str | None = None,
        billing: str = "COMMERCIAL",
        mode: str = "POSTPAID",
    ) -> str:
        with self.tx() as session:
            policy = SubscriptionPolicy(
                tenant_id=self.tenant_id,
                name=name,
                request_count=1000,
                billing_plan=billing,
                monetization_plan=plan,
                price_per_request=Decimal(price) if price is not None else None,
                fixed_price=Decimal(fixed) if fixed is not None else None,
                currency=currency,
                billing_cycle=cycle,
                included_requests=included,
                tier_mode=tier_mode,
                billing_mode=mode,
            )
            policy.tiers = [
                PolicyPriceTier(position=i, up_to=up_to, unit_price=Decimal(unit))
                for i, (up_to, unit) in enumerate(tiers)
            ]
            session.add(policy)
            session.flush()
            self.runtime.hooks.policy_created(session, policy)
            return policy.id

    def edit_policy(self, policy_id: str, **values: Any) -> None:
        with self.tx() as session:
            policy = session.get(SubscriptionPolicy, policy_id)
            assert policy is not None
            for key, value in values.items():
                setattr(policy, key, value)
            policy.revision += 1
            session.flush()
            self.runtime.hooks.policy_updated(session, policy)

    def api(self, name: str = "Pizza", policies: Iterable[str] = ("Pro",), status: str = "PUBLISHED") -> str:
        n = next(_ids)
        with self.tx() as session:
            api = Api(
                tenant_id=self.tenant_id,
                name=name,
                context=f"/{name.lower()}{n}",
                version="1.0.0",
                provider="pub",
                provider_id=self.publisher_id,
                lifecycle_status=status,
                endpoint_config={},
            )
            session.add(api)
            session.flush()
            for position, policy_name in enumerate(policies):
                policy = session.scalar(
                    select(SubscriptionPolicy).where(
                        SubscriptionPolicy.tenant_id == self.tenant_id, SubscriptionPolicy.name == policy_name
                    )
                )
                assert policy is not None, policy_name
                session.add(ApiPolicy(api_id=api.id, policy_id=policy.id, position=position))
            session.flush()
            return api.id

    def monetize(self, api_id: str, properties: dict[str, str] | None = None, enabled: bool = True) -> None:
        with self.tx() as session:
            api = session.get(Api, api_id)
            assert api is not None
            if enabled:
                apis.enable(self.svc, session, api, properties or {})
            else:
                apis.disable(self.svc, session, api)

    def app(self, name: str = "app") -> str:
        with self.tx() as session:
            app = Application(
                tenant_id=self.tenant_id, owner_id=self.subscriber_id, name=f"{name}{next(_ids)}"
            )
            session.add(app)
            session.flush()
            return app.id

    def subscribe(self, app_id: str, api_id: str, tier: str = "Pro", status: str = "UNBLOCKED") -> str:
        with self.tx() as session:
            policy = session.scalar(
                select(SubscriptionPolicy).where(
                    SubscriptionPolicy.tenant_id == self.tenant_id, SubscriptionPolicy.name == tier
                )
            )
            assert policy is not None
            sub = Subscription(
                tenant_id=self.tenant_id,
                application_id=app_id,
                api_id=api_id,
                policy_id=policy.id,
                status=status,
            )
            session.add(sub)
            session.flush()
            self.runtime.hooks.subscription_created(session, sub)
            self.owners[sub.id] = (sub.tenant_id, sub.api_id, sub.application_id)
            return sub.id

    def unsubscribe(self, subscription_id: str) -> None:
        with self.tx() as session:
            sub = session.get(Subscription, subscription_id)
            assert sub is not None
            self.runtime.hooks.subscription_deleting(session, sub)
            session.delete(sub)

    def calls(
        self, subscription_id: str, count: int, *, billable: bool = True, at: datetime | None = None
    ) -> None:
        """``count`` gateway calls recorded through the metering sink, as the gateway does."""
        with self.tx() as session:
            sub = session.get(Subscription, subscription_id)
            if sub is not None:
                self.owners[subscription_id] = (sub.tenant_id, sub.api_id, sub.application_id)
        # A deleted subscription's calls may still arrive (a gateway replaying its spool).
        tenant_id, api_id, app_id = self.owners[subscription_id]
        moment = (at or utcnow()).timestamp()
        batch = next(_ids)
        events = [
            UsageEvent(
                id=f"t{batch}-{i}",
                time=moment,
                tenant_id=tenant_id,
                api_id=api_id,
                application_id=app_id,
                subscription_id=subscription_id,
                tier="Pro",
                status=200 if billable else 500,
                billable=billable,
                latency_us=100,
                request_bytes=10,
                response_bytes=10,
            )
            for i in range(count)
        ]
        for start in range(0, len(events), 5000):
            self.sink.write(events[start : start + 5000])

    def publish(self, now: datetime | None = None) -> PublishResult:
        """Publish as if the calls made so far had settled (up to the real now by default)."""
        return publish_all(self.svc, self.runtime.session_factory, now=now or utcnow() + SETTLE)

    def invoice(self, subscription_id: str) -> EngineInvoice:
        with self.tx() as session:
            return invoices.current_invoice(self.svc, session, subscription_id)

    def mon_rows(self, subscription_id: str) -> list[MonSubscription]:
        with self.tx() as session:
            return list(
                session.scalars(
                    select(MonSubscription)
                    .where(MonSubscription.subscription_id == subscription_id)
                    .order_by(MonSubscription.started_at)
                )
            )

    def backdate(self, subscription_id: str, delta: timedelta) -> None:
        """Move a monetized subscription's start and scheduled end (in the ledger too) ``delta`` into
        the past, as if that much time had gone by."""
        backdate(self.runtime, subscription_id, delta)


def backdate(runtime: Runtime, subscription_id: str, delta: timedelta) -> None:
    """Move a monetized subscription's start and scheduled end (in the ledger too) ``delta`` into
    the past, as if that much time had gone by."""
    with transaction(runtime.session_factory) as session:
        for row in session.scalars(
            select(MonSubscription).where(MonSubscription.subscription_id == subscription_id)
        ):
            row.started_at -= delta
            if row.usage_published_until is not None:
                row.usage_published_until -= delta
            moved: dict[str, datetime | None] = {"anchor_at": row.started_at}
            if row.canceled_at is not None:
                row.canceled_at -= delta
                if row.status == "canceled":  # the ledger was told about the end
                    moved["canceled_at"] = row.canceled_at
            session.execute(
                update(LedgerSubscription)
                .where(LedgerSubscription.id == row.engine_subscription_id)
                .values(**moved)
            )
