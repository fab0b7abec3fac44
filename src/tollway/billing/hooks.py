"""Where the control plane tells monetization that business plans and subscriptions change.

The domain services call these inside their transaction, after flushing the change. An
implementation may refuse the change (raise a TollwayError: the transaction rolls back and
nothing is written) and queues its billing-engine calls with ``tollway.db.session.after_commit``
so that no engine call is made for a transaction that rolls back.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from tollway.models import Api, Subscription, SubscriptionPolicy


class MonetizationHooks(Protocol):
    def policy_created(self, session: Session, policy: SubscriptionPolicy) -> None: ...

    def policy_updated(self, session: Session, policy: SubscriptionPolicy) -> None: ...

    def policy_deleting(self, session: Session, policy: SubscriptionPolicy) -> None: ...

    def subscription_created(self, session: Session, subscription: Subscription) -> None: ...

    def subscription_activated(self, session: Session, subscription: Subscription) -> None:
        """A subscription held by an approval workflow (ON_HOLD) was approved."""
        ...

    def subscription_deleting(self, session: Session, subscription: Subscription) -> None: ...

    def api_deleting(self, session: Session, api: Api) -> None: ...


class NoopHooks:
    """Used until a billing engine is wired in; every call is accepted and does nothing."""

    def policy_created(self, session: Session, policy: SubscriptionPolicy) -> None:
        return None

    def policy_updated(self, session: Session, policy: SubscriptionPolicy) -> None:
        return None

    def policy_deleting(self, session: Session, policy: SubscriptionPolicy) -> None:
        return None

    def subscription_created(self, session: Session, subscription: Subscription) -> None:
        return None

    def subscription_activated(self, session: Session, subscription: Subscription) -> None:
        return None

    def subscription_deleting(self, session: Session, subscription: Subscription) -> None:
        return None

    def api_deleting(self, session: Session, api: Api) -> None:
        return None
