"""Queries on users, always scoped by tenant."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tollway.models import Application, Tenant, User


def tenant_by_domain(session: Session, domain: str) -> Tenant | None:
    return session.scalar(select(Tenant).where(Tenant.domain == domain))


def user_by_id(session: Session, tenant_id: str, user_id: str) -> User | None:
    return session.scalar(select(User).where(User.tenant_id == tenant_id, User.id == user_id))


def user_by_name(session: Session, tenant_id: str, username: str) -> User | None:
    return session.scalar(select(User).where(User.tenant_id == tenant_id, User.username == username))


def list_users(
    session: Session, tenant_id: str, *, username: str | None, offset: int, limit: int
) -> tuple[int, list[User]]:
    """One page of the tenant's users ordered by name, and how many match in all."""
    where = [User.tenant_id == tenant_id]
    if username is not None:
        where.append(User.username == username)
    total = session.scalar(select(func.count()).select_from(User).where(*where)) or 0
    if limit <= 0:
        return total, []
    rows = session.scalars(select(User).where(*where).order_by(User.username).offset(offset).limit(limit))
    return total, list(rows)


def owns_applications(session: Session, user_id: str) -> bool:
    return session.scalar(select(Application.id).where(Application.owner_id == user_id).limit(1)) is not None
