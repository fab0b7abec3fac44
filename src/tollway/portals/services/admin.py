"""Usage publishing and the tenant's billing-engine key, for the admin portal."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tollway.errors import Conflict
from tollway.identity.principal import Principal
from tollway.monetization.service import MonetizationService
from tollway.portals.services.common import require
from tollway.publishing import jobs
from tollway.runtime import Runtime
from tollway.tenants import service as tenant_service


def start_usage_publishing(runtime: Runtime, principal: Principal) -> None:
    require(principal, "apim:monetization_usage_publish")
    svc = MonetizationService(runtime)
    try:
        jobs.start_in_background(svc, svc.session_factory, "portal")
    except jobs.JobBusy:
        raise Conflict("A usage publishing job is already running; its status is shown below.") from None


def publish_status(db: Session, runtime: Runtime, principal: Principal) -> dict[str, str] | None:
    require(principal, "apim:monetization_usage_publish")
    found = jobs.status(db)
    return None if found.get("startedTime") == "0" else found


PLATFORM_KEY = "BillingEnginePlatformAccountKey"


def platform_key_is_set(db: Session, runtime: Runtime, principal: Principal) -> bool:
    require(principal, "apim:admin")
    return bool(tenant_service.monetization_info(db, runtime.secrets, principal.tenant_id).get(PLATFORM_KEY))


def set_platform_key(db: Session, runtime: Runtime, principal: Principal, key: str | None) -> None:
    """Replace (or with None remove) MonetizationInfo.BillingEnginePlatformAccountKey, as PUT
    /tenant-config does; the other MonetizationInfo entries are sent back masked, i.e. kept."""
    require(principal, "apim:admin")
    document = tenant_service.tenant_config(db, runtime.secrets, principal.tenant_id)
    info = dict(document.get(tenant_service.MONETIZATION_INFO) or {})
    if key is None:
        info.pop(PLATFORM_KEY, None)
    else:
        info[PLATFORM_KEY] = key
    document[tenant_service.MONETIZATION_INFO] = info
    tenant_service.replace_tenant_config(db, runtime.secrets, principal.tenant_id, document)
