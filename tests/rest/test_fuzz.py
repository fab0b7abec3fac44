"""Schemathesis over the three OpenAPI documents, with valid tokens: no input gives a 5xx.

Each operation gets a bounded number of generated requests: valid ones (schema-conforming, with
the ids of real objects in the path) and invalid ones (wrong types, missing fields, odd strings,
random ids). The server must answer every one with something other than a server error.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation import GenerationMode

from tests.support.identity import Caller, OrmIdentity
from tests.support.rest import ADMIN, POLICIES, PUBLISHER, STORE, commercial_plan, expect, new_api
from tests.support.servers import ServerThread

EXAMPLES_PER_MODE = 10
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_MODE,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def seed(http: httpx.Client, admin: Caller) -> dict[str, str]:
    """Real objects whose ids the valid requests use."""
    policy = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Fuzzed")), 201)
    api = expect(
        http.post(f"{PUBLISHER}/apis", headers=admin.headers, json=new_api(policies=["Fuzzed"])), 201
    )
    expect(
        http.post(
            f"{PUBLISHER}/apis/change-lifecycle",
            headers=admin.headers,
            params={"apiId": api["id"], "action": "Publish"},
        ),
        200,
    )
    app = expect(http.post(f"{STORE}/applications", headers=admin.headers, json={"name": "Fuzz"}), 201)
    sub = expect(
        http.post(
            f"{STORE}/subscriptions",
            headers=admin.headers,
            json={"applicationId": app["applicationId"], "apiId": api["id"], "throttlingPolicy": "Fuzzed"},
        ),
        201,
    )
    return {
        "policyId": policy["policyId"],
        "apiId": api["id"],
        "applicationId": app["applicationId"],
        "subscriptionId": sub["subscriptionId"],
        "keyType": "PRODUCTION",
    }


def fuzz_operation(operation: Any, base_url: str, headers: dict[str, str], ids: dict[str, str]) -> list[str]:
    failures: list[str] = []
    names = {p.name for p in operation.path_parameters}
    real = {name: ids[name] for name in names if name in ids}

    def run(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        if response.status_code >= 500:
            failures.append(
                f"{case.method} {case.formatted_path} query={case.query} body={case.body!r}"
                f" -> {response.status_code} {response.text[:300]}"
            )

    strategies = [
        operation.as_strategy(GenerationMode.POSITIVE, path_parameters=real or None),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    for strategy in strategies:

        @FUZZ_SETTINGS
        @given(case=strategy)
        def test(case: Any) -> None:
            run(case)

        try:
            test()
        except Exception as exc:  # generation can give up on a mode an operation cannot fail
            if "Unsatisfiable" not in type(exc).__name__:
                raise
    return failures


@pytest.mark.parametrize("prefix", [ADMIN, PUBLISHER, STORE])
def test_no_input_makes_a_server_error(
    prefix: str, live_server: ServerThread, http: httpx.Client, identity: OrmIdentity
) -> None:
    admin = identity.login("admin")  # every scope of the three APIs
    ids = seed(http, admin)
    document = expect(http.get(f"{prefix}/openapi.json"), 200)
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    operations.sort(key=lambda op: op.method.upper() == "DELETE")  # the seeded objects live longest
    for operation in operations:
        failures += fuzz_operation(operation, live_server.url + prefix, admin.headers, ids)
    assert not failures, "\n".join(failures[:20])
