"""A monetized API on a real backend (a per-call plan "Pro", a fixed monthly plan "Monthly"), a
subscriber with the REST calls tests make, and a gateway in a thread on the same database."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.gateway.support import Backend, GatewayThread
from tests.support.identity import Caller
from tests.support.rest import ADMIN, POLICIES, PUBLISHER, STORE, commercial_plan, expect, monetize, new_api
from tollway.models import MonSubscription
from tollway.runtime import Runtime

WORKFLOWS = f"{ADMIN}/workflows"
DECIDE = f"{WORKFLOWS}/update-workflow-status"
LIMIT = 1.0  # seconds for a decision to reach the gateway


@dataclass
class Bed:
    http: httpx.Client
    runtime: Runtime
    admin: Caller
    subscriber: Caller
    api_id: str
    gateway: GatewayThread

    def set_workflows(self, **modes: str) -> None:
        url = f"{ADMIN}/tenant-config"
        document = expect(self.http.get(url, headers=self.admin.headers), 200)
        expect(self.http.put(url, headers=self.admin.headers, json=document | {"Workflows": modes}), 200)

    def app(self, name: str = "App") -> dict[str, Any]:
        body = {"name": name}
        return dict(
            expect(self.http.post(f"{STORE}/applications", headers=self.subscriber.headers, json=body), 201)
        )

    def keys(self, app_id: str) -> httpx.Response:
        return self.http.post(
            f"{STORE}/applications/{app_id}/generate-keys",
            headers=self.subscriber.headers,
            json={"keyType": "PRODUCTION", "grantTypesToBeSupported": ["client_credentials"]},
        )

    def token(self, app_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {expect(self.keys(app_id), 200)['token']['accessToken']}"}

    def subscribe(self, app_id: str, plan: str = "Pro") -> httpx.Response:
        body = {"applicationId": app_id, "apiId": self.api_id, "throttlingPolicy": plan}
        return self.http.post(f"{STORE}/subscriptions", headers=self.subscriber.headers, json=body)

    def subscription(self, sub_id: str) -> httpx.Response:
        return self.http.get(f"{STORE}/subscriptions/{sub_id}", headers=self.subscriber.headers)

    def pending(self, workflow_type: str | None = None) -> list[dict[str, Any]]:
        params = {"workflowType": workflow_type} if workflow_type else {}
        return list(expect(self.http.get(WORKFLOWS, headers=self.admin.headers, params=params), 200)["list"])

    def decide(self, reference: str, status: str, description: str | None = None) -> httpx.Response:
        return self.http.post(
            DECIDE,
            headers=self.admin.headers,
            params={"workflowReferenceId": reference},
            json={"status": status, "description": description},
        )

    def call(self, headers: dict[str, str]) -> httpx.Response:
        return httpx.get(f"{self.gateway.url}/pizza/1.0.0/status/200", headers=headers, timeout=10)

    def refusal(self, headers: dict[str, str]) -> str:
        """The gateway's description of why it refuses the call ("" when it serves it)."""
        response = self.call(headers)
        return "" if response.status_code == 200 else str(response.json()["description"])

    def engine_subscriptions(self, sub_id: str) -> int:
        with self.runtime.session_factory() as session:
            query = select(func.count()).select_from(MonSubscription)
            return int(session.scalar(query.where(MonSubscription.subscription_id == sub_id)) or 0)


def takes_effect(probe: Callable[[], object], expected: object, limit: float = 3.0) -> float:
    """Seconds until ``probe()`` answers ``expected`` (polling every 10 ms)."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        if probe() == expected:
            return time.monotonic() - began
        time.sleep(0.01)
    raise AssertionError(f"still not {expected} after {limit}s")


@pytest.fixture
def bed(
    http: httpx.Client, runtime: Runtime, admin: Caller, publisher: Caller, subscriber: Caller
) -> Iterator[Bed]:
    backend = Backend().start()
    try:
        expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Pro", "0.01")), 201)
        monthly = commercial_plan("Monthly")
        monthly["monetization"] = {
            "monetizationPlan": "FixedRate",
            "properties": {"fixedPrice": "10.00", "currencyType": "USD", "billingCycle": "month"},
        }
        expect(http.post(POLICIES, headers=admin.headers, json=monthly), 201)
        body = new_api(
            name="Pizza",
            context="/pizza",
            policies=["Pro", "Monthly", "Gold"],
            endpointConfig={"endpoint_type": "http", "production_endpoints": {"url": backend.url}},
        )
        api = expect(http.post(f"{PUBLISHER}/apis", headers=publisher.headers, json=body), 201)
        params = {"apiId": api["id"], "action": "Publish"}
        expect(http.post(f"{PUBLISHER}/apis/change-lifecycle", headers=publisher.headers, params=params), 200)
        monetize(http, publisher, api["id"])
        with GatewayThread(runtime) as gateway:
            yield Bed(http, runtime, admin, subscriber, api["id"], gateway)
    finally:
        backend.stop()
