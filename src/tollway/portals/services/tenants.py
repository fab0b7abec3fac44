"""The admin portal's Tenants page (the default tenant's admins only, as the admin REST API's
``/tenants``): list, create with their admin, deactivate."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session

from tollway.errors import Forbidden
from tollway.identity.principal import Principal
from tollway.portals.services.common import require
from tollway.tenants import service as tenant_service

MANAGE_SCOPE = "apim:tenant_manage"  # as the /tenants endpoints


def _manager(principal: Principal) -> None:
    require(principal, MANAGE_SCOPE)
    if not principal.is_default_tenant:
        raise Forbidden("Only the default tenant's admins manage tenants.")


def tenants(db: Session, principal: Principal) -> list[dict[str, Any]]:
    _manager(principal)
    return [asdict(view) for view in tenant_service.list_tenants(db)]


def create_tenant(
    db: Session, principal: Principal, domain: str, admin_username: str, admin_password: str
) -> dict[str, Any]:
    _manager(principal)
    return asdict(tenant_service.create_tenant(db, domain.strip().lower(), admin_username, admin_password))


def deactivate_tenant(db: Session, principal: Principal, domain: str) -> None:
    _manager(principal)
    tenant_service.deactivate_tenant(db, domain)
