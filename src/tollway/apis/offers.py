"""The business plans an API offers to new subscribers.

A monetized (paid) plan is offered only while the API's monetization is enabled: without it no
engine would bill the subscription, so the catalog does not advertise its price and subscribing
with it is refused. Existing subscriptions keep their plan.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from tollway.apis.repository import policies_of
from tollway.models import Api, SubscriptionPolicy
from tollway.policies.pricing import is_monetized


def is_offered(api: Api, policy: SubscriptionPolicy) -> bool:
    return api.monetization_enabled or not is_monetized(policy)


def offered_policies(session: Session, api: Api) -> list[SubscriptionPolicy]:
    """The API's plans a new subscription may choose, in the publisher's order."""
    return [policy for policy in policies_of(session, api) if is_offered(api, policy)]
