"""Tenants and their settings document (WSO2's tenant-conf.json).

A new tenant gets its admin (role ``admin``) and WSO2's default business plans.

Deleting a tenant deactivates it: its users can no longer sign in or get tokens, its live
tokens are revoked, and its domain stays reserved (its data — APIs, invoices — is kept).

``MonetizationInfo`` in the settings document holds billing-engine secrets (e.g. Stripe's
``BillingEnginePlatformAccountKey``). They are stored encrypted with the instance master key,
apart from the plain document, and answered masked. A PUT without ``MonetizationInfo`` keeps
them; a PUT whose value for a key is the mask keeps that key's value; keys left out of a given
``MonetizationInfo`` are removed. Billing engines read them with :func:`monetization_info`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tollway.errors import BadRequest, Conflict, NotFound
from tollway.identity import repository as users
from tollway.identity.roles import ROLE_ADMIN
from tollway.identity.tokens import revoke_tenant_tokens
from tollway.identity.users import (
    DOMAIN_PATTERN,
    MAX_DOMAIN_LENGTH,
    MIN_DOMAIN_LENGTH,
    check_password,
    create_user,
    local_username,
)
from tollway.models import DEFAULT_TENANT, Tenant
from tollway.models import workflow as workflows
from tollway.models.changes import mark_gateway_config_changed
from tollway.policies.service import seed_default_policies
from tollway.runtime import Runtime
from tollway.security.secretbox import SecretBox
from tollway.tenants import repository

MONETIZATION_INFO = "MonetizationInfo"
MASK = "********"
# The document and its encrypted secrets are TEXT columns (64 KiB on MariaDB); WSO2's default
# tenant-conf.json is about 10 KiB.
MAX_DOCUMENT_BYTES = 32 * 1024


@dataclass(frozen=True, slots=True)
class TenantView:
    domain: str
    admin_username: str | None
    active: bool


def check_domain(domain: str) -> None:
    if domain == DEFAULT_TENANT:
        raise BadRequest(f"'domain': {DEFAULT_TENANT} is the default tenant and always exists")
    if not (MIN_DOMAIN_LENGTH <= len(domain) <= MAX_DOMAIN_LENGTH and DOMAIN_PATTERN.fullmatch(domain)):
        raise BadRequest("'domain': a lower-case DNS name such as 'example.com' (letters, digits, '-', '.')")


def create_tenant(session: Session, domain: str, admin_username: str, admin_password: str) -> TenantView:
    """Create the tenant and its admin (role ``admin``) in the caller's transaction."""
    check_domain(domain)
    name = local_username(admin_username, domain, "adminUsername")
    check_password(admin_password, "adminPassword")
    if users.tenant_by_domain(session, domain) is not None:
        raise Conflict(f"tenant '{domain}' already exists")
    tenant = Tenant(domain=domain, config={}, active=True)
    session.add(tenant)
    try:
        session.flush()
    except IntegrityError:
        raise Conflict(f"tenant '{domain}' already exists") from None
    create_user(session, tenant.id, username=name, password=admin_password, roles={ROLE_ADMIN})
    seed_default_policies(session, tenant.id)
    return TenantView(domain, name, True)


def list_tenants(session: Session) -> list[TenantView]:
    tenants = repository.all_tenants(session)
    admins = repository.admin_names(session, [t.id for t in tenants])
    return [TenantView(t.domain, admins.get(t.id), t.active) for t in tenants]


def get_tenant(session: Session, domain: str) -> TenantView:
    tenant = _tenant(session, domain)
    return TenantView(
        tenant.domain, repository.admin_names(session, [tenant.id]).get(tenant.id), tenant.active
    )


def deactivate_tenant(session: Session, domain: str) -> None:
    if domain == DEFAULT_TENANT:
        raise BadRequest(f"'domain': the default tenant {DEFAULT_TENANT} cannot be deleted")
    tenant = _tenant(session, domain)
    if not tenant.active:
        return
    tenant.active = False
    session.flush()
    revoke_tenant_tokens(session, tenant.id)
    mark_gateway_config_changed(session)  # the gateway stops serving the tenant's APIs


def _tenant(session: Session, domain: str) -> Tenant:
    tenant = users.tenant_by_domain(session, domain)
    if tenant is None:
        raise NotFound(f"no tenant '{domain}'")
    return tenant


# ----- settings document --------------------------------------------------------------------


def tenant_config(session: Session, box: SecretBox, tenant_id: str) -> dict[str, Any]:
    """The settings document, ``MonetizationInfo`` values masked."""
    tenant = _tenant_by_id(session, tenant_id)
    return _masked(tenant.config, _secrets(box, tenant))


def replace_tenant_config(
    session: Session, box: SecretBox, tenant_id: str, document: dict[str, Any]
) -> dict[str, Any]:
    if len(json.dumps(document, separators=(",", ":")).encode("utf-8")) > MAX_DOCUMENT_BYTES:
        raise BadRequest(f"'body': the settings document may have at most {MAX_DOCUMENT_BYTES} bytes")
    tenant = _tenant_by_id(session, tenant_id)
    plain = dict(document)
    _check_workflows(plain.get(workflows.TENANT_CONFIG_KEY))
    stored = _secrets(box, tenant)
    given = plain.pop(MONETIZATION_INFO, None) if MONETIZATION_INFO in plain else stored
    if not isinstance(given, dict):
        raise BadRequest(f"'{MONETIZATION_INFO}': must be an object of names to secret strings")
    secrets: dict[str, str] = {}
    for key, value in given.items():
        if not isinstance(value, str) or not value:
            raise BadRequest(f"'{MONETIZATION_INFO}.{key}': must be a non-empty string")
        if value == MASK:
            if key not in stored:
                raise BadRequest(f"'{MONETIZATION_INFO}.{key}': is the mask, but no value is stored for it")
            value = stored[key]
        secrets[key] = value
    tenant.config = plain
    tenant.monetization_secrets = box.encrypt(json.dumps(secrets)) if secrets else None
    session.flush()
    return _masked(plain, secrets)


def _check_workflows(entries: Any) -> None:
    """The tenant's ``Workflows`` overrides: known kinds, each simple or approval."""
    key = workflows.TENANT_CONFIG_KEY
    if entries is None:
        return
    if not isinstance(entries, dict):
        raise BadRequest(f"'{key}': must be an object of workflow kinds to simple or approval")
    for kind, mode in entries.items():
        if kind not in workflows.KINDS.values():
            known = ", ".join(workflows.KINDS.values())
            raise BadRequest(f"'{key}.{kind}': is not a workflow kind (known: {known})")
        if mode not in workflows.MODES:
            raise BadRequest(f"'{key}.{kind}': must be simple or approval")


def monetization_info(session: Session, source: Runtime | SecretBox, tenant_id: str) -> dict[str, str]:
    """The tenant's decrypted ``MonetizationInfo`` (e.g. ``BillingEnginePlatformAccountKey``); {} if none."""
    box = source.secrets if isinstance(source, Runtime) else source
    return _secrets(box, _tenant_by_id(session, tenant_id))


def _tenant_by_id(session: Session, tenant_id: str) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"no tenant with id '{tenant_id}'")
    return tenant


def _secrets(box: SecretBox, tenant: Tenant) -> dict[str, str]:
    if not tenant.monetization_secrets:
        return {}
    stored: dict[str, str] = json.loads(box.decrypt(tenant.monetization_secrets))
    return stored


def _masked(config: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    document = dict(config)
    if secrets:
        document[MONETIZATION_INFO] = dict.fromkeys(secrets, MASK)
    return document
