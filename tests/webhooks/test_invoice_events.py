"""invoice.finalized: sent to the tenant's endpoints and to the subscribed application's."""

from __future__ import annotations

from datetime import timedelta

import httpx

from tests.monetization.world import World
from tests.support.identity import OrmIdentity
from tests.support.rest import PUBLISHER, STORE, expect
from tests.webhooks.receiver import receiver
from tests.webhooks.support import dispatch_until, webhook_settings
from tollway.db.base import utcnow
from tollway.invoicing.maintenance import run_maintenance


def test_a_finalized_invoice_is_announced_to_the_publisher_and_the_subscriber(
    world: World, http: httpx.Client, identity: OrmIdentity
) -> None:
    webhook_settings(world.runtime, allow_internal_targets=True)
    world.policy("Pro", price="0.01")
    api = world.api()
    world.monetize(api)
    app = world.app()
    sub = world.subscribe(app, api)
    world.backdate(sub, timedelta(days=40))
    world.calls(sub, 3, at=utcnow() - timedelta(days=35))
    pub, dev = identity.login("pub"), identity.login("dev")
    with receiver() as tenant_hooks, receiver() as app_hooks:
        hooks = f"{PUBLISHER}/webhooks"
        expect(http.post(hooks, headers=pub.headers, json={"url": tenant_hooks.url}), 201)
        mine = f"{STORE}/applications/{app}/webhooks"
        wanted = {"url": app_hooks.url, "eventTypes": ["invoice.finalized"]}
        expect(http.post(mine, headers=dev.headers, json=wanted), 201)
        world.publish()
        assert run_maintenance(world.svc, world.runtime.session_factory).invoices_finalized == 1
        both = tenant_hooks.delivered, app_hooks.delivered
        dispatch_until(world.runtime, lambda: [len(d()) for d in both] == [1, 1])
        assert run_maintenance(world.svc, world.runtime.session_factory).invoices_finalized == 0
    (seen,) = (r.event for r in app_hooks.delivered())
    assert seen == tenant_hooks.delivered()[0].event  # one event, two deliveries
    assert seen["type"] == "invoice.finalized"
    data = seen["data"]
    assert (data["subscriptionId"], data["apiId"], data["currency"]) == (sub, api, "USD")
    assert (data["total"], data["amountDue"]) == ("0.03", "0.03")
    assert data["number"] and data["invoiceId"]
