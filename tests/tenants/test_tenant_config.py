"""/api/am/admin/v1/tenant-config: the settings document; MonetizationInfo secrets encrypted."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from tests.auth.flows import admin_token, bearer, create_tenant, password_token, register, sign_up
from tollway.identity.repository import tenant_by_domain
from tollway.models import DEFAULT_TENANT
from tollway.runtime import Runtime
from tollway.tenants.service import MASK, monetization_info

CONFIG = "/api/am/admin/v1/tenant-config"
KEY = "sk_test_wBMSreyjGQoczL9uIw6YPYRq00kcHcQqDi"


@pytest.fixture
def admin(http: httpx.Client) -> dict[str, str]:
    return bearer(admin_token(http, "apim:admin apim:tenant_manage"))


def stored_info(runtime: Runtime, domain: str = DEFAULT_TENANT) -> dict[str, str]:
    with runtime.session_factory() as session:
        tenant = tenant_by_domain(session, domain)
        assert tenant is not None
        return monetization_info(session, runtime, tenant.id)


def test_secrets_are_masked_encrypted_and_kept(
    http: httpx.Client, admin: dict[str, str], runtime: Runtime
) -> None:
    assert http.get(CONFIG, headers=admin).json() == {}
    document = {
        "EnableMonetization": True,
        "MonetizationInfo": {"BillingEnginePlatformAccountKey": KEY, "StripeWebhookSecret": "whsec_123"},
    }
    put = http.put(CONFIG, json=document, headers=admin)
    assert put.status_code == 200
    masked = {"BillingEnginePlatformAccountKey": MASK, "StripeWebhookSecret": MASK}
    assert put.json() == {"EnableMonetization": True, "MonetizationInfo": masked}
    got = http.get(CONFIG, headers=admin)
    assert got.json() == put.json()
    assert KEY not in got.text and "sk_t" not in got.text

    with runtime.engine.connect() as conn:
        row = conn.execute(
            text("SELECT config, monetization_secrets FROM tenants WHERE domain = :d"), {"d": DEFAULT_TENANT}
        ).one()
    assert KEY not in str(row[0]) and KEY not in str(row[1])
    assert "whsec_123" not in str(row[1])
    assert stored_info(runtime) == {
        "BillingEnginePlatformAccountKey": KEY,
        "StripeWebhookSecret": "whsec_123",
    }

    # A PUT without MonetizationInfo keeps the secrets; the mask keeps one value; left-out keys go.
    assert http.put(CONFIG, json={"EnableMonetization": False}, headers=admin).status_code == 200
    assert stored_info(runtime)["BillingEnginePlatformAccountKey"] == KEY
    assert http.get(CONFIG, headers=admin).json()["EnableMonetization"] is False
    keep = {"MonetizationInfo": {"BillingEnginePlatformAccountKey": MASK}}
    assert http.put(CONFIG, json=keep, headers=admin).json() == {
        "MonetizationInfo": {"BillingEnginePlatformAccountKey": MASK}
    }
    assert stored_info(runtime) == {"BillingEnginePlatformAccountKey": KEY}
    replace = {"MonetizationInfo": {"BillingEnginePlatformAccountKey": "sk_test_new"}}
    assert http.put(CONFIG, json=replace, headers=admin).status_code == 200
    assert stored_info(runtime) == {"BillingEnginePlatformAccountKey": "sk_test_new"}


@pytest.mark.parametrize(
    "document",
    [
        {"MonetizationInfo": "sk_test"},
        {"MonetizationInfo": {"BillingEnginePlatformAccountKey": 42}},
        {"MonetizationInfo": {"BillingEnginePlatformAccountKey": ""}},
        {"MonetizationInfo": {"StripeWebhookSecret": MASK}},
    ],
)
def test_bad_monetization_info_is_refused_and_changes_nothing(
    http: httpx.Client, admin: dict[str, str], runtime: Runtime, document: dict[str, object]
) -> None:
    first = http.put(
        CONFIG, json={"MonetizationInfo": {"BillingEnginePlatformAccountKey": KEY}}, headers=admin
    )
    assert first.status_code == 200
    answer = http.put(CONFIG, json={"Other": 1, **document}, headers=admin)
    assert answer.status_code == 400
    assert "MonetizationInfo" in answer.json()["description"]
    assert stored_info(runtime) == {"BillingEnginePlatformAccountKey": KEY}
    assert "Other" not in http.get(CONFIG, headers=admin).json()


def test_the_document_must_be_an_object(http: httpx.Client, admin: dict[str, str]) -> None:
    assert http.put(CONFIG, json=["a"], headers=admin).status_code == 400
    assert (
        http.put(CONFIG, content=b"{", headers={**admin, "Content-Type": "application/json"}).status_code
        == 400
    )


def test_each_tenant_has_its_own_document_and_only_admins_see_it(
    http: httpx.Client, admin: dict[str, str], runtime: Runtime
) -> None:
    http.put(CONFIG, json={"MonetizationInfo": {"BillingEnginePlatformAccountKey": KEY}}, headers=admin)
    create_tenant(
        http, admin["Authorization"].removeprefix("Bearer "), "example.com", "boss", "boss-password"
    )
    boss = ("boss@example.com", "boss-password")
    boss_token = bearer(password_token(http, register(http, boss), boss, "apim:admin")["access_token"])
    assert http.get(CONFIG, headers=boss_token).json() == {}
    http.put(
        CONFIG, json={"MonetizationInfo": {"BillingEnginePlatformAccountKey": "sk_boss"}}, headers=boss_token
    )
    assert stored_info(runtime, "example.com") == {"BillingEnginePlatformAccountKey": "sk_boss"}
    assert stored_info(runtime) == {"BillingEnginePlatformAccountKey": KEY}

    assert sign_up(http, "dev1", "dev1-password").status_code == 201
    dev = password_token(http, register(http), ("dev1", "dev1-password"), "apim:admin apim:subscribe")
    assert http.get(CONFIG, headers=bearer(dev["access_token"])).status_code == 403
    assert http.put(CONFIG, json={}, headers=bearer(dev["access_token"])).status_code == 403
    assert http.get(CONFIG).status_code == 401
