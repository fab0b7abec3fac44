"""The OpenAPI documents state what the server checks: enums, patterns, content types, error answers.

A client generated from a document (or schemathesis) should not learn a rule only from a 400.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.support.identity import Caller
from tests.support.rest import ADMIN, PUBLISHER, STORE, expect

SCIM = "application/scim+json"


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = document["paths"][path][method]
    return found


def parameter(op: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in op["parameters"] if p["name"] == name)["schema"]
    return found


def body_schema(document: dict[str, Any], op: dict[str, Any], media: str = "application/json") -> Any:
    schema = op["requestBody"]["content"][media]["schema"]
    return resolve(document, schema)


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        found: dict[str, Any] = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
        return found
    return schema


def is_error_body(
    document: dict[str, Any], response: dict[str, Any], media: str = "application/json"
) -> bool:
    schema = resolve(document, response["content"][media]["schema"])
    return {"code", "message", "description"} <= set(schema.get("required", ()))


@pytest.fixture
def documents(http: httpx.Client) -> dict[str, dict[str, Any]]:
    return {name: expect(http.get(f"{name}/openapi.json"), 200) for name in ("", ADMIN, PUBLISHER, STORE)}


def test_enums_the_server_checks(documents: dict[str, dict[str, Any]]) -> None:
    store = documents[STORE]
    for path in (
        "/applications/{applicationId}/keys/{keyType}",
        "/applications/{applicationId}/api-keys/{keyType}/generate",
    ):
        method = "get" if path.endswith("{keyType}") else "post"
        assert parameter(operation(store, method, path), "keyType")["enum"] == ["PRODUCTION", "SANDBOX"]
    keys = body_schema(store, operation(store, "post", "/applications/{applicationId}/generate-keys"))
    assert keys["properties"]["keyType"]["enum"] == ["PRODUCTION", "SANDBOX"]
    publisher = documents[PUBLISHER]
    block = operation(publisher, "post", "/subscriptions/block-subscription")
    assert parameter(block, "blockState")["enum"] == ["BLOCKED", "PROD_ONLY_BLOCKED"]
    lifecycle = operation(publisher, "post", "/apis/change-lifecycle")
    assert "Publish" in parameter(lifecycle, "action")["enum"]
    token = operation(documents[""], "post", "/oauth2/token")
    form = body_schema(documents[""], token, "application/x-www-form-urlencoded")
    assert form["properties"]["grant_type"]["enum"] == ["password", "client_credentials", "refresh_token"]
    assert form["required"] == ["grant_type"]


def test_patterns_the_server_checks(documents: dict[str, dict[str, Any]]) -> None:
    admin = documents[ADMIN]
    tenant = body_schema(admin, operation(admin, "post", "/tenants"))["properties"]
    assert tenant["domain"]["pattern"] and tenant["domain"]["maxLength"] == 190
    assert tenant["adminUsername"]["pattern"]
    assert tenant["adminPassword"]["minLength"] == 8
    assert parameter(operation(admin, "get", "/tenants/{domain}"), "domain")["pattern"]
    publisher = documents[PUBLISHER]
    api = body_schema(publisher, operation(publisher, "post", "/apis"))
    provider = api["properties"]["provider"]
    assert any("pattern" in branch for branch in provider.get("anyOf", [provider]))
    root = documents[""]
    webhook = operation(root, "post", "/api/am/{engineName}/webhook/{tenantDomain}")
    assert parameter(webhook, "tenantDomain")["pattern"]
    user = body_schema(root, operation(root, "post", "/api/identity/user/v1.0/me"))
    signup_user = resolve(root, user["properties"]["user"])["properties"]
    assert signup_user["username"]["pattern"] and signup_user["password"]["minLength"] == 8
    scim_user = body_schema(root, operation(root, "post", "/scim2/Users"), SCIM)["properties"]
    assert scim_user["userName"]["pattern"] and scim_user["password"]["minLength"] == 8


@pytest.mark.parametrize(
    "domain",
    ["example.com", "a.b", "x-1.example.org", "Example.com", "-bad.com", "nodot", "a..b", "ex_ample.com"],
)
def test_the_documented_domain_pattern_is_the_one_enforced(
    domain: str, documents: dict[str, dict[str, Any]], http: httpx.Client, admin: Caller
) -> None:
    admin_doc = documents[ADMIN]
    field = body_schema(admin_doc, operation(admin_doc, "post", "/tenants"))["properties"]["domain"]
    documented = bool(re.search(field["pattern"], domain)) and 3 <= len(domain) <= field["maxLength"]
    body = {"domain": domain, "adminUsername": "boss", "adminPassword": "Secret-password-1"}
    response = http.post(f"{ADMIN}/tenants", headers=admin.headers, json=body)
    assert response.status_code == (201 if documented else 400), response.text


def test_scim_speaks_scim_json(documents: dict[str, dict[str, Any]]) -> None:
    root = documents[""]
    for method, path, success in (
        ("post", "/scim2/Users", "201"),
        ("get", "/scim2/Users", "200"),
        ("get", "/scim2/Users/{user_id}", "200"),
        ("patch", "/scim2/Users/{user_id}", "200"),
    ):
        op = operation(root, method, path)
        assert SCIM in op["responses"][success]["content"], f"{method} {path}"
        for status in ("400", "401", "404"):
            assert list(op["responses"][status]["content"]) == [SCIM], f"{method} {path} {status}"
        if "requestBody" in op:
            assert next(iter(op["requestBody"]["content"])) == SCIM


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("post", "/client-registration/v0.17/register", ("400", "401")),
        ("post", "/api/am/{engineName}/webhook/{tenantDomain}", ("400", "404")),
        ("post", "/api/identity/user/v1.0/me", ("400", "409")),
    ],
)
def test_error_answers_are_documented(
    method: str, path: str, statuses: tuple[str, ...], documents: dict[str, dict[str, Any]]
) -> None:
    root = documents[""]
    responses = operation(root, method, path)["responses"]
    for status in statuses:
        assert is_error_body(root, responses[status]), f"{path} {status}"


def test_no_document_promises_a_422(documents: dict[str, dict[str, Any]]) -> None:
    """Validation errors are answered 400 with the error body; FastAPI's 422 is never sent."""
    for name, document in documents.items():
        for path, item in document["paths"].items():
            for method, op in item.items():
                assert "422" not in op["responses"], f"{name}{path} {method}"
                if op.get("parameters") or op.get("requestBody"):
                    assert "400" in op["responses"], f"{name}{path} {method}"
        assert "HTTPValidationError" not in document.get("components", {}).get("schemas", {})
