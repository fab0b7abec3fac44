"""A seeded world for the portal tests, made through the same services the pages call."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from tests.portals.helpers import add_user
from tollway.db.session import transaction
from tollway.identity.principal import Principal, qualified_username
from tollway.identity.roles import ROLE_ADMIN, ROLE_CREATOR, ROLE_PUBLISHER, ROLE_SUBSCRIBER, allowed_scopes
from tollway.models import DEFAULT_TENANT, User
from tollway.portals import services
from tollway.runtime import Runtime

PASSWORDS = {"pat": "pat-password", "sue": "sue-password", "tom": "tom-password", "olga": "olga-password"}


def principal(runtime: Runtime, username: str, tenant: str = DEFAULT_TENANT) -> Principal:
    with transaction(runtime.session_factory) as db:
        user = next(
            u for u in db.scalars(select(User).where(User.username == username)) if u.tenant.domain == tenant
        )
        roles = frozenset(user.role_names)
        return Principal(
            tenant_id=user.tenant_id,
            tenant_domain=tenant,
            user_id=user.id,
            username=qualified_username(username, tenant),
            roles=roles,
            scopes=allowed_scopes(roles, default_tenant=tenant == DEFAULT_TENANT),
            client_pk="",
            application_id=None,
        )


@dataclass
class World:
    api_id: str = ""
    apps: dict[str, str] = field(default_factory=dict)  # owner -> application id
    subs: dict[str, str] = field(default_factory=dict)  # owner -> subscription id


def seed(runtime: Runtime, backend_url: str = "http://127.0.0.1:9/backend") -> World:
    """A fixed-price plan, a published monetized API by pat, and subscriptions of sue and tom;
    olga publishes in another tenant."""
    add_user(runtime, "pat", PASSWORDS["pat"], ROLE_PUBLISHER, ROLE_CREATOR)
    add_user(runtime, "sue", PASSWORDS["sue"], ROLE_SUBSCRIBER)
    add_user(runtime, "tom", PASSWORDS["tom"], ROLE_SUBSCRIBER)
    add_user(runtime, "olga", PASSWORDS["olga"], ROLE_PUBLISHER, ROLE_ADMIN, tenant="other.example")
    admin, pat = principal(runtime, "admin"), principal(runtime, "pat")
    world = World()
    plan = {
        "policyName": "Gold Paid",
        "displayName": "Gold Paid",
        "description": "A flat monthly price",
        "defaultLimit": {
            "type": "RequestCountLimit",
            "requestCount": {"timeUnit": "min", "requestCount": 100},
        },
        "billingPlan": "COMMERCIAL",
        "monetization": {
            "monetizationPlan": "FixedRate",
            "properties": {"fixedPrice": "10.00", "currencyType": "USD", "billingCycle": "month"},
        },
    }
    api = {
        "name": "Orders",
        "context": "/orders",
        "version": "2.0.0",
        "description": "Order a pizza from a long list of places with a long description to wrap on phones",
        "policies": ["Gold Paid", "Bronze"],
        "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": backend_url}},
    }
    with transaction(runtime.session_factory) as db:
        services.create_plan(db, runtime, admin, plan)
    with transaction(runtime.session_factory) as db:
        world.api_id = services.create_api(db, runtime, pat, api)["id"]
        services.change_lifecycle(db, runtime, pat, world.api_id, "Publish")
    with transaction(runtime.session_factory) as db:
        services.set_api_monetization(
            db, runtime, pat, world.api_id, True, {"ConnectedAccountKey": "acct_pat"}
        )
    for owner in ("sue", "tom"):
        who = principal(runtime, owner)
        with transaction(runtime.session_factory) as db:
            app = services.create_application(db, runtime, who, f"{owner}-app", None)
            world.apps[owner] = app["applicationId"]
        with transaction(runtime.session_factory) as db:
            sub = services.subscribe(db, runtime, who, world.api_id, world.apps[owner], "Gold Paid")
            world.subs[owner] = sub["subscriptionId"]
    return world
