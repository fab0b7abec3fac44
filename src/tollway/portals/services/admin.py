"""Usage publishing and the tenant's billing-engine key, for the admin portal."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tollway.billing.attributes import tenant_keys
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


def publish_history(db: Session, runtime: Runtime, principal: Principal) -> list[dict[str, Any]]:
    require(principal, "apim:monetization_usage_publish")
    return jobs.history(db)


def tenant_keys_set(db: Session, runtime: Runtime, principal: Principal) -> set[str]:
    """Which of the engine's MonetizationInfo keys the tenant has stored (never their values)."""
    require(principal, "apim:admin")
    stored = tenant_service.monetization_info(db, runtime.secrets, principal.tenant_id)
    return {key.name for key in tenant_keys(runtime.billing) if stored.get(key.name)}


def set_tenant_keys(
    db: Session, runtime: Runtime, principal: Principal, changes: dict[str, str | None]
) -> None:
    """Replace (or with None remove) MonetizationInfo entries, as PUT /tenant-config does; the other
    entries are sent back masked, i.e. kept."""
    require(principal, "apim:admin")
    document = tenant_service.tenant_config(db, runtime.secrets, principal.tenant_id)
    info = dict(document.get(tenant_service.MONETIZATION_INFO) or {})
    for name, value in changes.items():
        if value is None:
            info.pop(name, None)
        else:
            info[name] = value
    document[tenant_service.MONETIZATION_INFO] = info
    tenant_service.replace_tenant_config(db, runtime.secrets, principal.tenant_id, document)
