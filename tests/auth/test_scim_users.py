"""/scim2/Users: provisioning by a tenant's admin (RFC 7643/7644)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.auth.flows import (
    ADMIN,
    ERROR_SCHEMA,
    PATCH_SCHEMA,
    admin_token,
    basic,
    bearer,
    create_tenant,
    password_token,
    register,
    scim_user,
    token_request,
)
from tollway.models import User
from tollway.runtime import Runtime

USERS = "/scim2/Users"


@pytest.fixture
def admin(http: httpx.Client) -> dict[str, str]:
    return bearer(admin_token(http, "apim:admin apim:tenant_manage"))


def create(http: httpx.Client, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    answer = http.post(USERS, json=body, headers=headers)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def patch(
    http: httpx.Client, headers: dict[str, str], user_id: str, *operations: dict[str, Any]
) -> httpx.Response:
    return http.patch(
        f"{USERS}/{user_id}",
        json={"schemas": [PATCH_SCHEMA], "Operations": list(operations)},
        headers=headers,
    )


def assert_scim_error(answer: httpx.Response, status: int, scim_type: str | None = None) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/scim+json")
    body = answer.json()
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == str(status)
    assert body["detail"]
    if scim_type:
        assert body["scimType"] == scim_type


def test_create_answers_the_resource_without_the_password(
    http: httpx.Client, admin: dict[str, str], runtime: Runtime
) -> None:
    body = scim_user(
        "alice",
        "alice-password",
        "Internal/subscriber",
        name={"givenName": "Alice", "familyName": "Liddell"},
        emails=[{"value": "alice@example.org", "primary": True}],
    )
    answer = http.post(USERS, json=body, headers=admin)
    assert answer.status_code == 201
    assert answer.headers["content-type"].startswith("application/scim+json")
    user = answer.json()
    assert "password" not in user
    assert "alice-password" not in answer.text
    assert user["userName"] == "alice"
    assert user["name"] == {"givenName": "Alice", "familyName": "Liddell"}
    assert user["emails"] == [{"value": "alice@example.org", "primary": True}]
    assert user["roles"] == [{"value": "Internal/subscriber"}]
    assert user["active"] is True
    assert answer.headers["location"] == user["meta"]["location"]
    assert user["meta"]["location"].endswith(f"{USERS}/{user['id']}")
    with runtime.session_factory() as session:
        stored = session.scalar(select(User).where(User.id == user["id"]))
        assert stored is not None and "alice-password" not in stored.password_hash
    # The user signs in with that password and gets what the role allows.
    granted = password_token(http, register(http), ("alice", "alice-password"), "apim:subscribe apim:admin")
    assert granted["scope"] == "apim:subscribe"


def test_create_refuses_duplicates_unknown_roles_and_bad_fields(
    http: httpx.Client, admin: dict[str, str]
) -> None:
    create(http, admin, scim_user("bob", "bob-password", "Internal/publisher"))
    assert_scim_error(
        http.post(USERS, json=scim_user("bob", "other-password"), headers=admin), 409, "uniqueness"
    )
    assert_scim_error(
        http.post(USERS, json=scim_user("carol", "carol-password", "Internal/wizard"), headers=admin),
        400,
        "invalidValue",
    )
    assert_scim_error(http.post(USERS, json=scim_user("carol", "short"), headers=admin), 400, "invalidValue")
    unknown = http.post(USERS, json={**scim_user("carol", "carol-password"), "nickName": "c"}, headers=admin)
    assert_scim_error(unknown, 400)
    assert "nickName" in unknown.json()["detail"]
    assert_scim_error(http.post(USERS, content=b"[1]", headers=admin), 400, "invalidSyntax")
    two_emails = scim_user("carol", "carol-password", emails=[{"value": "a@x.org"}, {"value": "b@x.org"}])
    assert_scim_error(http.post(USERS, json=two_emails, headers=admin), 400, "invalidValue")
    listed = http.get(USERS, params={"filter": 'userName eq "carol"'}, headers=admin).json()
    assert listed["totalResults"] == 0  # nothing was written by the refused requests


def test_attribute_names_are_case_insensitive(http: httpx.Client, admin: dict[str, str]) -> None:
    body = {"schemas": [scim_user("x", "y")["schemas"][0]], "USERNAME": "dora", "Password": "dora-password",
            "roles": [{"Value": "internal/SUBSCRIBER"}]}  # fmt: skip
    user = create(http, admin, body)
    assert user["userName"] == "dora"
    assert user["roles"] == [{"value": "Internal/subscriber"}]


def test_filter_and_paging(http: httpx.Client, admin: dict[str, str]) -> None:
    for name in ("erin", "frank", "grace"):
        create(http, admin, scim_user(name, f"{name}-password", "Internal/subscriber"))
    found = http.get(USERS, params={"filter": 'userName eq "frank"'}, headers=admin)
    assert found.status_code == 200
    body = found.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert body["totalResults"] == 1
    assert [u["userName"] for u in body["Resources"]] == ["frank"]
    page = http.get(USERS, params={"startIndex": "2", "count": "2"}, headers=admin).json()
    assert page["totalResults"] == 4  # admin + three
    assert page["startIndex"] == 2
    assert page["itemsPerPage"] == 2
    assert [u["userName"] for u in page["Resources"]] == ["erin", "frank"]
    assert_scim_error(
        http.get(USERS, params={"filter": 'emails co "x"'}, headers=admin), 400, "invalidFilter"
    )
    assert_scim_error(http.get(USERS, params={"count": "many"}, headers=admin), 400, "invalidValue")


def test_a_start_past_any_database_offset_is_an_empty_page(http: httpx.Client, admin: dict[str, str]) -> None:
    """Found by schemathesis: a startIndex beyond 64 bits overflowed the query's OFFSET (a 500)."""
    start = "835865006030586639225064"
    page = http.get(USERS, params={"startIndex": start, "count": "5"}, headers=admin)
    assert page.status_code == 200, page.text
    body = page.json()
    assert (body["startIndex"], body["itemsPerPage"], body["Resources"]) == (int(start), 0, [])
    assert body["totalResults"] == 1  # the admin


def test_patch_changes_password_status_name_emails_and_roles(
    http: httpx.Client, admin: dict[str, str]
) -> None:
    user = create(http, admin, scim_user("heidi", "heidi-password", "Internal/subscriber"))
    uid = user["id"]
    answer = patch(
        http,
        admin,
        uid,
        {"op": "replace", "path": "password", "value": "heidi-new-password"},
        {"op": "add", "path": "roles", "value": [{"value": "Internal/publisher"}]},
        {"op": "remove", "path": 'roles[value eq "Internal/subscriber"]'},
        {"op": "replace", "value": {"name": {"givenName": "Heidi"}, "emails": [{"value": "heidi@x.org"}]}},
    )
    assert answer.status_code == 200, answer.text
    patched = answer.json()
    assert patched["roles"] == [{"value": "Internal/publisher"}]
    assert patched["name"] == {"givenName": "Heidi"}
    assert patched["emails"] == [{"value": "heidi@x.org", "primary": True}]
    assert http.get(f"{USERS}/{uid}", headers=admin).json() == patched

    client = register(http)
    old = token_request(http, client, grant_type="password", username="heidi", password="heidi-password")
    assert old.json()["error"] == "invalid_grant"
    token = password_token(http, client, ("heidi", "heidi-new-password"), "apim:api_create apim:subscribe")
    assert token["scope"] == "apim:api_create"

    assert (
        patch(http, admin, uid, {"op": "replace", "path": "active", "value": False}).json()["active"] is False
    )
    # Deactivation ends the user's tokens at once and stops new ones.
    assert http.get("/api/am/store/v1/applications", headers=bearer(token["access_token"])).status_code == 401
    denied = token_request(
        http, client, grant_type="password", username="heidi", password="heidi-new-password"
    )
    assert denied.json()["error"] == "invalid_grant"
    assert patch(http, admin, uid, {"op": "remove", "path": "emails"}).json().get("emails") is None


def test_taking_a_role_away_takes_its_scopes_from_live_tokens(
    http: httpx.Client, admin: dict[str, str]
) -> None:
    user = create(http, admin, scim_user("ivan", "ivan-password", "admin"))
    token = password_token(http, register(http), ("ivan", "ivan-password"), "apim:admin")["access_token"]
    assert http.get(USERS, headers=bearer(token)).status_code == 200
    assert patch(http, admin, user["id"], {"op": "replace", "path": "roles", "value": []}).status_code == 200
    assert_scim_error(http.get(USERS, headers=bearer(token)), 403)


def test_a_bad_patch_changes_nothing(http: httpx.Client, admin: dict[str, str]) -> None:
    user = create(http, admin, scim_user("judy", "judy-password", "Internal/subscriber"))
    answer = patch(
        http,
        admin,
        user["id"],
        {"op": "replace", "path": "name.givenName", "value": "Judy"},
        {"op": "add", "path": "roles", "value": [{"value": "Internal/overlord"}]},
    )
    assert_scim_error(answer, 400, "invalidValue")
    assert "name" not in http.get(f"{USERS}/{user['id']}", headers=admin).json()
    assert_scim_error(patch(http, admin, user["id"], {"op": "remove", "path": "password"}), 400, "mutability")
    assert_scim_error(
        patch(http, admin, user["id"], {"op": "replace", "path": "nickName", "value": "j"}), 400
    )
    assert_scim_error(patch(http, admin, user["id"], {"op": "remove"}), 400, "noTarget")
    no_schema = http.patch(f"{USERS}/{user['id']}", json={"Operations": []}, headers=admin)
    assert_scim_error(no_schema, 400)


def test_delete(http: httpx.Client, admin: dict[str, str]) -> None:
    user = create(http, admin, scim_user("ken", "ken-password", "Internal/subscriber"))
    assert http.delete(f"{USERS}/{user['id']}", headers=admin).status_code == 204
    assert_scim_error(http.get(f"{USERS}/{user['id']}", headers=admin), 404)
    assert_scim_error(http.delete(f"{USERS}/{user['id']}", headers=admin), 404)
    me = http.get(USERS, params={"filter": 'userName eq "admin"'}, headers=admin).json()["Resources"][0]
    assert_scim_error(http.delete(f"{USERS}/{me['id']}", headers=admin), 400)
    lock_out = patch(http, admin, me["id"], {"op": "remove", "path": 'roles[value eq "admin"]'})
    assert_scim_error(lock_out, 400)


def test_only_admins_manage_users(http: httpx.Client, admin: dict[str, str]) -> None:
    create(http, admin, scim_user("leo", "leo-password", "Internal/publisher"))
    assert_scim_error(http.get(USERS), 401)
    assert http.get(USERS).headers["www-authenticate"]
    assert_scim_error(http.get(USERS, headers=bearer("nonsense")), 401)
    assert_scim_error(http.get(USERS, headers=basic("leo", "leo-password")), 403)
    assert_scim_error(http.get(USERS, headers=basic("admin", "wrong")), 401)
    leo = password_token(http, register(http), ("leo", "leo-password"), "apim:api_create")["access_token"]
    assert_scim_error(http.get(USERS, headers=bearer(leo)), 403)
    # WSO2-style HTTP Basic of an admin works too.
    assert http.get(USERS, headers=basic(*ADMIN)).status_code == 200


def test_tenant_admins_see_and_change_only_their_tenants_users(
    http: httpx.Client, admin: dict[str, str]
) -> None:
    manager = admin["Authorization"].removeprefix("Bearer ")
    create_tenant(http, manager, "example.com", "boss", "boss-password")
    boss = basic("boss@example.com", "boss-password")
    mine = create(http, boss, scim_user("mia@example.com", "mia-password", "Internal/subscriber"))
    assert mine["userName"] == "mia@example.com"
    theirs = create(http, admin, scim_user("mia", "mia-password", "Internal/subscriber"))

    listed = http.get(USERS, headers=boss).json()
    assert sorted(u["userName"] for u in listed["Resources"]) == ["boss@example.com", "mia@example.com"]
    assert http.get(USERS, params={"filter": 'userName eq "admin"'}, headers=boss).json()["totalResults"] == 0
    for wanted in ("mia", "mia@example.com"):  # a plain name means the caller's tenant
        found = http.get(USERS, params={"filter": f'userName eq "{wanted}"'}, headers=boss).json()
        assert [u["id"] for u in found["Resources"]] == [mine["id"]]
    assert_scim_error(http.get(f"{USERS}/{theirs['id']}", headers=boss), 404)
    assert_scim_error(
        patch(http, boss, theirs["id"], {"op": "replace", "path": "active", "value": False}), 404
    )
    assert_scim_error(http.delete(f"{USERS}/{theirs['id']}", headers=boss), 404)
    assert http.get(f"{USERS}/{theirs['id']}", headers=admin).json()["active"] is True
    foreign = http.post(USERS, json=scim_user("nia@other.org", "nia-password"), headers=boss)
    assert_scim_error(foreign, 400, "invalidValue")
    # The same local name lives in both tenants, each with its own password.
    client = register(http, ("boss@example.com", "boss-password"))
    assert password_token(http, client, ("mia@example.com", "mia-password"))["access_token"]
