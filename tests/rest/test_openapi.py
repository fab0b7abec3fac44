"""Each REST API serves its own OpenAPI document, relative to its base path, with its scopes."""

from __future__ import annotations

import httpx
import pytest

from tests.support.rest import ADMIN, PUBLISHER, STORE, expect

EXPECTED = {
    ADMIN: {
        ("get", "/throttling/policies/subscription"),
        ("post", "/throttling/policies/subscription"),
        ("put", "/throttling/policies/subscription/{policyId}"),
        ("delete", "/throttling/policies/subscription/{policyId}"),
    },
    PUBLISHER: {
        ("get", "/apis"),
        ("post", "/apis"),
        ("put", "/apis/{apiId}"),
        ("post", "/apis/change-lifecycle"),
        ("get", "/settings"),
        ("get", "/subscriptions"),
        ("post", "/subscriptions/block-subscription"),
        ("post", "/subscriptions/unblock-subscription"),
    },
    STORE: {
        ("get", "/apis"),
        ("get", "/apis/{apiId}"),
        ("post", "/applications"),
        ("post", "/applications/{applicationId}/generate-keys"),
        ("post", "/applications/{applicationId}/api-keys/{keyType}/generate"),
        ("post", "/subscriptions"),
        ("delete", "/subscriptions/{subscriptionId}"),
    },
}


@pytest.mark.parametrize("prefix", [ADMIN, PUBLISHER, STORE])
def test_each_api_has_its_own_document(http: httpx.Client, prefix: str) -> None:
    document = expect(http.get(f"{prefix}/openapi.json"), 200)
    assert document["openapi"].startswith("3.")
    assert document["servers"] == [{"url": prefix}]
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    assert EXPECTED[prefix] <= operations
    others = {ADMIN, PUBLISHER, STORE} - {prefix}
    assert not [
        path for path in document["paths"] if path.startswith(tuple(others)) or path.startswith("/api/")
    ]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation.get("security"), f"{method} {path} names no scopes"
    flows = document["components"]["securitySchemes"]["OAuth2Security"]["flows"]
    assert flows["password"]["tokenUrl"] == "/oauth2/token"


def test_documents_name_the_scopes_and_the_public_catalog(http: httpx.Client) -> None:
    admin = expect(http.get(f"{ADMIN}/openapi.json"), 200)
    policies = admin["paths"]["/throttling/policies/subscription"]
    assert policies["post"]["security"] == [{"OAuth2Security": ["apim:tier_manage"]}]
    store = expect(http.get(f"{STORE}/openapi.json"), 200)
    assert {} in store["paths"]["/apis"]["get"]["security"]  # anonymous callers allowed
    assert {} not in store["paths"]["/applications"]["get"]["security"]
    body = store["components"]["schemas"]["SubscriptionIn"]
    assert body["additionalProperties"] is False
