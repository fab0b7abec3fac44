"""Fixtures and helpers for the REST API tests (imported by their packages' conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.identity import Caller, OrmIdentity
from tests.support.servers import ServerThread
from tollway.identity.roles import ROLE_PUBLISHER, ROLE_SUBSCRIBER
from tollway.runtime import Runtime

ADMIN = "/api/am/admin/v1"
PUBLISHER = "/api/am/publisher/v1"
STORE = "/api/am/store/v1"
POLICIES = f"{ADMIN}/throttling/policies/subscription"


@pytest.fixture
def identity(runtime: Runtime) -> OrmIdentity:
    return OrmIdentity(runtime)


@pytest.fixture
def http(live_server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client


@pytest.fixture
def admin(identity: OrmIdentity) -> Caller:
    return identity.login("admin")


@pytest.fixture
def publisher(identity: OrmIdentity) -> Caller:
    return identity.user("pub", [ROLE_PUBLISHER])


@pytest.fixture
def subscriber(identity: OrmIdentity) -> Caller:
    return identity.user("dev", [ROLE_SUBSCRIBER])


def expect(response: httpx.Response, status: int) -> Any:
    """The JSON body, after checking the status (the body is shown when it differs)."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    return response.json() if response.content else None


def monetize(http: httpx.Client, publisher: Caller, api_id: str) -> None:
    """Enable monetization of a published API; its paid plans are offered to subscribers from now on."""
    url = f"{PUBLISHER}/apis/{api_id}/monetize"
    expect(http.post(url, json={"enabled": True}, headers=publisher.headers), 201)


def commercial_plan(name: str, price: str = "0.0004", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "policyName": name,
        "displayName": name,
        "description": f"{name} plan",
        "defaultLimit": {
            "type": "RequestCountLimit",
            "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 1000},
        },
        "rateLimitCount": 50,
        "rateLimitTimeUnit": "sec",
        "stopOnQuotaReach": True,
        "billingPlan": "COMMERCIAL",
        "monetization": {
            "monetizationPlan": "DynamicRate",
            "properties": {"pricePerRequest": price, "currencyType": "USD", "billingCycle": "month"},
        },
    }
    body.update(changes)
    return body


def new_api(
    name: str = "Pizza", context: str = "/pizza", version: str = "1.0.0", **changes: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "context": context,
        "version": version,
        "policies": ["Gold"],
        "endpointConfig": {
            "endpoint_type": "http",
            "production_endpoints": {"url": "http://127.0.0.1:9/backend"},
            "sandbox_endpoints": {"url": "http://127.0.0.1:9/sandbox"},
        },
    }
    body.update(changes)
    return body


class RecordingHooks:
    """Monetization hooks that record each call (name, object id) and can refuse one kind of call.

    Stands in for a billing engine at the hook seam: the tests check that the domain services
    call it inside their transaction and that a refusal rolls the change back.
    """

    def __init__(self, refuse: str | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.refuse = refuse

    def _record(self, name: str, obj: Any) -> None:
        from tollway.errors import BillingEngineError

        self.calls.append((name, obj.id))
        if name == self.refuse:
            raise BillingEngineError(f"the billing engine refused {name}")

    def policy_created(self, session: Any, policy: Any) -> None:
        self._record("policy_created", policy)

    def policy_updated(self, session: Any, policy: Any) -> None:
        self._record("policy_updated", policy)

    def policy_deleting(self, session: Any, policy: Any) -> None:
        self._record("policy_deleting", policy)

    def subscription_created(self, session: Any, subscription: Any) -> None:
        self._record("subscription_created", subscription)

    def subscription_activated(self, session: Any, subscription: Any) -> None:
        self._record("subscription_activated", subscription)

    def subscription_deleting(self, session: Any, subscription: Any) -> None:
        self._record("subscription_deleting", subscription)

    def api_deleting(self, session: Any, api: Any) -> None:
        self._record("api_deleting", api)


def config_version(runtime: Runtime) -> int:
    from tollway.models.changes import gateway_config_version

    with runtime.session_factory() as session:
        return gateway_config_version(session)
