"""Admin API: /tenants (the default tenant's admin only) and /tenant-config (each tenant's admin)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Response

from tollway.errors import Forbidden
from tollway.identity.principal import Principal, requires
from tollway.identity.users import DOMAIN_SCHEMA
from tollway.rest.deps import CurrentRuntime, DbSession
from tollway.rest.prefixes import ADMIN
from tollway.rest.responses import ERRORS
from tollway.tenants import service
from tollway.tenants.schemas import TenantCreate, TenantList, TenantOut

router = APIRouter(prefix=ADMIN, tags=["tenants"], responses=ERRORS)


def tenant_manager(principal: Annotated[Principal, Depends(requires("apim:tenant_manage"))]) -> Principal:
    # allowed_scopes already keeps apim:tenant_manage to the default tenant; checked again here
    # so no token can carry tenant management out of it.
    if not principal.is_default_tenant:
        raise Forbidden("only the default tenant's admin manages tenants")
    return principal


TenantManager = Annotated[Principal, Depends(tenant_manager)]
TenantAdmin = Annotated[Principal, Depends(requires("apim:admin"))]
Domain = Annotated[str, Path(description="the tenant's domain", json_schema_extra=DOMAIN_SCHEMA)]


def _out(view: service.TenantView) -> TenantOut:
    return TenantOut(domain=view.domain, adminUsername=view.admin_username, active=view.active)


@router.get("/tenants", response_model=TenantList, summary="List tenants")
def list_tenants(_: TenantManager, session: DbSession) -> TenantList:
    views = service.list_tenants(session)
    return TenantList(count=len(views), items=[_out(v) for v in views])


@router.post("/tenants", status_code=201, response_model=TenantOut, summary="Create a tenant and its admin")
def create_tenant(body: TenantCreate, _: TenantManager, session: DbSession) -> TenantOut:
    return _out(service.create_tenant(session, body.domain, body.adminUsername, body.adminPassword))


@router.get("/tenants/{domain}", response_model=TenantOut, summary="One tenant")
def get_tenant(domain: Domain, _: TenantManager, session: DbSession) -> TenantOut:
    return _out(service.get_tenant(session, domain))


@router.delete(
    "/tenants/{domain}",
    status_code=204,
    response_class=Response,
    summary="Deactivate a tenant: its users can no longer sign in and its tokens are revoked",
)
def delete_tenant(domain: Domain, _: TenantManager, session: DbSession) -> Response:
    service.deactivate_tenant(session, domain)
    return Response(status_code=204)


@router.get(
    "/tenant-config",
    response_model=dict[str, Any],
    summary="The tenant's settings document; MonetizationInfo values masked",
)
def get_tenant_config(principal: TenantAdmin, session: DbSession, runtime: CurrentRuntime) -> dict[str, Any]:
    return service.tenant_config(session, runtime.secrets, principal.tenant_id)


@router.put(
    "/tenant-config",
    response_model=dict[str, Any],
    summary="Replace the settings document; MonetizationInfo values are stored encrypted",
)
def put_tenant_config(
    document: Annotated[
        dict[str, Any],
        Body(examples=[{"MonetizationInfo": {"BillingEnginePlatformAccountKey": "sk_test_…"}}]),
    ],
    principal: TenantAdmin,
    session: DbSession,
    runtime: CurrentRuntime,
) -> dict[str, Any]:
    return service.replace_tenant_config(session, runtime.secrets, principal.tenant_id, document)
