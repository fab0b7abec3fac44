"""The real :class:`~tollway.billing.hooks.MonetizationHooks`: domain changes -> the engine.

Installed on the runtime by :func:`tollway.monetization.setup.install_monetization`, so every
business plan and subscription goes through monetization without any workflow configuration.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tollway.models import Api, Subscription, SubscriptionPolicy
from tollway.monetization import enabling as apis
from tollway.monetization import plan_sync as billing_plans
from tollway.monetization import subscription_sync as subscribing
from tollway.monetization.service import MonetizationService


class EngineHooks:
    def __init__(self, service: MonetizationService) -> None:
        self.service = service

    def policy_created(self, session: Session, policy: SubscriptionPolicy) -> None:
        billing_plans.on_policy_created(self.service, session, policy)

    def policy_updated(self, session: Session, policy: SubscriptionPolicy) -> None:
        billing_plans.on_policy_updated(self.service, session, policy)

    def policy_deleting(self, session: Session, policy: SubscriptionPolicy) -> None:
        billing_plans.on_policy_deleting(self.service, session, policy)

    def subscription_created(self, session: Session, subscription: Subscription) -> None:
        subscribing.on_subscription_created(self.service, session, subscription)

    def subscription_activated(self, session: Session, subscription: Subscription) -> None:
        subscribing.on_subscription_activated(self.service, session, subscription)

    def subscription_deleting(self, session: Session, subscription: Subscription) -> None:
        subscribing.on_subscription_deleting(self.service, session, subscription)

    def api_deleting(self, session: Session, api: Api) -> None:
        apis.on_api_deleting(self.service, session, api)
