"""Queries on tenants."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from tollway.identity.roles import ROLE_ADMIN
from tollway.models import Tenant, User, UserRole


def all_tenants(session: Session) -> list[Tenant]:
    return list(session.scalars(select(Tenant).order_by(Tenant.domain)))


def admin_names(session: Session, tenant_ids: list[str]) -> dict[str, str]:
    """Each tenant's first admin (the one it was created with, unless since deleted)."""
    rows = session.execute(
        select(User.tenant_id, User.username)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == ROLE_ADMIN, User.tenant_id.in_(tenant_ids))
        .order_by(User.created_at.desc())
    )
    return {tenant_id: username for tenant_id, username in rows}  # the earliest wins: it comes last
