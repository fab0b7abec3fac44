"""Developer portal applications, keys, tokens and API keys over real HTTP."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.support.identity import Caller, OrmIdentity
from tests.support.rest import PUBLISHER, STORE, RecordingHooks, config_version, expect, new_api
from tollway.identity.roles import ROLE_SUBSCRIBER
from tollway.identity.tokens import authenticate_client, find_active_token
from tollway.models import ApiKey, OAuthClient, Subscription
from tollway.runtime import Runtime

APPS = f"{STORE}/applications"
KEYS_BODY = {"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"], "validityTime": 3600}


def new_app(http: httpx.Client, caller: Caller, name: str = "PizzaApp", **extra: Any) -> dict[str, Any]:
    return expect(http.post(APPS, headers=caller.headers, json={"name": name, **extra}), 201)  # type: ignore[no-any-return]


def test_create_read_update_delete(http: httpx.Client, subscriber: Caller) -> None:
    response = http.post(APPS, headers=subscriber.headers, json={"name": "PizzaApp", "description": "orders"})
    app = expect(response, 201)
    assert response.headers["location"] == f"{APPS}/{app['applicationId']}"
    assert app == {
        "applicationId": app["applicationId"],
        "name": "PizzaApp",
        "throttlingPolicy": "Unlimited",
        "description": "orders",
        "tokenType": "JWT",
        "owner": "dev",
        "status": "APPROVED",
        "subscriptionCount": 0,
        "attributes": {},
    }
    url = f"{APPS}/{app['applicationId']}"
    assert expect(http.get(url, headers=subscriber.headers), 200) == app
    changed = app | {
        "name": "Renamed",
        "throttlingPolicy": "50permin",
        "tokenType": "oauth",
        "attributes": {"k": "v"},
    }
    updated = expect(http.put(url, headers=subscriber.headers, json=changed), 200)
    assert (updated["name"], updated["throttlingPolicy"], updated["tokenType"]) == (
        "Renamed",
        "50PerMin",
        "OAUTH",
    )
    assert updated["attributes"] == {"k": "v"}
    listing = expect(http.get(APPS, headers=subscriber.headers), 200)
    assert listing["count"] == 1 and listing["list"][0] == updated
    expect(http.delete(url, headers=subscriber.headers), 200)
    expect(http.get(url, headers=subscriber.headers), 404)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "a\x00b"}, "name"),
        ({"name": "A", "throttlingPolicy": "Gold"}, "throttlingPolicy"),
        ({"name": "A", "tokenType": "SAML"}, "tokenType"),
        ({"name": "A", "attributes": {"k": 1}}, "attributes.k"),
        ({"name": "A", "groups": ["g"]}, "groups"),
        ({"name": 5}, "name"),
    ],
)
def test_bad_applications_are_refused(http: httpx.Client, subscriber: Caller, body: Any, field: str) -> None:
    response = http.post(APPS, headers=subscriber.headers, json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["description"]
    assert expect(http.get(APPS, headers=subscriber.headers), 200)["count"] == 0


def test_names_are_unique_per_owner(http: httpx.Client, subscriber: Caller, identity: OrmIdentity) -> None:
    first = new_app(http, subscriber)
    expect(http.post(APPS, headers=subscriber.headers, json={"name": "PizzaApp"}), 409)
    second = new_app(http, subscriber, "Second")
    expect(
        http.put(f"{APPS}/{second['applicationId']}", headers=subscriber.headers, json={"name": "PizzaApp"}),
        409,
    )
    new_app(http, identity.user("other", [ROLE_SUBSCRIBER]))  # another owner may use the name
    assert first["name"] == "PizzaApp"


def test_only_the_owner_sees_an_application(
    http: httpx.Client, subscriber: Caller, identity: OrmIdentity
) -> None:
    app = new_app(http, subscriber)
    other = identity.user("other", [ROLE_SUBSCRIBER])
    url = f"{APPS}/{app['applicationId']}"
    expect(http.get(url, headers=other.headers), 404)
    expect(http.put(url, headers=other.headers, json={"name": "Mine"}), 404)
    expect(http.delete(url, headers=other.headers), 404)
    assert expect(http.get(APPS, headers=other.headers), 200)["count"] == 0
    assert expect(http.get(url, headers=subscriber.headers), 200)["name"] == "PizzaApp"


def test_generate_keys_once_per_key_type(http: httpx.Client, subscriber: Caller, runtime: Runtime) -> None:
    app = new_app(http, subscriber)
    url = f"{APPS}/{app['applicationId']}"
    before = config_version(runtime)
    keys = expect(http.post(f"{url}/generate-keys", headers=subscriber.headers, json=KEYS_BODY), 200)
    assert keys["keyType"] == "PRODUCTION" and keys["keyState"] == "COMPLETED"
    assert keys["supportedGrantTypes"] == ["client_credentials"]
    assert keys["token"]["validityTime"] == 3600 and keys["token"]["tokenScopes"] == ["default"]
    assert config_version(runtime) > before

    with runtime.session_factory() as session:
        client = authenticate_client(session, keys["consumerKey"], keys["consumerSecret"])
        assert client is not None and client.application_id == app["applicationId"]
        assert client.key_type == "PRODUCTION"
        assert keys["consumerSecret"] not in client.secret_hash
        token = find_active_token(session, keys["token"]["accessToken"])
        assert (
            token is not None and token.application_id == app["applicationId"] and token.scopes == "default"
        )

    again = http.post(f"{url}/generate-keys", headers=subscriber.headers, json=KEYS_BODY)
    assert again.status_code == 409 and "generate-token" in again.json()["description"]
    sandbox = expect(
        http.post(
            f"{url}/generate-keys", headers=subscriber.headers, json=KEYS_BODY | {"keyType": "sandbox"}
        ),
        200,
    )
    assert sandbox["keyType"] == "SANDBOX" and sandbox["consumerKey"] != keys["consumerKey"]

    listed = expect(http.get(f"{url}/keys", headers=subscriber.headers), 200)
    assert listed["count"] == 2
    assert [k["keyType"] for k in listed["list"]] == ["PRODUCTION", "SANDBOX"]
    assert all(k["consumerSecret"] is None and k["token"] is None for k in listed["list"])
    assert keys["consumerSecret"] not in http.get(f"{url}/keys", headers=subscriber.headers).text
    one = expect(http.get(f"{url}/keys/production", headers=subscriber.headers), 200)
    assert one["consumerKey"] == keys["consumerKey"]


def test_the_application_token_cannot_call_the_control_plane(http: httpx.Client, subscriber: Caller) -> None:
    app = new_app(http, subscriber)
    keys = expect(
        http.post(f"{APPS}/{app['applicationId']}/generate-keys", headers=subscriber.headers, json=KEYS_BODY),
        200,
    )
    app_token = {"Authorization": f"Bearer {keys['token']['accessToken']}"}
    expect(http.get(APPS, headers=app_token), 403)
    expect(http.get(f"{PUBLISHER}/apis", headers=app_token), 403)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"keyType": "TEST"}, "keyType"),
        ({"keyType": "PRODUCTION", "grantTypesToBeSupported": ["implicit"]}, "grantTypesToBeSupported"),
        ({"keyType": "PRODUCTION", "grantTypesToBeSupported": []}, "grantTypesToBeSupported"),
        ({"keyType": "PRODUCTION", "validityTime": 0}, "validityTime"),
        ({"keyType": "PRODUCTION", "validityTime": 10**12}, "validityTime"),
        ({"keyType": "PRODUCTION", "validityTime": "999999999"}, "validityTime"),
        ({"keyType": "PRODUCTION", "validityTime": "0"}, "validityTime"),
        ({"keyType": "PRODUCTION", "scopes": ["apim:api_create"]}, "scopes"),
        ({"keyType": "PRODUCTION", "clientSecret": "x"}, "clientSecret"),
    ],
)
def test_bad_key_requests_are_refused(
    http: httpx.Client, subscriber: Caller, runtime: Runtime, body: Any, field: str
) -> None:
    app = new_app(http, subscriber)
    response = http.post(
        f"{APPS}/{app['applicationId']}/generate-keys", headers=subscriber.headers, json=body
    )
    assert response.status_code == 400, response.text
    assert field in response.json()["description"]
    with runtime.session_factory() as session:
        clients = session.scalars(
            select(OAuthClient).where(OAuthClient.application_id == app["applicationId"])
        )
        assert list(clients) == []


def test_wso2s_string_validity_time_is_accepted(http: httpx.Client, subscriber: Caller) -> None:
    app = new_app(http, subscriber)
    body = KEYS_BODY | {"validityTime": "600", "grantTypesToBeSupported": ["client_credentials", "password"]}
    keys = expect(
        http.post(f"{APPS}/{app['applicationId']}/generate-keys", headers=subscriber.headers, json=body), 200
    )
    assert keys["token"]["validityTime"] == 600
    assert keys["supportedGrantTypes"] == ["client_credentials", "password"]


def test_new_tokens_need_the_consumer_secret(
    http: httpx.Client, subscriber: Caller, runtime: Runtime
) -> None:
    app = new_app(http, subscriber)
    url = f"{APPS}/{app['applicationId']}"
    expect(
        http.post(
            f"{url}/keys/PRODUCTION/generate-token",
            headers=subscriber.headers,
            json={"consumerSecret": "whatever"},
        ),
        404,
    )
    keys = expect(http.post(f"{url}/generate-keys", headers=subscriber.headers, json=KEYS_BODY), 200)
    first = keys["token"]["accessToken"]
    wrong = http.post(
        f"{url}/keys/PRODUCTION/generate-token", headers=subscriber.headers, json={"consumerSecret": "wrong"}
    )
    assert wrong.status_code == 400 and "consumerSecret" in wrong.json()["description"]
    token = expect(
        http.post(
            f"{url}/keys/PRODUCTION/generate-token",
            headers=subscriber.headers,
            json={"consumerSecret": keys["consumerSecret"], "validityPeriod": 120, "revokeToken": first},
        ),
        200,
    )
    assert token["validityTime"] == 120 and token["accessToken"] != first
    with runtime.session_factory() as session:
        assert find_active_token(session, first) is None  # revoked as asked
        fresh = find_active_token(session, token["accessToken"])
        assert fresh is not None and fresh.application_id == app["applicationId"]


def test_api_keys_are_stored_as_digests_and_can_be_revoked(
    http: httpx.Client, subscriber: Caller, runtime: Runtime
) -> None:
    app = new_app(http, subscriber)
    url = f"{APPS}/{app['applicationId']}/api-keys"
    before = config_version(runtime)
    key = expect(
        http.post(f"{url}/PRODUCTION/generate", headers=subscriber.headers, json={"validityPeriod": 3600}),
        200,
    )
    assert key["validityTime"] == 3600 and len(key["apikey"]) >= 40
    forever = expect(http.post(f"{url}/SANDBOX/generate", headers=subscriber.headers, json={}), 200)
    assert forever["validityTime"] == -1
    assert config_version(runtime) > before
    with runtime.session_factory() as session:
        rows = {row.key_type: row for row in session.scalars(select(ApiKey))}
        digest = hashlib.sha256(key["apikey"].encode()).hexdigest()
        assert rows["PRODUCTION"].key_hash == digest and rows["PRODUCTION"].expires_at is not None
        assert rows["SANDBOX"].expires_at is None
        assert all(key["apikey"] not in (row.key_hash or "") for row in rows.values())

    expect(
        http.post(f"{url}/PRODUCTION/generate", headers=subscriber.headers, json={"validityPeriod": 0}), 400
    )
    expect(
        http.post(f"{url}/PRODUCTION/revoke", headers=subscriber.headers, json={"apikey": "not-a-key"}), 404
    )
    expect(
        http.post(f"{url}/SANDBOX/revoke", headers=subscriber.headers, json={"apikey": key["apikey"]}), 404
    )
    expect(
        http.post(f"{url}/PRODUCTION/revoke", headers=subscriber.headers, json={"apikey": key["apikey"]}), 200
    )
    with runtime.session_factory() as session:
        row = session.scalar(select(ApiKey).where(ApiKey.key_type == "PRODUCTION"))
        assert row is not None and row.revoked_at is not None
    expect(http.post(f"{url}/STAGING/generate", headers=subscriber.headers, json={}), 400)


def test_deleting_an_application_removes_its_subscriptions_and_credentials(
    http: httpx.Client, publisher: Caller, subscriber: Caller, runtime: Runtime
) -> None:
    hooks = RecordingHooks()
    runtime.hooks = hooks
    api = expect(http.post(f"{PUBLISHER}/apis", headers=publisher.headers, json=new_api()), 201)
    expect(
        http.post(
            f"{PUBLISHER}/apis/change-lifecycle",
            headers=publisher.headers,
            params={"apiId": api["id"], "action": "Publish"},
        ),
        200,
    )
    app = new_app(http, subscriber)
    keys = expect(
        http.post(f"{APPS}/{app['applicationId']}/generate-keys", headers=subscriber.headers, json=KEYS_BODY),
        200,
    )
    subscription = expect(
        http.post(
            f"{STORE}/subscriptions",
            headers=subscriber.headers,
            json={"applicationId": app["applicationId"], "apiId": api["id"], "throttlingPolicy": "Gold"},
        ),
        201,
    )
    assert (
        expect(http.get(f"{APPS}/{app['applicationId']}", headers=subscriber.headers), 200)[
            "subscriptionCount"
        ]
        == 1
    )
    expect(http.delete(f"{APPS}/{app['applicationId']}", headers=subscriber.headers), 200)
    assert ("subscription_deleting", subscription["subscriptionId"]) in hooks.calls
    with runtime.session_factory() as session:
        assert session.scalar(select(Subscription)) is None
        assert find_active_token(session, keys["token"]["accessToken"]) is None
        assert authenticate_client(session, keys["consumerKey"], keys["consumerSecret"]) is None
