"""Every router of the control plane, in the order they are mounted (portals first: they own `/`)."""

from __future__ import annotations

from fastapi import APIRouter

from tollway.apis.endpoints import publisher_router as apis
from tollway.apis.endpoints import store_router as catalog
from tollway.applications.endpoints import router as applications
from tollway.identity.oauth_endpoints import router as oauth
from tollway.identity.scim_endpoints import router as scim_users
from tollway.identity.signup_endpoints import router as sign_up
from tollway.invoicing.endpoints import admin_router as stored_invoices
from tollway.invoicing.endpoints import publisher_router as revenue
from tollway.invoicing.endpoints import store_router as invoices
from tollway.monetization.endpoints import publisher_router as monetization
from tollway.monetization.top_ups import router as top_ups
from tollway.monetization.webhooks import router as engine_webhooks
from tollway.policies.endpoints import router as policies
from tollway.portals import admin, devportal, publisher, signin
from tollway.publishing.endpoints import admin_router as usage_publishing
from tollway.subscriptions.endpoints import publisher_router as api_subscriptions
from tollway.subscriptions.endpoints import store_router as subscriptions
from tollway.tenants.endpoints import router as tenants
from tollway.wallets.alert_endpoints import router as alert_thresholds
from tollway.wallets.cap_endpoints import router as spend_caps
from tollway.wallets.endpoints import admin_router as wallets
from tollway.wallets.endpoints import publisher_router as wallet_grants
from tollway.wallets.endpoints import store_router as my_wallets
from tollway.web.docs import router as references
from tollway.web.openapi import router as documents
from tollway.webhooks.endpoints import publisher_router as tenant_webhooks
from tollway.webhooks.endpoints import store_router as application_webhooks
from tollway.workflows.endpoints import router as workflows

ROUTERS: tuple[APIRouter, ...] = (
    signin.router,
    admin.router,
    publisher.router,
    devportal.router,
    policies,
    apis,
    api_subscriptions,
    catalog,
    applications,
    subscriptions,
    documents,
    references,
    monetization,
    revenue,
    invoices,
    stored_invoices,
    usage_publishing,
    engine_webhooks,
    oauth,
    scim_users,
    sign_up,
    tenants,
    wallets,
    wallet_grants,
    my_wallets,
    spend_caps,
    top_ups,
    alert_thresholds,
    tenant_webhooks,
    application_webhooks,
    workflows,
)
