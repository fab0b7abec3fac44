"""Publisher API: /apis CRUD, search and paging, lifecycle, settings — over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.billing.conftest import use_engine
from tests.support.identity import Caller, OrmIdentity
from tests.support.rest import PUBLISHER, STORE, RecordingHooks, config_version, expect, new_api
from tollway.config import AdditionalAttribute
from tollway.identity.roles import ROLE_PUBLISHER
from tollway.runtime import Runtime

APIS = f"{PUBLISHER}/apis"


def create(http: httpx.Client, caller: Caller, **changes: Any) -> dict[str, Any]:
    return expect(http.post(APIS, headers=caller.headers, json=new_api(**changes)), 201)  # type: ignore[no-any-return]


def lifecycle(http: httpx.Client, caller: Caller, api_id: str, action: str) -> httpx.Response:
    return http.post(
        f"{APIS}/change-lifecycle", headers=caller.headers, params={"apiId": api_id, "action": action}
    )


def test_create_and_read_an_api(http: httpx.Client, publisher: Caller, runtime: Runtime) -> None:
    before = config_version(runtime)
    body = new_api(
        context="pizza/", description="Pizza shack", backendTimeoutMs=2500, policies=["Gold", "Bronze"]
    )
    response = http.post(APIS, headers=publisher.headers, json=body)
    api = expect(response, 201)
    assert response.headers["location"] == f"{APIS}/{api['id']}"
    assert api == {
        "id": api["id"],
        "name": "Pizza",
        "context": "/pizza",
        "version": "1.0.0",
        "provider": "pub",
        "lifeCycleStatus": "CREATED",
        "description": "Pizza shack",
        "policies": ["Gold", "Bronze"],
        "endpointConfig": {
            "endpoint_type": "http",
            "production_endpoints": {"url": "http://127.0.0.1:9/backend"},
            "sandbox_endpoints": {"url": "http://127.0.0.1:9/sandbox"},
        },
        "backendTimeoutMs": 2500,
    }
    assert expect(http.get(f"{APIS}/{api['id']}", headers=publisher.headers), 200) == api
    assert config_version(runtime) > before


def test_a_tenant_api_drops_its_implicit_tenant_prefix(http: httpx.Client, identity: OrmIdentity) -> None:
    tenant_publisher = identity.user("pub", [ROLE_PUBLISHER], tenant="acme.com")
    api = create(http, tenant_publisher, context="/t/acme.com/pizza")
    assert api["context"] == "/pizza"
    assert api["provider"] == "pub@acme.com"
    response = http.post(
        APIS, headers=tenant_publisher.headers, json=new_api(name="B", context="/t/other.com/x")
    )
    assert response.status_code == 400 and "context" in response.json()["description"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"context": "/pizza/{version}"}, "context"),
        ({"context": "/piz za"}, "context"),
        ({"context": "/"}, "context"),
        ({"context": "/t/acme.com/x"}, "context"),
        ({"context": "/a/../b"}, "context"),
        ({"context": "/_tollway/x"}, "context"),  # the gateway's own (GET /_tollway/health)
        ({"version": "1/0"}, "version"),
        ({"name": "pizza<script>"}, "name"),
        ({"name": ""}, "name"),
        ({"policies": ["Gold", "Platinum"]}, "policies"),
        ({"policies": "Gold"}, "policies"),
        (
            {"endpointConfig": {"production_endpoints": {"url": "ftp://x/"}}},
            "endpointConfig.production_endpoints.url",
        ),
        (
            {"endpointConfig": {"production_endpoints": {"url": "backend"}}},
            "endpointConfig.production_endpoints.url",
        ),
        (
            {"endpointConfig": {"production_endpoints": {"url": "http://x:99999/"}}},
            "production_endpoints.url",
        ),
        (
            {"endpointConfig": {"sandbox_endpoints": {"url": "http:///nohost"}}},
            "endpointConfig.sandbox_endpoints.url",
        ),
        ({"endpointConfig": {"endpoint_type": "soap"}}, "endpointConfig.endpoint_type"),
        ({"endpointConfig": {"production_endpoints": {"uri": "http://x"}}}, "uri"),
        ({"backendTimeoutMs": 0}, "backendTimeoutMs"),
        ({"backendTimeoutMs": "100"}, "backendTimeoutMs"),
        ({"lifeCycleStatus": "PUBLISHED"}, "lifeCycleStatus"),
        ({"provider": "someone-else"}, "provider"),
        ({"transport": ["http"]}, "transport"),
    ],
)
def test_bad_apis_are_refused_naming_the_field(
    http: httpx.Client, publisher: Caller, changes: dict[str, Any], field: str
) -> None:
    response = http.post(APIS, headers=publisher.headers, json=new_api(**changes))
    assert response.status_code == 400, response.text
    assert field in response.json()["description"]
    assert expect(http.get(APIS, headers=publisher.headers), 200)["count"] == 0


def test_context_and_name_are_unique_per_version(http: httpx.Client, publisher: Caller) -> None:
    create(http, publisher)
    response = http.post(APIS, headers=publisher.headers, json=new_api(name="Other"))
    assert response.status_code == 409 and "context" in response.json()["description"]
    expect(http.post(APIS, headers=publisher.headers, json=new_api(context="/other")), 409)
    create(http, publisher, version="2.0.0")  # a new version of the same API is fine
    create(http, publisher, name="Other", context="/other")


def test_each_tenant_has_its_own_contexts(
    http: httpx.Client, publisher: Caller, identity: OrmIdentity
) -> None:
    create(http, publisher)
    create(http, identity.user("pub", [ROLE_PUBLISHER], tenant="acme.com"))


def test_search_and_paging(http: httpx.Client, publisher: Caller) -> None:
    for name in ("Pizza", "Pasta", "Pizzeria"):
        create(http, publisher, name=name, context=f"/{name.lower()}")
    page = expect(http.get(APIS, headers=publisher.headers, params={"limit": 2}), 200)
    assert page["count"] == 2 and page["pagination"]["total"] == 3
    assert [a["name"] for a in page["list"]] == ["Pasta", "Pizza"]
    assert page["pagination"]["next"] == f"{APIS}?limit=2&offset=2"
    assert page["pagination"]["previous"] == ""
    rest = expect(http.get(APIS, headers=publisher.headers, params={"limit": 2, "offset": 2}), 200)
    assert [a["name"] for a in rest["list"]] == ["Pizzeria"]
    assert rest["pagination"]["previous"] == f"{APIS}?limit=2&offset=0"

    def search(query: str) -> list[str]:
        body = expect(http.get(APIS, headers=publisher.headers, params={"query": query}), 200)
        return [a["name"] for a in body["list"]]

    assert search("pizz") == ["Pizza", "Pizzeria"]
    assert search("name:PASTA") == ["Pasta"]
    assert search("context:/pizzeria") == ["Pizzeria"]
    assert search("status:published") == []
    assert search("100%") == []
    assert search("_") == []
    for params in ({"limit": 0}, {"limit": "ten"}, {"offset": -1}, {"query": "a\x00"}):
        expect(http.get(APIS, headers=publisher.headers, params=params), 400)


def test_a_get_body_can_be_put_back(http: httpx.Client, publisher: Caller, runtime: Runtime) -> None:
    api = create(http, publisher)
    before = config_version(runtime)
    api["policies"] = ["Bronze", "Gold"]
    api["description"] = "new"
    api["endpointConfig"]["sandbox_endpoints"] = None
    updated = expect(http.put(f"{APIS}/{api['id']}", headers=publisher.headers, json=api), 200)
    assert updated["policies"] == ["Bronze", "Gold"]
    assert updated["endpointConfig"]["sandbox_endpoints"] is None
    assert updated["description"] == "new"
    assert config_version(runtime) > before
    for field, value in (("lifeCycleStatus", "PUBLISHED"), ("provider", "x"), ("id", "other")):
        response = http.put(f"{APIS}/{api['id']}", headers=publisher.headers, json=api | {field: value})
        assert response.status_code == 400 and field in response.json()["description"]


def test_an_update_cannot_take_another_apis_context(http: httpx.Client, publisher: Caller) -> None:
    create(http, publisher)
    other = create(http, publisher, name="Other", context="/other")
    expect(
        http.put(f"{APIS}/{other['id']}", headers=publisher.headers, json=other | {"context": "/pizza"}), 409
    )


def test_the_wso2_lifecycle(http: httpx.Client, publisher: Caller, runtime: Runtime) -> None:
    api = create(http, publisher)
    before = config_version(runtime)
    published = expect(lifecycle(http, publisher, api["id"], "publish"), 200)
    assert published["lifecycleState"]["state"] == "PUBLISHED"
    assert published["workflowStatus"] == "APPROVED"
    events = {t["event"]: t["targetState"] for t in published["lifecycleState"]["availableTransitions"]}
    assert events == {
        "Block": "BLOCKED",
        "Deploy as a Prototype": "PROTOTYPED",
        "Demote to Created": "CREATED",
        "Deprecate": "DEPRECATED",
        "Publish": "PUBLISHED",
    }
    assert config_version(runtime) > before
    for action, state in (
        ("Block", "BLOCKED"),
        ("Re-Publish", "PUBLISHED"),
        ("Demote to Created", "CREATED"),
        ("Deploy as a Prototype", "PROTOTYPED"),
        ("Publish", "PUBLISHED"),
        ("Deprecate", "DEPRECATED"),
    ):
        assert expect(lifecycle(http, publisher, api["id"], action), 200)["lifecycleState"]["state"] == state
    refused = lifecycle(http, publisher, api["id"], "Publish")
    assert refused.status_code == 409
    assert "Retire" in refused.json()["description"]
    expect(lifecycle(http, publisher, api["id"], "RETIRE"), 200)
    assert expect(http.get(f"{APIS}/{api['id']}/lifecycle-state", headers=publisher.headers), 200) == {
        "state": "RETIRED",
        "checkItems": [],
        "availableTransitions": [],
    }
    for action in ("Publish", "Deprecate", "Re-Publish"):
        expect(lifecycle(http, publisher, api["id"], action), 409)
    assert (
        expect(http.get(f"{APIS}/{api['id']}", headers=publisher.headers), 200)["lifeCycleStatus"]
        == "RETIRED"
    )


def test_lifecycle_errors(http: httpx.Client, publisher: Caller) -> None:
    api = create(http, publisher)
    unknown = lifecycle(http, publisher, api["id"], "Launch")
    assert unknown.status_code == 400 and "Publish" in unknown.json()["description"]
    refused = lifecycle(http, publisher, api["id"], "Retire")
    assert refused.status_code == 409
    assert "Publish, Deploy as a Prototype" in refused.json()["description"]
    expect(lifecycle(http, publisher, "no-such-api", "Publish"), 404)
    missing = http.post(f"{APIS}/change-lifecycle", headers=publisher.headers, params={"apiId": api["id"]})
    assert missing.status_code == 400 and "action" in missing.json()["description"]


def test_publishing_needs_a_plan_and_a_production_endpoint(http: httpx.Client, publisher: Caller) -> None:
    bare = create(http, publisher, policies=[])
    response = lifecycle(http, publisher, bare["id"], "Publish")
    assert response.status_code == 400 and "policies" in response.json()["description"]
    no_backend = create(http, publisher, name="B", context="/b", endpointConfig=None)
    response = lifecycle(http, publisher, no_backend["id"], "Publish")
    assert response.status_code == 400 and "production_endpoints" in response.json()["description"]
    assert (
        expect(http.get(f"{APIS}/{bare['id']}", headers=publisher.headers), 200)["lifeCycleStatus"]
        == "CREATED"
    )

    # A published API keeps them: an update removing either is refused.
    api = create(http, publisher, name="C", context="/c")
    expect(lifecycle(http, publisher, api["id"], "Publish"), 200)
    api["lifeCycleStatus"] = "PUBLISHED"
    expect(http.put(f"{APIS}/{api['id']}", headers=publisher.headers, json=api | {"policies": []}), 400)
    expect(
        http.put(f"{APIS}/{api['id']}", headers=publisher.headers, json=api | {"endpointConfig": None}), 400
    )


def test_delete_an_api(http: httpx.Client, publisher: Caller, subscriber: Caller, runtime: Runtime) -> None:
    hooks = RecordingHooks()
    runtime.hooks = hooks
    api = create(http, publisher)
    expect(http.delete(f"{APIS}/{api['id']}", headers=publisher.headers), 200)
    expect(http.get(f"{APIS}/{api['id']}", headers=publisher.headers), 404)
    assert hooks.calls == [("api_deleting", api["id"])]

    used = create(http, publisher)
    expect(lifecycle(http, publisher, used["id"], "Publish"), 200)
    app = expect(http.post(f"{STORE}/applications", headers=subscriber.headers, json={"name": "A"}), 201)
    subscription = {"applicationId": app["applicationId"], "apiId": used["id"], "throttlingPolicy": "Gold"}
    expect(http.post(f"{STORE}/subscriptions", headers=subscriber.headers, json=subscription), 201)
    response = http.delete(f"{APIS}/{used['id']}", headers=publisher.headers)
    assert response.status_code == 409 and "subscription" in response.json()["description"]
    expect(http.get(f"{APIS}/{used['id']}", headers=publisher.headers), 200)


def test_publishers_of_a_tenant_share_its_apis(
    http: httpx.Client, publisher: Caller, identity: OrmIdentity
) -> None:
    api = create(http, publisher)
    colleague = identity.user("colleague", [ROLE_PUBLISHER])
    assert expect(http.get(f"{APIS}/{api['id']}", headers=colleague.headers), 200)["provider"] == "pub"
    expect(lifecycle(http, colleague, api["id"], "Publish"), 200)


def test_settings_list_the_monetization_attributes(
    http: httpx.Client, publisher: Caller, runtime: Runtime
) -> None:
    assert expect(http.get(f"{PUBLISHER}/settings", headers=publisher.headers), 200) == {
        "monetizationAttributes": []
    }
    attribute = AdditionalAttribute.model_validate(
        {
            "name": "ConnectedAccountKey",
            "display_name": "Connected account",
            "required": "true",
            "description": "connected account of the publisher",
        }
    )
    monetization = runtime.settings.monetization.model_copy(update={"additional_attributes": [attribute]})
    runtime.settings = runtime.settings.model_copy(update={"monetization": monetization})
    assert expect(http.get(f"{PUBLISHER}/settings", headers=publisher.headers), 200) == {
        "monetizationAttributes": [
            {
                "name": "ConnectedAccountKey",
                "displayName": "Connected account",
                "required": True,
                "description": "connected account of the publisher",
            }
        ]
    }


def test_the_stripe_engine_declares_the_connected_account_without_configuration(
    http: httpx.Client, publisher: Caller, runtime: Runtime
) -> None:
    use_engine(runtime, "stripe")
    assert expect(http.get(f"{PUBLISHER}/settings", headers=publisher.headers), 200) == {
        "monetizationAttributes": [
            {
                "name": "ConnectedAccountKey",
                "displayName": "Connected account key",
                "required": True,
                "description": "the publisher's Stripe account (acct_...), connected to the platform account",
            }
        ]
    }
