"""Products, prices and billing meters: created idempotently, revived, retired.

Every create carries the operation's idempotency key. Stripe keeps a key's answer for 24 hours,
so a retried operation gets the same object back (``Idempotent-Replayed``) - possibly one that an
undo or a retirement has since deactivated or deleted. Such a replayed object is revived: an
inactive product, price or meter is reactivated (its content is the one the key stands for), a
deleted product is made again under a key derived from the deleted one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import stripe

from tollway.billing.stripe.clients import Target
from tollway.billing.stripe.wire import Wire, derive, is_missing, replayed, translate

log = logging.getLogger(__name__)


def v1(target: Target) -> Any:
    """The SDK's v1 services (parameters are built as plain dicts, checked by Stripe)."""
    return target.client.v1


class Undo:
    """Compensating steps of one engine operation, run newest first if a later step fails."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, Callable[[], None]]] = []

    def add(self, what: str, step: Callable[[], None]) -> None:
        self.steps.append((what, step))

    def run(self) -> None:
        for what, step in reversed(self.steps):
            try:
                step()
            except Exception:
                log.exception("undoing %s in Stripe failed; it is left behind", what)
        self.steps.clear()


class Catalog:
    def __init__(self, wire: Wire) -> None:
        self.wire = wire

    # ----- products ----------------------------------------------------------------------------

    def create_product(self, target: Target, params: dict[str, Any], key: str) -> str:
        product = self.wire.send(
            "create a product", target, lambda: v1(target).products.create(params, target.options(key))
        )
        if not replayed(product):
            return str(product["id"])
        current = self.wire.maybe(
            "read a product",
            target,
            lambda: v1(target).products.retrieve(product["id"], None, target.options()),
        )
        if current is None or current.get("deleted"):
            return self.create_product(target, params, derive(key, "after", str(product["id"])))
        if not current["active"]:
            self.set_product_active(target, str(product["id"]), True)
        return str(product["id"])

    def set_product_active(self, target: Target, product_id: str, active: bool) -> None:
        self.wire.maybe(
            "update a product",
            target,
            lambda: v1(target).products.update(product_id, {"active": active}, target.options()),
        )

    def update_product(self, target: Target, product_id: str, params: dict[str, Any]) -> bool:
        """False if the product no longer exists."""
        found = self.wire.maybe(
            "update a product",
            target,
            lambda: v1(target).products.update(product_id, params, target.options()),
        )
        return found is not None and not found.get("deleted")

    def retire_product(self, target: Target, product_id: str) -> None:
        """Delete a product without prices; deactivate one whose prices are all inactive."""
        prices = self.wire.send(
            "list prices",
            target,
            lambda: v1(target).prices.list({"product": product_id, "limit": 1}, target.options()),
        )
        if not prices["data"]:
            self.wire.maybe(
                "delete a product",
                target,
                lambda: v1(target).products.delete(product_id, None, target.options()),
            )
            return
        active = self.wire.send(
            "list prices",
            target,
            lambda: v1(target).prices.list(
                {"product": product_id, "active": True, "limit": 1}, target.options()
            ),
        )
        if not active["data"]:
            self.set_product_active(target, product_id, False)

    # ----- prices ------------------------------------------------------------------------------

    def create_price(self, target: Target, params: dict[str, Any], key: str) -> str:
        price = self.wire.send(
            "create a price", target, lambda: v1(target).prices.create(params, target.options(key))
        )
        if replayed(price):
            current = self.retrieve_price(target, str(price["id"]))
            if current is not None and not current["active"]:
                self.set_price_active(target, str(price["id"]), True)
        return str(price["id"])

    def retrieve_price(self, target: Target, price_id: str) -> Any:
        return self.wire.maybe(
            "read a price", target, lambda: v1(target).prices.retrieve(price_id, None, target.options())
        )

    def set_price_active(self, target: Target, price_id: str, active: bool) -> None:
        self.wire.maybe(
            "update a price",
            target,
            lambda: v1(target).prices.update(price_id, {"active": active}, target.options()),
        )

    # ----- meters ------------------------------------------------------------------------------

    def find_meter(self, target: Target, event_name: str) -> str | None:
        for meter in self.wire.pages(
            "list billing meters",
            target,
            lambda q: v1(target).billing.meters.list(q, target.options()),
            {"status": "active"},
        ):
            if meter["event_name"] == event_name:
                return str(meter["id"])
        return None

    def meter(self, target: Target, event_name: str, display_name: str, key: str) -> tuple[str, bool]:
        """The active meter for ``event_name``, created if there is none; (id, created by this key)."""
        params = {
            "display_name": display_name[:250],
            "event_name": event_name,
            "default_aggregation": {"formula": "sum"},
            "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
            "value_settings": {"event_payload_key": "value"},
        }
        try:
            meter = self.wire.raw(
                "create a billing meter",
                lambda: v1(target).billing.meters.create(params, target.options(key)),
            )
        except stripe.InvalidRequestError as error:
            if error.code != "resource_already_exists":
                raise translate("create a billing meter", target, error) from None
            found = self.find_meter(target, event_name)
            if found is None:
                raise translate("create a billing meter", target, error) from None
            return found, False
        except stripe.StripeError as error:
            raise translate("create a billing meter", target, error) from None
        if replayed(meter):
            current = self.wire.send(
                "read a billing meter",
                target,
                lambda: v1(target).billing.meters.retrieve(meter["id"], None, target.options()),
            )
            if current["status"] != "active":
                try:
                    self.wire.raw(
                        "reactivate a billing meter",
                        lambda: v1(target).billing.meters.reactivate(meter["id"], None, target.options()),
                    )
                except stripe.InvalidRequestError:
                    found = self.find_meter(target, event_name)  # another meter took the name
                    if found is None:
                        raise
                    return found, False
        return str(meter["id"]), True

    def deactivate_meter(self, target: Target, meter_id: str) -> None:
        current = self.wire.maybe(
            "read a billing meter",
            target,
            lambda: v1(target).billing.meters.retrieve(meter_id, None, target.options()),
        )
        if current is None or current["status"] != "active":
            return
        try:
            self.wire.raw(
                "deactivate a billing meter",
                lambda: v1(target).billing.meters.deactivate(meter_id, None, target.options()),
            )
        except stripe.StripeError as error:
            if not (is_missing(error) or isinstance(error, stripe.InvalidRequestError)):
                raise translate("deactivate a billing meter", target, error) from None

    def meter_event_name(self, target: Target, meter_id: str) -> str:
        meter = self.wire.send(
            "read a billing meter",
            target,
            lambda: v1(target).billing.meters.retrieve(meter_id, None, target.options()),
        )
        return str(meter["event_name"])
