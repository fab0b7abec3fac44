"""POST /oauth2/token: password, client_credentials and refresh_token grants; RFC 6749 errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.auth.flows import ADMIN, basic, bearer, password_token, register, sign_up, token_request
from tollway.models import OAuthToken
from tollway.runtime import Runtime
from tollway.security.hashing import token_digest

DEV = ("dev1", "dev1-password")
CONFIG = "/api/am/admin/v1/tenant-config"


@pytest.fixture
def client(http: httpx.Client) -> dict[str, Any]:
    return register(http)


def scopes(answer: dict[str, Any]) -> set[str]:
    return set(answer["scope"].split())


def test_password_grant_gives_the_requested_scopes_the_roles_allow(
    http: httpx.Client, client: dict[str, Any], runtime: Runtime
) -> None:
    answer = password_token(http, client, ADMIN, "apim:monetization_usage_publish apim:tier_view")
    assert scopes(answer) == {"apim:monetization_usage_publish", "apim:tier_view"}
    assert answer["token_type"] == "Bearer"
    assert answer["expires_in"] == runtime.settings.server.access_token_ttl
    assert answer["refresh_token"]
    assert http.get(CONFIG, headers=bearer(answer["access_token"])).status_code == 403  # no apim:admin

    assert sign_up(http, *DEV).status_code == 201
    dev = password_token(http, client, DEV, "apim:api_create apim:subscribe")
    assert scopes(dev) == {"apim:subscribe"}
    assert scopes(password_token(http, client, DEV, "apim:api_create")) == {"default"}
    assert scopes(password_token(http, client, DEV)) == {"default"}


def test_the_token_is_stored_only_as_a_digest(
    http: httpx.Client, client: dict[str, Any], runtime: Runtime
) -> None:
    answer = password_token(http, client, ADMIN, "apim:admin")
    with runtime.session_factory() as session:
        rows = session.scalars(select(OAuthToken)).all()
        assert {r.token_hash for r in rows} >= {
            token_digest(answer["access_token"]),
            token_digest(answer["refresh_token"]),
        }
        assert all(answer["access_token"] not in (r.token_hash, r.scopes) for r in rows)
    assert http.get(CONFIG, headers=bearer(answer["access_token"])).status_code == 200


def test_tenant_users_sign_in_as_name_at_domain(http: httpx.Client) -> None:
    manager = password_token(http, register(http), ADMIN, "apim:tenant_manage")["access_token"]
    created = http.post(
        "/api/am/admin/v1/tenants",
        json={"domain": "example.com", "adminUsername": "boss", "adminPassword": "boss-password"},
        headers=bearer(manager),
    )
    assert created.status_code == 201
    boss = ("boss@example.com", "boss-password")
    tenant_client = register(http, boss)
    answer = password_token(http, tenant_client, boss, "apim:admin apim:tenant_manage")
    assert scopes(answer) == {"apim:admin"}  # tenant management stays with the default tenant
    # A client serves its own tenant's users only.
    other = token_request(http, tenant_client, grant_type="password", username="admin", password="admin")
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_grant"


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_grant(
    http: httpx.Client, client: dict[str, Any]
) -> None:
    first = password_token(http, client, ADMIN, "apim:admin apim:tier_view")
    refreshed = token_request(http, client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert refreshed.status_code == 200
    second = refreshed.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert scopes(second) == {"apim:admin", "apim:tier_view"}
    assert http.get(CONFIG, headers=bearer(second["access_token"])).status_code == 200

    narrowed = token_request(
        http,
        client,
        grant_type="refresh_token",
        refresh_token=second["refresh_token"],
        scope="apim:tier_view",
    )
    assert narrowed.status_code == 200
    third = narrowed.json()
    assert scopes(third) == {"apim:tier_view"}

    reused = token_request(http, client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    # The whole family is gone, the newest pair included.
    assert http.get(CONFIG, headers=bearer(second["access_token"])).status_code == 401
    again = token_request(http, client, grant_type="refresh_token", refresh_token=third["refresh_token"])
    assert again.json()["error"] == "invalid_grant"


def test_refresh_cannot_widen_the_scope(http: httpx.Client, client: dict[str, Any]) -> None:
    first = password_token(http, client, ADMIN, "apim:tier_view")
    wider = token_request(
        http, client, grant_type="refresh_token", refresh_token=first["refresh_token"], scope="apim:admin"
    )
    assert wider.status_code == 400
    assert wider.json()["error"] == "invalid_scope"
    # Refused without using up the refresh token.
    ok = token_request(http, client, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert ok.status_code == 200


def test_a_refresh_token_is_bound_to_its_client(http: httpx.Client, client: dict[str, Any]) -> None:
    first = password_token(http, client, ADMIN)
    other = register(http, client_name="other")
    stolen = token_request(http, other, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert stolen.json()["error"] == "invalid_grant"


def test_client_credentials_act_as_the_client_owner(http: httpx.Client) -> None:
    client = register(http, client_name="machine", grant_type="client_credentials")
    answer = token_request(http, client, grant_type="client_credentials", scope="apim:admin")
    assert answer.status_code == 200
    body = answer.json()
    assert scopes(body) == {"apim:admin"}
    assert "refresh_token" not in body
    assert http.get(CONFIG, headers=bearer(body["access_token"])).status_code == 200


def test_client_credentials_with_application_keys_bind_the_token_to_the_application(
    http: httpx.Client, runtime: Runtime
) -> None:
    assert sign_up(http, *DEV).status_code == 201
    dev_token = password_token(http, register(http, DEV), DEV, "apim:app_manage")["access_token"]
    app = http.post("/api/am/store/v1/applications", json={"name": "shop"}, headers=bearer(dev_token))
    assert app.status_code == 201, app.text
    app_id = app.json()["applicationId"]
    keys = http.post(
        f"/api/am/store/v1/applications/{app_id}/generate-keys",
        json={"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]},
        headers=bearer(dev_token),
    )
    assert keys.status_code == 200, keys.text
    pair = keys.json()
    answer = http.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers=basic(pair["consumerKey"], pair["consumerSecret"]),
    )
    assert answer.status_code == 200, answer.text
    assert scopes(answer.json()) == {"default"}
    with runtime.session_factory() as session:
        row = session.scalar(
            select(OAuthToken).where(OAuthToken.token_hash == token_digest(answer.json()["access_token"]))
        )
        assert row is not None and row.application_id == app_id


def test_the_client_may_authenticate_with_form_fields(http: httpx.Client, client: dict[str, Any]) -> None:
    form = {
        "grant_type": "password",
        "username": "admin",
        "password": "admin",
        "client_id": client["clientId"],
        "client_secret": client["clientSecret"],
    }
    assert http.post("/oauth2/token", data=form).status_code == 200
    wrong = http.post("/oauth2/token", data={**form, "client_secret": "nope"})
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"


PASSWORD = {"grant_type": "password", "username": "admin", "password": "admin"}


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"username": "admin", "password": "admin"}, 400, "invalid_request"),
        ({"grant_type": "authorization_code", "code": "x"}, 400, "unsupported_grant_type"),
        ({"grant_type": "client_credentials"}, 400, "unauthorized_client"),
        ({**PASSWORD, "password": "wrong"}, 400, "invalid_grant"),
        ({**PASSWORD, "username": "admin@nowhere.example"}, 400, "invalid_grant"),
        ({"grant_type": "password", "username": "admin"}, 400, "invalid_request"),
        ({**PASSWORD, "scope": 'apim:admin bad"scope'}, 400, "invalid_scope"),
        ({"grant_type": "refresh_token", "refresh_token": "not-a-token"}, 400, "invalid_grant"),
        ({"grant_type": "refresh_token"}, 400, "invalid_request"),
    ],
)
def test_errors_follow_rfc_6749(
    http: httpx.Client, client: dict[str, Any], form: dict[str, str], status: int, error: str
) -> None:
    answer = token_request(http, client, **form)
    assert answer.status_code == status
    body = answer.json()
    assert body["error"] == error
    assert body["error_description"]
    assert answer.headers["cache-control"] == "no-store"


def test_client_authentication_errors(http: httpx.Client, client: dict[str, Any]) -> None:
    wrong = http.post("/oauth2/token", data=PASSWORD, headers=basic(client["clientId"], "wrong"))
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    anonymous = http.post("/oauth2/token", data=PASSWORD)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"


def test_malformed_requests_are_invalid_request(http: httpx.Client, client: dict[str, Any]) -> None:
    auth = basic(client["clientId"], client["clientSecret"])
    twice = http.post("/oauth2/token", content="grant_type=password&grant_type=password", headers={
        **auth, "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert twice.json()["error"] == "invalid_request"
    as_json = http.post("/oauth2/token", json=PASSWORD, headers=auth)
    assert as_json.status_code == 400
    assert as_json.json()["error"] == "invalid_request"
