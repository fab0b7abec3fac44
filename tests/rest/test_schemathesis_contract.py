"""Schemathesis over every operation the control plane documents: no input gives a 5xx, and every
answer has a documented status and content type and matches the schema documented for them.

The operations are those of the three REST APIs' own documents (``{prefix}/openapi.json``, as
their clients read them) and the rest of the app's ``/openapi.json`` (OAuth2, client registration,
SCIM, self sign-up, engine webhooks, health). Each group runs on its own fresh instance, so that
the destructive operations of one (deleting the seeded objects, deactivating a tenant) cannot
disturb another; within a group the DELETEs run last.

Each operation gets a bounded number of generated requests: valid ones (schema-conforming, with the
ids of real objects in the path, query and body) and invalid ones (wrong types, missing fields, odd
strings). The callers are authenticated with everything the operation accepts: the admin's bearer
token (every scope of the three APIs), the admin's HTTP Basic credentials for client registration,
a registered client's for /oauth2.

The search is bounded (10 requests per operation and mode; about a minute in all on two cores)
and derandomized, so a run is repeatable; TOLLWAY_CONTRACT_EXAMPLES=200 searches deeper.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.identity import Caller, OrmIdentity
from tests.support.rest import ADMIN, POLICIES, PUBLISHER, STORE, commercial_plan, expect, new_api
from tests.support.servers import ServerThread

EXAMPLES_PER_MODE = int(os.environ.get("TOLLWAY_CONTRACT_EXAMPLES", "10"))
# Beyond the schema of the body: every status and content type answered is a documented one.
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
BODY_IDS = ("applicationId", "apiId", "policyId", "subscriptionId", "owner")
CONTRACT_SETTINGS = settings(
    max_examples=EXAMPLES_PER_MODE,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
ADMIN_PASSWORD = "admin"  # the runtime fixture's bootstrap password
TENANT = "contract.example"
Headers = Callable[[str], dict[str, str]]


def basic(name: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{secret}".encode()).decode()}


def seed(http: httpx.Client, admin: Caller) -> dict[str, str]:
    """Real objects whose ids the valid requests use (path parameters by name)."""
    policy = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Contract")), 201)
    api = expect(
        http.post(
            f"{PUBLISHER}/apis", headers=admin.headers, json=new_api(policies=["Contract", "Unlimited"])
        ),
        201,
    )
    expect(
        http.post(
            f"{PUBLISHER}/apis/change-lifecycle",
            headers=admin.headers,
            params={"apiId": api["id"], "action": "Publish"},
        ),
        200,
    )
    app = expect(http.post(f"{STORE}/applications", headers=admin.headers, json={"name": "Contract"}), 201)
    sub = expect(
        http.post(
            f"{STORE}/subscriptions",
            headers=admin.headers,
            json={"applicationId": app["applicationId"], "apiId": api["id"], "throttlingPolicy": "Unlimited"},
        ),
        201,
    )
    user = expect(
        http.post(
            "/scim2/Users",
            headers=admin.headers,
            json={"userName": "contractor", "password": "Secret-password-1"},
        ),
        201,
    )
    expect(
        http.post(
            f"{ADMIN}/tenants",
            headers=admin.headers,
            json={"domain": TENANT, "adminUsername": "boss", "adminPassword": "Secret-password-1"},
        ),
        201,
    )
    wallet = expect(
        http.post(
            f"{ADMIN}/wallets/credits",
            headers=admin.headers,
            json={"owner": "admin", "currency": "USD", "amount": "5", "reason": "contract"},
        ),
        201,
    )
    return {
        "walletId": wallet["walletId"],
        "owner": "contractor",  # credits name a real user (a wallet is made for them)
        "currency": "USD",  # the admin's own wallet in the developer portal
        "policyId": policy["policyId"],
        "apiId": api["id"],
        "applicationId": app["applicationId"],
        "subscriptionId": sub["subscriptionId"],
        "keyType": "PRODUCTION",
        "user_id": user["id"],
        "domain": TENANT,
        "tenantDomain": TENANT,
        "engineName": "ledger",
    }


def identity_headers(http: httpx.Client, admin: Caller) -> Headers:
    """Per path: HTTP Basic of a registered client for /oauth2, of the admin for registration."""
    client = expect(
        http.post(
            "/client-registration/v0.17/register",
            headers=basic("admin", ADMIN_PASSWORD),
            json={"clientName": "contract", "grantType": "password client_credentials refresh_token"},
        ),
        200,
    )
    by_prefix = {
        "/oauth2/": basic(client["clientId"], client["clientSecret"]),
        "/client-registration/": basic("admin", ADMIN_PASSWORD),
    }

    def headers(path: str) -> dict[str, str]:
        return next((h for prefix, h in by_prefix.items() if path.startswith(prefix)), admin.headers)

    return headers


def check_operation(operation: Any, base_url: str, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    failures: list[str] = []
    path = {p.name: ids[p.name] for p in operation.path_parameters if p.name in ids}
    query = {p.name: ids[p.name] for p in operation.query if p.name in ids}

    def with_real_ids(case: Any) -> Any:
        """Valid requests name real objects in their bodies too (a random id is only ever a 404)."""
        if isinstance(case.body, dict):
            case.body = {
                key: ids.get(key, value) if key in BODY_IDS else value for key, value in case.body.items()
            }
        return case

    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            titles = "; ".join(sorted({failure.title for failure in group.exceptions}))
            failures.append(
                f"{case.method} {case.formatted_path} query={case.query} body={case.body!r}"
                f" -> {response.status_code} {response.text[:300]}: {titles}"
            )

    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=path or None, query=query or None).map(
            with_real_ids
        ),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    for strategy in strategies:

        @CONTRACT_SETTINGS
        @given(case=strategy)
        def test(case: Any) -> None:
            run(case)

        try:
            test()
        except Exception as exc:  # generation can give up on a mode an operation cannot fail
            if "Unsatisfiable" not in type(exc).__name__:
                raise
    return failures


def operations_of(document: dict[str, Any], keep: Callable[[str], bool]) -> list[Any]:
    schema = schemathesis.openapi.from_dict(document)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations = [op for op in operations if keep(op.path)]
    operations.sort(key=lambda op: op.method.upper() == "DELETE")  # the seeded objects live longest
    return operations


GROUPS = {"admin": ADMIN, "publisher": PUBLISHER, "store": STORE, "identity": ""}


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_operation_answers_as_documented(
    group: str, live_server: ServerThread, http: httpx.Client, identity: OrmIdentity
) -> None:
    admin = identity.login("admin")  # every scope of the three APIs
    ids = seed(http, admin)
    prefix = GROUPS[group]
    if prefix:
        document = expect(http.get(f"{prefix}/openapi.json"), 200)
        operations = operations_of(document, lambda _: True)
        headers: Headers = lambda _: admin.headers  # noqa: E731
    else:  # what the three APIs' documents leave out of the app's own
        document = expect(http.get("/openapi.json"), 200)
        operations = operations_of(document, lambda path: not path.startswith((ADMIN, PUBLISHER, STORE)))
        headers = identity_headers(http, admin)
    assert operations
    failures: list[str] = []
    for operation in operations:
        failures += check_operation(operation, live_server.url + prefix, headers(operation.path), ids)
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures[:40])
