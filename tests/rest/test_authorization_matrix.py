"""Every object endpoint of the admin, publisher and developer-portal APIs, against every kind of caller.

For each endpoint: no token -> 401; a token without the scope -> 403; another user of the same
tenant -> 404 where the object is the owner's (applications, subscriptions, keys), allowed where
WSO2 shares it in the tenant (APIs, plans); a user of another tenant -> 404 (or an empty list).
No refused answer carries the other party's data. The rightful caller then succeeds, so a 404
above is never an artefact of a malformed request. The world is built once per backend.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from tests.monetization.world import backdate
from tests.support.identity import Caller, OrmIdentity
from tests.support.rest import ADMIN, POLICIES, PUBLISHER, STORE, commercial_plan, expect, monetize, new_api
from tollway.db.base import utcnow
from tollway.identity.roles import ROLE_ADMIN, ROLE_PUBLISHER, ROLE_SUBSCRIBER
from tollway.invoicing.maintenance import run_maintenance
from tollway.monetization.service import MonetizationService
from tollway.publishing.usage_publisher import SETTLE, publish_all
from tollway.runtime import Runtime
from tollway.web.app import create_app
from tollway.web.openapi import api_routes

OTHER_TENANT = "other.com"
MY_PACKAGES = (
    "tollway.policies.",
    "tollway.apis.",
    "tollway.applications.",
    "tollway.subscriptions.",
    "tollway.wallets.",
    "tollway.webhooks.",
    "tollway.workflows.",
    "tollway.invoicing.",
)


@dataclass
class World:
    """Tenant A's objects, and who may (or may not) touch them."""

    ids: dict[str, str]
    secrets: dict[str, str]  # values that must never reach an outsider
    callers: dict[str, Caller]

    def fill(self, text: str) -> str:
        for name, value in self.ids.items():
            text = text.replace("{" + name + "}", value)
        return text


@dataclass
class Case:
    """One endpoint. ``role`` is the rightful caller; ``shared`` means the tenant's other users of
    that role may use it too (WSO2 shares APIs and plans in a tenant); ``public`` means anyone may
    read it (the catalog)."""

    method: str
    path: str  # with {policy}, {api}, {app}, {app2}, {sub}, {wallet}, {currency} placeholders
    role: str  # admin | publisher | subscriber
    ok: int
    body: Callable[[World], Any] | None = None
    params: dict[str, str] = field(default_factory=dict)
    kind: str = "object"  # object | collection | create
    shared: bool = False
    public: bool = False

    @property
    def route(self) -> tuple[str, str]:
        path = self.path
        for name in (
            "policy",
            "api",
            "app2",
            "app",
            "sub",
            "wallet",
            "currency",
            "threshold",
            "hook",
            "delivery",
            "apphook",
            "appdelivery",
            "workflow",
            "invoice",
        ):
            path = path.replace(
                "{" + name + "}", "{" + {"policy": "policyId", "api": "apiId"}.get(name, "x") + "}"
            )
        return self.method, path

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _api_body(world: World) -> dict[str, Any]:
    return new_api(name="SecretApi", context="/secret", policies=["PremiumA", "Gold"]) | {
        "description": "changed"
    }


def _plan_body(world: World) -> dict[str, Any]:
    return commercial_plan("PremiumA", description="changed")


def _hook() -> dict[str, Any]:
    return {"url": "https://hooks.example.com/tollway", "eventTypes": ["*"]}


def _credit() -> dict[str, Any]:
    return {"owner": "dev-a", "currency": "USD", "amount": "1.25", "reason": "matrix"}


CASES = [
    # Admin: business plans (shared by the tenant's admins).
    Case("GET", f"{POLICIES}", "admin", 200, kind="collection", shared=True),
    Case("POST", f"{POLICIES}", "admin", 201, body=lambda w: commercial_plan("NewPlan"), kind="create"),
    Case("GET", f"{POLICIES}/{{policy}}", "admin", 200, shared=True),
    Case("PUT", f"{POLICIES}/{{policy}}", "admin", 200, body=_plan_body, shared=True),
    # Publisher: APIs and their subscriptions (shared by the tenant's publishers).
    Case("GET", f"{PUBLISHER}/apis", "publisher", 200, kind="collection", shared=True),
    Case(
        "POST",
        f"{PUBLISHER}/apis",
        "publisher",
        201,
        body=lambda w: new_api(name="New", context="/new"),
        kind="create",
    ),
    Case("GET", f"{PUBLISHER}/apis/{{api}}", "publisher", 200, shared=True),
    Case("PUT", f"{PUBLISHER}/apis/{{api}}", "publisher", 200, body=_api_body, shared=True),
    Case("GET", f"{PUBLISHER}/apis/{{api}}/lifecycle-state", "publisher", 200, shared=True),
    Case(
        "POST",
        f"{PUBLISHER}/apis/change-lifecycle",
        "publisher",
        200,
        params={"apiId": "{api}", "action": "Publish"},
        shared=True,
    ),
    Case("GET", f"{PUBLISHER}/settings", "publisher", 200, kind="collection", shared=True),
    Case("GET", f"{PUBLISHER}/subscriptions", "publisher", 200, kind="collection", shared=True),
    Case("GET", f"{PUBLISHER}/subscriptions", "publisher", 200, params={"apiId": "{api}"}, shared=True),
    Case(
        "POST",
        f"{PUBLISHER}/subscriptions/block-subscription",
        "publisher",
        200,
        params={"subscriptionId": "{sub}", "blockState": "BLOCKED"},
        shared=True,
    ),
    Case(
        "POST",
        f"{PUBLISHER}/subscriptions/unblock-subscription",
        "publisher",
        200,
        params={"subscriptionId": "{sub}"},
        shared=True,
    ),
    # Developer portal: the public catalog.
    Case("GET", f"{STORE}/apis", "subscriber", 200, kind="collection", public=True),
    Case("GET", f"{STORE}/apis/{{api}}", "subscriber", 200, public=True),
    # Developer portal: the subscriber's own applications and subscriptions.
    Case("GET", f"{STORE}/applications", "subscriber", 200, kind="collection"),
    Case("POST", f"{STORE}/applications", "subscriber", 201, body=lambda w: {"name": "Fresh"}, kind="create"),
    Case("GET", f"{STORE}/applications/{{app}}", "subscriber", 200),
    Case("PUT", f"{STORE}/applications/{{app}}", "subscriber", 200, body=lambda w: {"name": "SecretApp"}),
    Case(
        "POST",
        f"{STORE}/applications/{{app}}/generate-keys",
        "subscriber",
        200,
        body=lambda w: {"keyType": "SANDBOX", "grantTypesToBeSupported": ["client_credentials"]},
    ),
    Case("GET", f"{STORE}/applications/{{app}}/keys", "subscriber", 200),
    Case("GET", f"{STORE}/applications/{{app}}/keys/PRODUCTION", "subscriber", 200),
    Case(
        "POST",
        f"{STORE}/applications/{{app}}/keys/PRODUCTION/generate-token",
        "subscriber",
        200,
        body=lambda w: {"consumerSecret": w.secrets["consumer_secret"], "validityPeriod": 60},
    ),
    Case(
        "POST",
        f"{STORE}/applications/{{app}}/api-keys/PRODUCTION/generate",
        "subscriber",
        200,
        body=lambda w: {"validityPeriod": 60},
    ),
    Case(
        "POST",
        f"{STORE}/applications/{{app}}/api-keys/PRODUCTION/revoke",
        "subscriber",
        200,
        body=lambda w: {"apikey": w.secrets["api_key"]},
    ),
    Case("GET", f"{STORE}/subscriptions", "subscriber", 200, kind="collection"),
    Case("GET", f"{STORE}/subscriptions", "subscriber", 200, params={"applicationId": "{app}"}),
    Case(
        "POST",
        f"{STORE}/subscriptions",
        "subscriber",
        201,
        body=lambda w: {
            "applicationId": w.ids["app2"],
            "apiId": w.ids["api"],
            "throttlingPolicy": "PremiumA",
        },
    ),
    Case("GET", f"{STORE}/subscriptions/{{sub}}", "subscriber", 200),
    Case("GET", f"{STORE}/subscriptions/{{sub}}/spend-cap", "subscriber", 200),
    Case(
        "PUT", f"{STORE}/subscriptions/{{sub}}/spend-cap", "subscriber", 200, body=lambda w: {"amount": "5"}
    ),
    Case("DELETE", f"{STORE}/subscriptions/{{sub}}/spend-cap", "subscriber", 200),
    # Wallets: the tenant's (its admins share them), credits, and the subscriber's own.
    Case("GET", f"{ADMIN}/wallets", "admin", 200, kind="collection", shared=True),
    Case("GET", f"{ADMIN}/wallets", "admin", 200, params={"owner": "dev-a"}, kind="collection", shared=True),
    Case("POST", f"{ADMIN}/wallets/credits", "admin", 201, body=lambda w: _credit(), kind="create"),
    Case("GET", f"{ADMIN}/wallets/{{wallet}}", "admin", 200, shared=True),
    Case("GET", f"{ADMIN}/wallets/{{wallet}}/entries", "admin", 200, shared=True),
    Case("POST", f"{PUBLISHER}/wallets/credits", "publisher", 201, body=lambda w: _credit(), kind="create"),
    Case("GET", f"{STORE}/wallets", "subscriber", 200, kind="collection"),
    Case("GET", f"{STORE}/wallets/{{currency}}", "subscriber", 200),
    Case("GET", f"{STORE}/wallets/{{currency}}/entries", "subscriber", 200),
    # Alert thresholds (the subscriber's own) and webhook endpoints: the tenant's (its publishers
    # and admins share them) and an application's (its owner's).
    Case("GET", f"{STORE}/alert-thresholds", "subscriber", 200, kind="collection"),
    Case(
        "POST",
        f"{STORE}/alert-thresholds",
        "subscriber",
        201,
        body=lambda w: {"subject": "WALLET", "currency": "USD", "amount": "2"},
        kind="create",
    ),
    # Invoices: revenue and open invoices, the tenant's finalized ones (its admins share them and
    # record their payments), a subscriber's own.
    Case("GET", f"{PUBLISHER}/apis/{{api}}/revenue", "publisher", 200, shared=True),
    Case("GET", f"{PUBLISHER}/subscriptions/{{sub}}/usage", "publisher", 200, shared=True),
    Case("GET", f"{STORE}/subscriptions/{{sub}}/usage", "subscriber", 200),
    Case("GET", f"{ADMIN}/invoices", "admin", 200, kind="collection", shared=True),
    Case("GET", f"{ADMIN}/invoices/{{invoice}}", "admin", 200, shared=True),
    Case("GET", f"{ADMIN}/invoices/{{invoice}}/pdf", "admin", 200, shared=True),
    Case(
        "POST",
        f"{ADMIN}/invoices/{{invoice}}/payment-status",
        "admin",
        200,
        body=lambda w: {"status": "paid", "note": "matrix"},
        shared=True,
    ),
    Case("GET", f"{STORE}/invoices", "subscriber", 200, kind="collection"),
    Case("GET", f"{STORE}/invoices/{{invoice}}", "subscriber", 200),
    Case("GET", f"{STORE}/invoices/{{invoice}}/pdf", "subscriber", 200),
    # Approval workflows: the tenant's pending requests (its admins share them).
    Case("GET", f"{ADMIN}/workflows", "admin", 200, kind="collection", shared=True),
    Case("GET", f"{ADMIN}/workflows/{{workflow}}", "admin", 200, shared=True),
    Case(
        "POST",
        f"{ADMIN}/workflows/update-workflow-status",
        "admin",
        200,
        params={"workflowReferenceId": "{workflow}"},
        body=lambda w: {"status": "APPROVED", "description": "matrix"},
        shared=True,
    ),
    Case("GET", f"{PUBLISHER}/webhooks", "publisher", 200, kind="collection", shared=True),
    Case("POST", f"{PUBLISHER}/webhooks", "publisher", 201, body=lambda w: _hook(), kind="create"),
    Case("GET", f"{PUBLISHER}/webhooks/{{hook}}", "publisher", 200, shared=True),
    Case("PUT", f"{PUBLISHER}/webhooks/{{hook}}", "publisher", 200, body=lambda w: _hook(), shared=True),
    Case("GET", f"{PUBLISHER}/webhooks/{{hook}}/deliveries", "publisher", 200, shared=True),
    Case(
        "POST",
        f"{PUBLISHER}/webhooks/{{hook}}/deliveries/{{delivery}}/redeliver",
        "publisher",
        200,
        shared=True,
    ),
    Case("GET", f"{STORE}/applications/{{app}}/webhooks", "subscriber", 200),
    Case("POST", f"{STORE}/applications/{{app}}/webhooks", "subscriber", 201, body=lambda w: _hook()),
    Case("GET", f"{STORE}/applications/{{app}}/webhooks/{{apphook}}", "subscriber", 200),
    Case(
        "PUT", f"{STORE}/applications/{{app}}/webhooks/{{apphook}}", "subscriber", 200, body=lambda w: _hook()
    ),
    Case("GET", f"{STORE}/applications/{{app}}/webhooks/{{apphook}}/deliveries", "subscriber", 200),
    Case(
        "POST",
        f"{STORE}/applications/{{app}}/webhooks/{{apphook}}/deliveries/{{appdelivery}}/redeliver",
        "subscriber",
        200,
    ),
    # Deletions last, in dependency order, so the rightful calls succeed.
    Case("DELETE", f"{STORE}/alert-thresholds/{{threshold}}", "subscriber", 200),
    Case("DELETE", f"{STORE}/applications/{{app}}/webhooks/{{apphook}}", "subscriber", 200),
    Case("DELETE", f"{PUBLISHER}/webhooks/{{hook}}", "publisher", 200, shared=True),
    Case("DELETE", f"{STORE}/subscriptions/{{sub}}", "subscriber", 200),
    Case("DELETE", f"{STORE}/applications/{{app}}", "subscriber", 200),
    Case("DELETE", f"{STORE}/applications/{{app2}}", "subscriber", 200),
    Case("DELETE", f"{PUBLISHER}/apis/{{api}}", "publisher", 200, shared=True),
    Case("DELETE", f"{POLICIES}/{{policy}}", "admin", 200, shared=True),
]


def _finalized_invoice(http: httpx.Client, admin: Caller, runtime: Runtime, subscription_id: str) -> str:
    """The subscription's first month, ended and invoiced (no calls: 0.00, stored as paid)."""
    backdate(runtime, subscription_id, timedelta(days=41))
    svc = MonetizationService(runtime)
    publish_all(svc, runtime.session_factory, now=utcnow() + SETTLE)
    assert run_maintenance(svc, runtime.session_factory).invoices_finalized == 1
    listed = expect(http.get(f"{ADMIN}/invoices", headers=admin.headers), 200)["list"]
    return str(listed[0]["invoiceId"])


def build_world(http: httpx.Client, identity: OrmIdentity) -> World:
    runtime = identity.runtime
    identity.tenant(OTHER_TENANT)
    callers = {
        "admin": identity.login("admin"),
        "publisher": identity.user("pub-a", [ROLE_PUBLISHER]),
        "subscriber": identity.user("dev-a", [ROLE_SUBSCRIBER]),
        "same-tenant:admin": identity.user("admin-a2", [ROLE_ADMIN]),
        "same-tenant:publisher": identity.user("pub-a2", [ROLE_PUBLISHER]),
        "same-tenant:subscriber": identity.user("dev-a2", [ROLE_SUBSCRIBER]),
        "other-tenant:admin": identity.user("admin", [ROLE_ADMIN], tenant=OTHER_TENANT),
        "other-tenant:publisher": identity.user("pub-a", [ROLE_PUBLISHER], tenant=OTHER_TENANT),
        "other-tenant:subscriber": identity.user("dev-a", [ROLE_SUBSCRIBER], tenant=OTHER_TENANT),
    }
    for role in ("admin", "publisher", "subscriber"):
        callers[f"unscoped:{role}"] = identity.login(callers[role].username, scopes=["openid"])
    admin, publisher, subscriber = callers["admin"], callers["publisher"], callers["subscriber"]
    policy = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("PremiumA")), 201)
    body = new_api(name="SecretApi", context="/secret", policies=["PremiumA", "Gold"])
    api = expect(http.post(f"{PUBLISHER}/apis", headers=publisher.headers, json=body), 201)
    expect(
        http.post(
            f"{PUBLISHER}/apis/change-lifecycle",
            headers=publisher.headers,
            params={"apiId": api["id"], "action": "Publish"},
        ),
        200,
    )
    monetize(http, publisher, api["id"])  # its paid plan takes subscriptions from here on
    # One application waits for approval: the tenant's workflow for it is "approval" meanwhile.
    tenant_config = f"{ADMIN}/tenant-config"
    document = expect(http.get(tenant_config, headers=admin.headers), 200)
    held = document | {"Workflows": {"application_creation": "approval"}}
    expect(http.put(tenant_config, headers=admin.headers, json=held), 200)
    pending = expect(
        http.post(f"{STORE}/applications", headers=subscriber.headers, json={"name": "PendingApp"}), 201
    )
    assert pending["status"] == "CREATED"
    expect(http.put(tenant_config, headers=admin.headers, json=document), 200)
    workflow = expect(http.get(f"{ADMIN}/workflows", headers=admin.headers), 200)["list"][0]
    assert workflow["properties"]["applicationName"] == "PendingApp"
    app = expect(
        http.post(f"{STORE}/applications", headers=subscriber.headers, json={"name": "SecretApp"}), 201
    )
    app2 = expect(
        http.post(f"{STORE}/applications", headers=subscriber.headers, json={"name": "SecretApp2"}), 201
    )
    keys = expect(
        http.post(
            f"{STORE}/applications/{app['applicationId']}/generate-keys",
            headers=subscriber.headers,
            json={"keyType": "PRODUCTION"},
        ),
        200,
    )
    api_key = expect(
        http.post(
            f"{STORE}/applications/{app['applicationId']}/api-keys/PRODUCTION/generate",
            headers=subscriber.headers,
            json={},
        ),
        200,
    )
    sub = expect(
        http.post(
            f"{STORE}/subscriptions",
            headers=subscriber.headers,
            json={"applicationId": app["applicationId"], "apiId": api["id"], "throttlingPolicy": "PremiumA"},
        ),
        201,
    )
    invoice = _finalized_invoice(http, admin, runtime, sub["subscriptionId"])
    wallet = expect(
        http.post(f"{ADMIN}/wallets/credits", headers=admin.headers, json=_credit() | {"reason": "secret"}),
        201,
    )
    threshold = expect(
        http.post(
            f"{STORE}/alert-thresholds",
            headers=subscriber.headers,
            json={"subject": "WALLET", "currency": "USD", "amount": "1"},
        ),
        201,
    )
    hook = expect(http.post(f"{PUBLISHER}/webhooks", headers=publisher.headers, json=_hook()), 201)
    app_hooks = f"{STORE}/applications/{app['applicationId']}/webhooks"
    apphook = expect(http.post(app_hooks, headers=subscriber.headers, json=_hook()), 201)
    expect(  # an event for both endpoints: subscription.blocked
        http.post(
            f"{PUBLISHER}/subscriptions/block-subscription",
            headers=publisher.headers,
            params={"subscriptionId": sub["subscriptionId"], "blockState": "PROD_ONLY_BLOCKED"},
        ),
        200,
    )
    expect(
        http.post(
            f"{PUBLISHER}/subscriptions/unblock-subscription",
            headers=publisher.headers,
            params={"subscriptionId": sub["subscriptionId"]},
        ),
        200,
    )
    hook_deliveries = f"{PUBLISHER}/webhooks/{hook['endpointId']}/deliveries"
    delivery = expect(http.get(hook_deliveries, headers=publisher.headers), 200)["list"][0]
    app_deliveries = f"{app_hooks}/{apphook['endpointId']}/deliveries"
    appdelivery = expect(http.get(app_deliveries, headers=subscriber.headers), 200)["list"][0]
    ids = {
        "threshold": threshold["thresholdId"],
        "hook": hook["endpointId"],
        "delivery": delivery["deliveryId"],
        "apphook": apphook["endpointId"],
        "appdelivery": appdelivery["deliveryId"],
        "wallet": wallet["walletId"],
        "currency": "USD",
        "policy": policy["policyId"],
        "api": api["id"],
        "app": app["applicationId"],
        "app2": app2["applicationId"],
        "sub": sub["subscriptionId"],
        "workflow": workflow["referenceId"],
        "invoice": invoice,
    }
    secrets = {name: value for name, value in ids.items() if name != "currency"} | {
        "wallet_entry": wallet["entryId"],
        "hook_secret": hook["secret"],
        "apphook_secret": apphook["secret"],
        "event": delivery["eventId"],
        "policy_name": "PremiumA",
        "api_name": "SecretApi",
        "api_context": "/secret",
        "backend": "127.0.0.1:9",
        "app_name": "SecretApp",
        "pending_app_name": "PendingApp",
        "consumer_key": keys["consumerKey"],
        "consumer_secret": keys["consumerSecret"],
        "access_token": keys["token"]["accessToken"],
        "api_key": api_key["apikey"],
    }
    return World(ids=ids, secrets=secrets, callers=callers)


def call(http: httpx.Client, world: World, case: Case, caller: Caller | None) -> httpx.Response:
    body = case.body(world) if case.body else None
    params = {key: world.fill(value) for key, value in case.params.items()}
    headers = caller.headers if caller else {}
    return http.request(case.method, world.fill(case.path), params=params, json=body, headers=headers)


def leaks(world: World, case: Case, response: httpx.Response) -> list[str]:
    """The other party's values in the answer, except those the caller sent itself."""
    params = {key: world.fill(value) for key, value in case.params.items()}
    sent = world.fill(case.path) + json.dumps(params) + json.dumps(case.body(world) if case.body else None)
    return [name for name, value in world.secrets.items() if value in response.text and value not in sent]


def check(http: httpx.Client, world: World, case: Case) -> list[str]:
    problems: list[str] = []

    def expect_status(who: str, caller: Caller | None, wanted: int, *, outsider: bool = True) -> None:
        response = call(http, world, case, caller)
        if response.status_code != wanted:
            problems.append(
                f"{case} as {who}: {response.status_code}, wanted {wanted}: {response.text[:200]}"
            )
        if outsider and (found := leaks(world, case, response)):
            problems.append(f"{case} as {who}: the answer carries {found}")

    if case.public:
        expect_status("anonymous", None, case.ok, outsider=False)
    else:
        expect_status("anonymous", None, 401)
        expect_status(f"unscoped {case.role}", world.callers[f"unscoped:{case.role}"], 403)
    if case.kind == "create":
        return problems
    other_tenant = world.callers[f"other-tenant:{case.role}"]
    same_tenant = world.callers[f"same-tenant:{case.role}"]
    expect_status("other tenant", other_tenant, case.ok if case.kind == "collection" else 404)
    if case.shared or case.public:
        if case.method == "GET":  # the tenant's other users see it (writes: tested per domain)
            expect_status("same tenant", same_tenant, case.ok, outsider=False)
    else:
        expect_status("same tenant", same_tenant, case.ok if case.kind == "collection" else 404)
    return problems


def test_every_caller_gets_only_what_is_theirs(http: httpx.Client, identity: OrmIdentity) -> None:
    world = build_world(http, identity)
    problems: list[str] = []
    for case in CASES:
        problems += check(http, world, case)
    # The objects are untouched by all those refused calls...
    owner = world.callers["subscriber"]
    assert expect(http.get(world.fill(f"{STORE}/subscriptions/{{sub}}"), headers=owner.headers), 200)[
        "status"
    ] == ("UNBLOCKED")
    assert expect(http.get(world.fill(f"{STORE}/applications/{{app}}"), headers=owner.headers), 200)[
        "name"
    ] == ("SecretApp")
    # ... and the rightful caller succeeds on every endpoint.
    for case in CASES:
        response = call(http, world, case, world.callers[case.role])
        if response.status_code != case.ok:
            problems.append(f"{case} as {case.role}: {response.status_code}: {response.text[:200]}")
    assert not problems, "\n".join(problems)


def test_the_matrix_covers_every_endpoint(runtime: Runtime) -> None:
    """A new endpoint in these packages must get a row above."""
    covered = {case.route for case in CASES}
    app = create_app(runtime)
    missing = []
    routes = api_routes(app)
    assert len(routes) > len(CASES)
    for route in routes:
        if not route.endpoint.__module__.startswith(MY_PACKAGES):
            continue
        if not route.path.startswith((ADMIN, PUBLISHER, STORE)):
            continue
        for method in route.methods or ():
            if (method, _generic(route.path)) not in {(m, _generic(p)) for m, p in covered}:
                missing.append(f"{method} {route.path}")
    assert not missing, f"endpoints without a row in the matrix: {missing}"


def _generic(path: str) -> str:
    """Path parameters and fixed key types compared by position only."""
    parts = []
    for part in path.split("/"):
        parts.append("{}" if part.startswith("{") or part in ("PRODUCTION", "SANDBOX") else part)
    return "/".join(parts)
