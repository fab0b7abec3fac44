"""Roles and the scopes each role may be granted (WSO2 3.x names)."""

from __future__ import annotations

ROLE_ADMIN = "admin"
ROLE_PUBLISHER = "Internal/publisher"
ROLE_CREATOR = "Internal/creator"
ROLE_SUBSCRIBER = "Internal/subscriber"
ROLES = (ROLE_ADMIN, ROLE_PUBLISHER, ROLE_CREATOR, ROLE_SUBSCRIBER)

PUBLISHER_SCOPES = frozenset(
    {
        "apim:api_view",
        "apim:api_create",
        "apim:api_publish",
        "apim:subscription_view",
        "apim:subscription_block",
    }
)
CREATOR_SCOPES = frozenset({"apim:api_view", "apim:api_create", "apim:subscription_view"})
DEVPORTAL_SCOPES = frozenset({"apim:subscribe", "apim:app_manage", "apim:sub_manage"})
ADMIN_SCOPES = frozenset(
    {
        "apim:admin",
        "apim:tier_view",
        "apim:tier_manage",
        "apim:monetization_usage_publish",
        "apim:tenant_manage",
        "apim:api_workflow_view",
        "apim:api_workflow_approve",
    }
)
ALL_SCOPES = PUBLISHER_SCOPES | DEVPORTAL_SCOPES | ADMIN_SCOPES

ROLE_SCOPES: dict[str, frozenset[str]] = {
    ROLE_ADMIN: ALL_SCOPES,
    ROLE_PUBLISHER: PUBLISHER_SCOPES | frozenset({"apim:tier_view"}),
    ROLE_CREATOR: CREATOR_SCOPES | frozenset({"apim:tier_view"}),
    ROLE_SUBSCRIBER: DEVPORTAL_SCOPES,
}


def allowed_scopes(roles: set[str] | frozenset[str], *, default_tenant: bool) -> frozenset[str]:
    scopes: set[str] = set()
    for role in roles:
        scopes |= ROLE_SCOPES.get(role, frozenset())
    if not default_tenant:
        # Only the super tenant's admin manages tenants.
        scopes.discard("apim:tenant_manage")
    return frozenset(scopes)
