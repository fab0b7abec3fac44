"""/api/am/admin/v1/tenants: creation with an admin, listing, deactivation."""

from __future__ import annotations

import httpx
import pytest

from tests.auth.flows import admin_token, bearer, create_tenant, password_token, register, token_request

TENANTS = "/api/am/admin/v1/tenants"
BOSS = ("boss@example.com", "boss-password")


@pytest.fixture
def manager(http: httpx.Client) -> dict[str, str]:
    return bearer(admin_token(http, "apim:tenant_manage"))


def test_create_a_tenant_whose_admin_can_sign_in(http: httpx.Client, manager: dict[str, str]) -> None:
    created = http.post(
        TENANTS,
        json={"domain": "example.com", "adminUsername": "boss", "adminPassword": "boss-password"},
        headers=manager,
    )
    assert created.status_code == 201
    assert created.json() == {"domain": "example.com", "adminUsername": "boss", "active": True}
    assert "boss-password" not in created.text

    listed = http.get(TENANTS, headers=manager).json()
    assert listed["count"] == 2
    assert {t["domain"]: t["adminUsername"] for t in listed["list"]} == {
        "carbon.super": "admin",
        "example.com": "boss",
    }
    assert http.get(f"{TENANTS}/example.com", headers=manager).json()["active"] is True
    assert http.get(f"{TENANTS}/nowhere.example", headers=manager).status_code == 404

    token = password_token(http, register(http, BOSS), BOSS, "apim:admin apim:tier_view")
    assert set(token["scope"].split()) == {"apim:admin", "apim:tier_view"}
    # The new tenant starts with WSO2's default business plans.
    plans = http.get(
        "/api/am/admin/v1/throttling/policies/subscription", headers=bearer(token["access_token"])
    ).json()
    assert {"Unlimited", "Gold", "Silver", "Bronze"} <= {p["policyName"] for p in plans["list"]}


GOOD = {"domain": "example.com", "adminUsername": "boss", "adminPassword": "boss-password"}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"domain": "Example.com"}, "domain"),
        ({"domain": "carbon.super"}, "domain"),
        ({"domain": "localhost"}, "domain"),
        ({"domain": "-bad.example"}, "domain"),
        ({"adminUsername": "b s"}, "adminUsername"),
        ({"adminUsername": "boss@other.org"}, "adminUsername"),
        ({"adminPassword": "short"}, "adminPassword"),
        ({"adminPassword": None}, "adminPassword"),
        ({"plan": "x"}, "plan"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    http: httpx.Client, manager: dict[str, str], changes: dict[str, str | None], field: str
) -> None:
    body = {key: value for key, value in {**GOOD, **changes}.items() if value is not None}
    answer = http.post(TENANTS, json=body, headers=manager)
    assert answer.status_code == 400
    assert field in answer.json()["description"]
    assert http.get(TENANTS, headers=manager).json()["count"] == 1


def test_a_domain_is_taken_once(http: httpx.Client, manager: dict[str, str]) -> None:
    body = {"domain": "example.com", "adminUsername": "boss", "adminPassword": "boss-password"}
    assert http.post(TENANTS, json=body, headers=manager).status_code == 201
    assert http.post(TENANTS, json={**body, "adminUsername": "other"}, headers=manager).status_code == 409


def test_only_the_default_tenants_admin_manages_tenants(http: httpx.Client, manager: dict[str, str]) -> None:
    create_tenant(
        http, manager["Authorization"].removeprefix("Bearer "), "example.com", "boss", "boss-password"
    )
    boss = bearer(
        password_token(http, register(http, BOSS), BOSS, "apim:admin apim:tenant_manage")["access_token"]
    )
    assert http.get(TENANTS, headers=boss).status_code == 403
    body = {"domain": "evil.example", "adminUsername": "x1x", "adminPassword": "boss-password"}
    assert http.post(TENANTS, json=body, headers=boss).status_code == 403
    assert http.delete(f"{TENANTS}/example.com", headers=boss).status_code == 403
    assert http.get(TENANTS).status_code == 401
    no_scope = bearer(admin_token(http, "apim:admin"))
    assert http.get(TENANTS, headers=no_scope).status_code == 403


def test_deleting_a_tenant_locks_its_users_out(http: httpx.Client, manager: dict[str, str]) -> None:
    create_tenant(
        http, manager["Authorization"].removeprefix("Bearer "), "example.com", "boss", "boss-password"
    )
    client = register(http, BOSS)
    token = password_token(http, client, BOSS, "apim:admin")
    config = "/api/am/admin/v1/tenant-config"
    assert http.get(config, headers=bearer(token["access_token"])).status_code == 200

    assert http.delete(f"{TENANTS}/example.com", headers=manager).status_code == 204
    assert http.get(f"{TENANTS}/example.com", headers=manager).json()["active"] is False
    assert http.get(config, headers=bearer(token["access_token"])).status_code == 401
    again = token_request(http, client, grant_type="password", username=BOSS[0], password=BOSS[1])
    assert again.status_code == 401  # the client's tenant is gone
    refreshed = token_request(http, client, grant_type="refresh_token", refresh_token=token["refresh_token"])
    assert refreshed.status_code == 401
    # The domain stays reserved; the default tenant cannot be deleted.
    body = {"domain": "example.com", "adminUsername": "boss", "adminPassword": "boss-password"}
    assert http.post(TENANTS, json=body, headers=manager).status_code == 409
    assert http.delete(f"{TENANTS}/carbon.super", headers=manager).status_code == 400
    assert http.delete(f"{TENANTS}/nowhere.example", headers=manager).status_code == 404
