"""Queries for subscription policies, always scoped by tenant."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tollway.db.ids import is_object_id
from tollway.models import Api, ApiPolicy, Subscription, SubscriptionPolicy


def get_policy(session: Session, tenant_id: str, policy_id: str) -> SubscriptionPolicy | None:
    policy = session.get(SubscriptionPolicy, policy_id) if is_object_id(policy_id) else None
    if policy is None or policy.tenant_id != tenant_id:
        return None
    return policy


def get_policy_by_name(session: Session, tenant_id: str, name: str) -> SubscriptionPolicy | None:
    return session.scalar(
        select(SubscriptionPolicy).where(
            SubscriptionPolicy.tenant_id == tenant_id, SubscriptionPolicy.name == name
        )
    )


def policies_by_name(session: Session, tenant_id: str, names: Sequence[str]) -> dict[str, SubscriptionPolicy]:
    if not names:
        return {}
    rows = session.scalars(
        select(SubscriptionPolicy).where(
            SubscriptionPolicy.tenant_id == tenant_id, SubscriptionPolicy.name.in_(list(names))
        )
    )
    return {row.name: row for row in rows}


def list_policies(session: Session, tenant_id: str) -> Sequence[SubscriptionPolicy]:
    return session.scalars(
        select(SubscriptionPolicy)
        .where(SubscriptionPolicy.tenant_id == tenant_id)
        .order_by(SubscriptionPolicy.name)
    ).all()


def policy_names(session: Session, tenant_id: str) -> set[str]:
    return set(
        session.scalars(select(SubscriptionPolicy.name).where(SubscriptionPolicy.tenant_id == tenant_id))
    )


def apis_offering(session: Session, policy_id: str) -> list[str]:
    """Names (name:version) of the APIs that offer the policy."""
    rows = session.execute(
        select(Api.name, Api.version)
        .join(ApiPolicy, ApiPolicy.api_id == Api.id)
        .where(ApiPolicy.policy_id == policy_id)
        .order_by(Api.name, Api.version)
    )
    return [f"{name}:{version}" for name, version in rows]


def subscription_count(session: Session, policy_id: str) -> int:
    return int(
        session.scalar(
            select(func.count()).select_from(Subscription).where(Subscription.policy_id == policy_id)
        )
        or 0
    )
