"""Queries for subscriptions: a subscriber's own (through their applications) or a tenant's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, Row, func, select, update
from sqlalchemy.orm import Session

from tollway.db.ids import is_object_id
from tollway.models import Application, Subscription, SubscriptionPolicy, Tenant, User


def get_owned(session: Session, tenant_id: str, owner_id: str, subscription_id: str) -> Subscription | None:
    if not is_object_id(subscription_id):
        return None
    return session.scalar(
        select(Subscription)
        .join(Application, Application.id == Subscription.application_id)
        .where(
            Subscription.id == subscription_id,
            Subscription.tenant_id == tenant_id,
            Application.owner_id == owner_id,
        )
    )


def get_in_tenant(session: Session, tenant_id: str, subscription_id: str) -> Subscription | None:
    subscription = session.get(Subscription, subscription_id) if is_object_id(subscription_id) else None
    if subscription is None or subscription.tenant_id != tenant_id:
        return None
    return subscription


def lock(session: Session, subscription: Subscription) -> bool:
    """Hold the subscription's row until the transaction ends and reload it; False once it is gone.

    Requests that change one subscription at the same time (in this process or another sharing
    the database) are put in order by the database: a no-op UPDATE write-locks the row on
    PostgreSQL and MariaDB, and the database on SQLite (which has no SELECT ... FOR UPDATE). A
    transaction that comes second waits here until the first ends, then matches the row as it is
    now -- or, when the first deleted it, no row at all (row count 0). The reload then reads the
    row's committed values under the lock (FOR UPDATE: a plain read would see MariaDB's older
    snapshot), so the caller checks the current status, not the one read before the wait.
    """
    claimed = cast(
        "CursorResult[Any]",
        session.execute(
            update(Subscription).where(Subscription.id == subscription.id).values(status=Subscription.status),
            execution_options={"synchronize_session": False},
        ),
    )
    if claimed.rowcount != 1:
        return False
    session.refresh(subscription, with_for_update=True)
    return True


def find(session: Session, application_id: str, api_id: str) -> Subscription | None:
    return session.scalar(
        select(Subscription).where(
            Subscription.application_id == application_id, Subscription.api_id == api_id
        )
    )


def policy_name(session: Session, policy_id: str) -> str:
    return session.scalar(select(SubscriptionPolicy.name).where(SubscriptionPolicy.id == policy_id)) or ""


def _page(
    session: Session, conditions: list[ColumnElement[bool]], limit: int, offset: int, *columns: Any
) -> tuple[int, Sequence[Row[Any]]]:
    base = (
        select(Subscription, SubscriptionPolicy.name, *columns)
        .join(Application, Application.id == Subscription.application_id)
        .join(SubscriptionPolicy, SubscriptionPolicy.id == Subscription.policy_id)
    )
    counted = (
        select(func.count())
        .select_from(Subscription)
        .join(Application, Application.id == Subscription.application_id)
        .where(*conditions)
    )
    total = int(session.scalar(counted) or 0)
    rows = session.execute(
        base.where(*conditions).order_by(Subscription.created_at, Subscription.id).limit(limit).offset(offset)
    ).all()
    return total, rows


def list_owned(
    session: Session,
    tenant_id: str,
    owner_id: str,
    *,
    application_id: str | None,
    api_id: str | None,
    limit: int,
    offset: int,
) -> tuple[int, Sequence[Row[Any]]]:
    """(subscription, policy name) rows of the owner's applications."""
    conditions = [Subscription.tenant_id == tenant_id, Application.owner_id == owner_id]
    if application_id is not None:
        conditions.append(Subscription.application_id == application_id)
    if api_id is not None:
        conditions.append(Subscription.api_id == api_id)
    return _page(session, conditions, limit, offset)


def list_in_tenant(
    session: Session,
    tenant_id: str,
    *,
    api_id: str | None = None,
    subscription_id: str | None = None,
    limit: int,
    offset: int,
) -> tuple[int, Sequence[Row[Any]]]:
    """(subscription, policy name, application name, owner name, owner's tenant domain) rows."""
    conditions = [Subscription.tenant_id == tenant_id]
    if api_id is not None:
        conditions.append(Subscription.api_id == api_id)
    if subscription_id is not None:
        conditions.append(Subscription.id == subscription_id)
    owner = select(User.username).where(User.id == Application.owner_id).scalar_subquery()
    domain = (
        select(Tenant.domain)
        .join(User, User.tenant_id == Tenant.id)
        .where(User.id == Application.owner_id)
        .scalar_subquery()
    )
    return _page(session, conditions, limit, offset, Application.name, owner, domain)
