"""The admin portal's Users page: the tenant's users, as SCIM 2.0 ``/scim2/Users`` manages them
(same checks, same caller scope ``apim:admin``): list, create, change roles, lock and unlock."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tollway.errors import Conflict, NotFound
from tollway.identity import repository
from tollway.identity import users as user_service
from tollway.identity.principal import Principal
from tollway.portals.services.common import PORTAL_LIST_LIMIT, checked_id, require

ADMIN_SCOPE = "apim:admin"  # as the SCIM endpoints


def _shown(user: Any) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "email": user.email or "",
        "roles": sorted(user.role_names),
        "active": user.active,
        "created": user.created_at,
    }


def tenant_users(db: Session, principal: Principal) -> list[dict[str, Any]]:
    require(principal, ADMIN_SCOPE)
    _, rows = repository.list_users(db, principal.tenant_id, username=None, offset=0, limit=PORTAL_LIST_LIMIT)
    return [_shown(user) for user in rows]


def create_user(
    db: Session, principal: Principal, username: str, password: str, email: str | None, roles: list[str]
) -> dict[str, Any]:
    require(principal, ADMIN_SCOPE)
    name = user_service.local_username(username, principal.tenant_domain, "userName")
    user_service.check_password(password, "password")
    if email:
        user_service.check_email(email, "emails")
    chosen = user_service.check_roles(roles, "roles")
    user = user_service.create_user(
        db,
        principal.tenant_id,
        username=name,
        password=password,
        roles=chosen,
        profile=user_service.Profile(email=email or None),
    )
    return _shown(user)


def _user(db: Session, principal: Principal, user_id: str) -> Any:
    user = repository.user_by_id(db, principal.tenant_id, checked_id(user_id))
    if user is None:
        raise NotFound(f"user {user_id!r} not found")
    return user


def set_user_roles(db: Session, principal: Principal, user_id: str, roles: list[str]) -> dict[str, Any]:
    require(principal, ADMIN_SCOPE)
    user = _user(db, principal, user_id)
    chosen = user_service.check_roles(roles, "roles")
    if user.id == principal.user_id and "admin" not in chosen:
        raise Conflict("you cannot take the admin role from your own account")
    user_service.set_roles(user, chosen)
    db.flush()
    return _shown(user)


def set_user_active(db: Session, principal: Principal, user_id: str, active: bool) -> dict[str, Any]:
    """Lock (tokens revoked at once, the gateway refuses them) or unlock a user."""
    require(principal, ADMIN_SCOPE)
    user = _user(db, principal, user_id)
    if user.id == principal.user_id and not active:
        raise Conflict("you cannot lock your own account")
    user_service.set_active(db, user, active)
    return _shown(user)
