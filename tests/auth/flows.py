"""The identity endpoints as a client drives them over HTTP (for tests/auth and tests/tenants)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.servers import ServerThread

ADMIN = ("admin", "admin")
SCIM_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


def basic(name: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(
    http: httpx.Client,
    user: tuple[str, str] = ADMIN,
    *,
    client_name: str = "rest_api_admin",
    owner: str | None = None,
    grant_type: str = "password refresh_token",
) -> dict[str, Any]:
    payload = {
        "callbackUrl": "www.google.lk",
        "clientName": client_name,
        "owner": owner or user[0],
        "grantType": grant_type,
        "saasApp": True,
    }
    answer = http.post("/client-registration/v0.17/register", json=payload, headers=basic(*user))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def client_auth(client: dict[str, Any]) -> dict[str, str]:
    return basic(client["clientId"], client["clientSecret"])


def token_request(http: httpx.Client, client: dict[str, Any], **form: str) -> httpx.Response:
    return http.post("/oauth2/token", data=form, headers=client_auth(client))


def password_token(
    http: httpx.Client, client: dict[str, Any], user: tuple[str, str], scope: str | None = None
) -> dict[str, Any]:
    form = {"grant_type": "password", "username": user[0], "password": user[1]}
    if scope is not None:
        form["scope"] = scope
    answer = token_request(http, client, **form)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def admin_token(http: httpx.Client, scope: str, user: tuple[str, str] = ADMIN) -> str:
    client = register(http, user, client_name=f"tests_{user[0]}")
    token: str = password_token(http, client, user, scope)["access_token"]
    return token


def sign_up(
    http: httpx.Client, username: str, password: str, *, tenant: str | None = None, email: str | None = None
) -> httpx.Response:
    claims = [{"uri": "http://wso2.org/claims/givenname", "value": username.split("@")[0].title()}]
    if email:
        claims.append({"uri": "http://wso2.org/claims/emailaddress", "value": email})
    body = {"user": {"username": username, "realm": "PRIMARY", "password": password, "claims": claims}}
    headers = {"X-WSO2-Tenant": tenant} if tenant else {}
    return http.post("/api/identity/user/v1.0/me", json=body, headers=headers)


def scim_user(username: str, password: str, *roles: str, **extra: Any) -> dict[str, Any]:
    return {
        "schemas": [SCIM_SCHEMA],
        "userName": username,
        "password": password,
        "roles": [{"value": role} for role in roles],
        **extra,
    }


def create_tenant(http: httpx.Client, manager_token: str, domain: str, admin: str, password: str) -> None:
    answer = http.post(
        "/api/am/admin/v1/tenants",
        json={"domain": domain, "adminUsername": admin, "adminPassword": password},
        headers=bearer(manager_token),
    )
    assert answer.status_code == 201, answer.text


@pytest.fixture
def http(live_server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client
