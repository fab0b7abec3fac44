"""Late usage through the Stripe engine (the Stripe fake): a failed send is retried, counted once."""

from __future__ import annotations

from decimal import Decimal

from tests.billing.stripe.conftest import StripeSetup, clear_faults, settings, stripe, stripe_fake, world
from tests.monetization.world import World

__all__ = ["settings", "stripe", "stripe_fake", "world"]  # the Stripe fixtures, for this module


def test_a_failed_late_publish_is_retried_with_the_same_key_and_counted_once(
    world: World, stripe: StripeSetup
) -> None:
    world.set_late_window(3600)
    world.policy("Pro", price="0.01")
    api = world.api()
    world.monetize(api, {"ConnectedAccountKey": stripe.seller})
    sub = world.subscribe(world.app(), api)
    world.calls(sub, 100)
    assert world.publish().calls == 100
    (row,) = world.mon_rows(sub)
    assert row.usage_published_until is not None

    late = row.started_at + (row.usage_published_until - row.started_at) / 2
    world.calls(sub, 30, at=late)  # made before the watermark, reaching the database only now
    stripe.fake.fail_next(1000, status=503, path_prefix="/v1/billing/meter_events")
    stripe.fake.clear_requests()
    failed = world.publish()
    assert failed.failed == 1 and failed.late_calls == 30
    clear_faults(stripe.fake)
    retried = world.publish()
    assert (retried.failed, retried.calls, retried.late_calls) == (0, 30, 0)  # the pending record
    assert world.publish().calls == 0

    sent = [r for r in stripe.fake.requests if r.path == "/v1/billing/meter_events"]
    keys = {r.params["identifier"] for r in sent}
    assert len(keys) == 1 and next(iter(keys)).startswith("late:")  # every attempt: the same key
    assert [r.params["payload"]["value"] for r in sent if r.status == 200] == ["30"]
    assert world.invoice(sub).total == Decimal("1.30")  # 130 x 0.01 USD
