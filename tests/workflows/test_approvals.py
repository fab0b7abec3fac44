"""Approval workflows through WSO2's admin REST API, enforced by a running gateway.

A tenant's admin lists pending requests (``GET /workflows``), reads one and decides it
(``POST /workflows/update-workflow-status``); the subscriber's objects follow: a held subscription
starts in the billing engine and passes the gateway within a second of its approval, a rejected one
leaves no engine objects, a removal waits for its approval, an application waits before it may
hold keys or subscriptions.
"""

from __future__ import annotations

import httpx

from tests.support.identity import OrmIdentity
from tests.support.monetized_gateway import DECIDE, LIMIT, WORKFLOWS, Bed, takes_effect
from tests.support.rest import ADMIN, STORE, expect
from tollway.identity.roles import ROLE_ADMIN, ROLE_SUBSCRIBER


def test_an_approved_subscription_starts_in_the_engine_and_passes_the_gateway_within_a_second(
    bed: Bed,
) -> None:
    bed.set_workflows(subscription_creation="approval")
    app = bed.app()
    token = bed.token(app["applicationId"])
    held = expect(bed.subscribe(app["applicationId"]), 201)
    sub_id = held["subscriptionId"]
    assert held["status"] == "ON_HOLD"
    # Within a second the gateway knows the new token and the held subscription (until then it
    # may answer 401, or 403 "not subscribed").
    assert takes_effect(lambda: bed.refusal(token), "The subscription is awaiting approval") < LIMIT
    assert bed.engine_subscriptions(sub_id) == 0  # nothing billed before an admin says so

    [pending] = bed.pending("AM_SUBSCRIPTION_CREATION")
    assert pending["workflowStatus"] == "CREATED" and pending["requestedBy"] == "dev"
    assert pending["properties"] == {
        "applicationName": "App",
        "apiName": "Pizza",
        "apiVersion": "1.0.0",
        "apiContext": "/pizza",
        "throttlingPolicy": "Pro",
        "subscriber": "dev",
    }
    reference = pending["referenceId"]
    assert expect(bed.http.get(f"{WORKFLOWS}/{reference}", headers=bed.admin.headers), 200) == pending
    assert bed.pending("AM_APPLICATION_CREATION") == []

    decided = expect(bed.decide(reference, "APPROVED", "known customer"), 200)
    assert decided == {"status": "APPROVED", "attributes": {}, "description": "known customer"}
    assert takes_effect(lambda: bed.call(token).status_code, 200) < LIMIT
    assert expect(bed.subscription(sub_id), 200)["status"] == "UNBLOCKED"
    assert bed.engine_subscriptions(sub_id) == 1
    assert bed.pending() == []
    history = expect(bed.http.get(WORKFLOWS, headers=bed.admin.headers, params={"status": "APPROVED"}), 200)
    [done] = history["list"]
    assert (done["referenceId"], done["decidedBy"], done["description"]) == (
        reference,
        "admin",
        "known customer",
    )
    again = bed.decide(reference, "REJECTED")
    assert again.status_code == 409 and "already APPROVED" in again.json()["description"]
    assert bed.call(token).status_code == 200


def test_a_rejected_subscription_is_refused_and_leaves_no_engine_objects(bed: Bed) -> None:
    bed.set_workflows(subscription_creation="approval")
    app = bed.app()
    token = bed.token(app["applicationId"])
    sub_id = expect(bed.subscribe(app["applicationId"]), 201)["subscriptionId"]
    [pending] = bed.pending()
    expect(bed.decide(pending["referenceId"], "REJECTED", "not a customer"), 200)
    assert expect(bed.subscription(sub_id), 200)["status"] == "REJECTED"
    assert takes_effect(lambda: bed.refusal(token), "The subscription was rejected") < LIMIT
    assert bed.engine_subscriptions(sub_id) == 0
    # The subscriber withdraws it at once (nothing to approve) and may ask again.
    expect(bed.http.delete(f"{STORE}/subscriptions/{sub_id}", headers=bed.subscriber.headers), 200)
    again = expect(bed.subscribe(app["applicationId"]), 201)
    assert again["status"] == "ON_HOLD" and len(bed.pending()) == 1


def test_withdrawing_a_held_subscription_removes_its_pending_request(bed: Bed) -> None:
    bed.set_workflows(subscription_creation="approval", subscription_deletion="approval")
    app = bed.app()
    sub_id = expect(bed.subscribe(app["applicationId"]), 201)["subscriptionId"]
    [pending] = bed.pending()
    expect(bed.http.delete(f"{STORE}/subscriptions/{sub_id}", headers=bed.subscriber.headers), 200)
    assert bed.pending() == []
    gone = bed.decide(pending["referenceId"], "APPROVED")
    assert gone.status_code == 404 and pending["referenceId"] in gone.json()["description"]


def test_a_removal_waits_for_its_approval_and_a_refused_one_serves_again(bed: Bed) -> None:
    bed.set_workflows(subscription_deletion="approval")
    app = bed.app()
    token = bed.token(app["applicationId"])
    sub_id = expect(bed.subscribe(app["applicationId"]), 201)["subscriptionId"]
    assert takes_effect(lambda: bed.call(token).status_code, 200) < LIMIT
    url = f"{STORE}/subscriptions/{sub_id}"
    assert bed.http.delete(url, headers=bed.subscriber.headers).status_code == 202
    assert bed.http.delete(url, headers=bed.subscriber.headers).status_code == 202  # asked once
    [pending] = bed.pending("AM_SUBSCRIPTION_DELETION")
    assert pending["properties"]["previousStatus"] == "UNBLOCKED"
    assert expect(bed.subscription(sub_id), 200)["status"] == "DELETE_PENDING"
    assert takes_effect(lambda: bed.refusal(token), "The subscription is being removed") < LIMIT

    expect(bed.decide(pending["referenceId"], "REJECTED", "contract runs to June"), 200)
    assert expect(bed.subscription(sub_id), 200)["status"] == "UNBLOCKED"
    assert takes_effect(lambda: bed.call(token).status_code, 200) < LIMIT

    assert bed.http.delete(url, headers=bed.subscriber.headers).status_code == 202
    [second] = bed.pending("AM_SUBSCRIPTION_DELETION")
    expect(bed.decide(second["referenceId"], "APPROVED"), 200)
    assert bed.subscription(sub_id).status_code == 404
    gone = "The application is not subscribed to this API"
    assert takes_effect(lambda: bed.refusal(token), gone) < LIMIT


def test_an_application_waits_for_approval_before_keys_and_subscriptions(bed: Bed) -> None:
    bed.set_workflows(application_creation="approval")
    app = bed.app("Held")
    app_id = app["applicationId"]
    assert app["status"] == "CREATED"
    refused = bed.keys(app_id)
    assert refused.status_code == 409 and "awaits an admin's approval" in refused.json()["description"]
    assert bed.subscribe(app_id).status_code == 409
    [pending] = bed.pending("AM_APPLICATION_CREATION")
    assert pending["properties"]["applicationName"] == "Held"
    expect(bed.decide(pending["referenceId"], "APPROVED"), 200)
    shown = expect(bed.http.get(f"{STORE}/applications/{app_id}", headers=bed.subscriber.headers), 200)
    assert shown["status"] == "APPROVED"
    token = bed.token(app_id)
    expect(bed.subscribe(app_id), 201)
    assert takes_effect(lambda: bed.call(token).status_code, 200) < LIMIT

    other = bed.app("Refused")
    [pending] = bed.pending("AM_APPLICATION_CREATION")
    expect(bed.decide(pending["referenceId"], "REJECTED", "duplicate"), 200)
    rejected = bed.http.get(f"{STORE}/applications/{other['applicationId']}", headers=bed.subscriber.headers)
    assert expect(rejected, 200)["status"] == "REJECTED"
    assert "rejected" in bed.keys(other["applicationId"]).json()["description"]
    # Deleting it is allowed and leaves no request behind.
    expect(
        bed.http.delete(f"{STORE}/applications/{other['applicationId']}", headers=bed.subscriber.headers), 200
    )


def test_workflows_are_per_tenant_and_kept_from_other_tenants(bed: Bed, identity: OrmIdentity) -> None:
    bed.set_workflows(subscription_creation="approval")
    identity.tenant("other.com")
    other_admin = identity.user("boss", [ROLE_ADMIN], tenant="other.com")
    other_dev = identity.user("dev2", [ROLE_SUBSCRIBER], tenant="other.com")
    expect(bed.subscribe(bed.app()["applicationId"]), 201)
    [pending] = bed.pending()
    # The other tenant's admin neither sees nor decides this tenant's request.
    assert expect(bed.http.get(WORKFLOWS, headers=other_admin.headers), 200)["count"] == 0
    url = f"{WORKFLOWS}/{pending['referenceId']}"
    assert bed.http.get(url, headers=other_admin.headers).status_code == 404
    refused = bed.http.post(
        DECIDE,
        headers=other_admin.headers,
        params={"workflowReferenceId": pending["referenceId"]},
        json={"status": "APPROVED"},
    )
    assert refused.status_code == 404
    assert bed.http.get(WORKFLOWS, headers=bed.subscriber.headers).status_code == 403
    # Its own applications need no approval: its tenant-config has no Workflows entry.
    created = bed.http.post(f"{STORE}/applications", headers=other_dev.headers, json={"name": "Theirs"})
    assert expect(created, 201)["status"] == "APPROVED"
    assert [w["referenceId"] for w in bed.pending()] == [pending["referenceId"]]


def test_bad_decisions_and_settings_are_refused_naming_the_field(bed: Bed) -> None:
    bed.set_workflows(subscription_creation="approval")
    expect(bed.subscribe(bed.app()["applicationId"]), 201)
    [pending] = bed.pending()
    reference = pending["referenceId"]
    headers = bed.admin.headers

    def refused(response: httpx.Response, field: str, status: int = 400) -> None:
        assert response.status_code == status and field in response.json()["description"], response.text

    refused(bed.decide(reference, "MAYBE"), "status")
    refused(bed.http.post(DECIDE, headers=headers, json={"status": "APPROVED"}), "workflowReferenceId")
    refused(bed.decide("no-such-workflow", "APPROVED"), "no-such-workflow", 404)
    refused(bed.http.get(WORKFLOWS, headers=headers, params={"workflowType": "AM_NOTHING"}), "workflowType")
    refused(bed.http.get(WORKFLOWS, headers=headers, params={"status": "DONE"}), "status")
    long_note = bed.http.post(
        DECIDE,
        headers=headers,
        params={"workflowReferenceId": reference},
        json={"status": "APPROVED", "description": "x" * 1001},
    )
    refused(long_note, "description")
    assert bed.pending() == [pending]  # nothing was decided by those
    config = f"{ADMIN}/tenant-config"
    refused(
        bed.http.put(config, headers=headers, json={"Workflows": {"subscription_creation": "often"}}),
        "subscription_creation",
    )
    refused(
        bed.http.put(config, headers=headers, json={"Workflows": {"api_creation": "approval"}}),
        "api_creation",
    )
    refused(bed.http.put(config, headers=headers, json={"Workflows": ["approval"]}), "Workflows")
