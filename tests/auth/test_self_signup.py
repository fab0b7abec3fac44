"""POST /api/identity/user/v1.0/me: developer-portal self sign-up."""

from __future__ import annotations

import httpx

from tests.auth.flows import admin_token, create_tenant, password_token, register, sign_up

URL = "/api/identity/user/v1.0/me"


def test_sign_up_creates_a_subscriber(http: httpx.Client) -> None:
    answer = sign_up(http, "nora", "nora-password", email="nora@example.org")
    assert answer.status_code == 201
    assert "nora-password" not in answer.text
    body = answer.json()
    assert body["user"]["username"] == "nora"
    assert {"uri": "http://wso2.org/claims/emailaddress", "value": "nora@example.org"} in body["user"][
        "claims"
    ]
    token = password_token(http, register(http), ("nora", "nora-password"), "apim:subscribe apim:api_create")
    assert token["scope"] == "apim:subscribe"


def test_duplicates_and_weak_passwords_are_refused(http: httpx.Client) -> None:
    assert sign_up(http, "otto", "otto-password").status_code == 201
    again = sign_up(http, "otto", "another-password")
    assert again.status_code == 409
    weak = sign_up(http, "pia", "seven77")
    assert weak.status_code == 400
    assert "password" in weak.json()["description"]
    assert sign_up(http, "admin", "admin-password").status_code == 409


def test_bad_fields_are_named(http: httpx.Client) -> None:
    base = {"username": "quinn", "realm": "PRIMARY", "password": "quinn-password"}
    claim = http.post(
        URL, json={"user": {**base, "claims": [{"uri": "http://wso2.org/claims/role", "value": "admin"}]}}
    )
    assert claim.status_code == 400
    assert "claims" in claim.json()["description"]
    realm = http.post(URL, json={"user": {**base, "realm": "LDAP"}})
    assert realm.status_code == 400
    assert "realm" in realm.json()["description"]
    extra = http.post(URL, json={"user": base, "roles": ["admin"]})
    assert extra.status_code == 400
    assert "roles" in extra.json()["description"]
    name = http.post(URL, json={"user": {**base, "username": "q r"}})
    assert name.status_code == 400
    assert "username" in name.json()["description"]
    email = sign_up(http, "quinn", "quinn-password", email="not-an-address")
    assert email.status_code == 400


def test_sign_up_into_a_tenant(http: httpx.Client) -> None:
    create_tenant(http, admin_token(http, "apim:tenant_manage"), "example.com", "boss", "boss-password")
    assert sign_up(http, "rita@example.com", "rita-password", tenant="example.com").status_code == 201
    by_query = http.post(
        URL,
        params={"tenantDomain": "example.com"},
        json={"user": {"username": "sam", "realm": "PRIMARY", "password": "sam-password", "claims": []}},
    )
    assert by_query.status_code == 201
    assert by_query.json()["user"]["username"] == "sam@example.com"
    client = register(http, ("boss@example.com", "boss-password"))
    assert password_token(http, client, ("rita@example.com", "rita-password"), "apim:subscribe")["scope"] == (
        "apim:subscribe"
    )
    assert sign_up(http, "tom@other.org", "tom-password", tenant="example.com").status_code == 400
    unknown = sign_up(http, "tom", "tom-password", tenant="nowhere.example")
    assert unknown.status_code == 400
    assert "tenantDomain" in unknown.json()["description"]
    # No such user in the default tenant: the sign-ups went to example.com.
    assert sign_up(http, "rita", "rita-password").status_code == 201
