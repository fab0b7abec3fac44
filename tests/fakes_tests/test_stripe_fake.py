"""The Stripe fake, driven over real HTTP by the official ``stripe`` SDK (``stripe.StripeClient``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from tests.fakes.stripe_fake import StripeFake

PLATFORM_KEY = "sk_test_platform_4eC39HqLyjWDarjtT1zdp7dc"


@pytest.fixture
def fake() -> Iterator[StripeFake]:
    with StripeFake() as running:
        running.add_platform_account(PLATFORM_KEY)
        yield running


@pytest.fixture
def client(fake: StripeFake) -> stripe.StripeClient:
    return stripe.StripeClient(
        PLATFORM_KEY,
        base_addresses={"api": fake.url, "meter_events": fake.url},
        max_network_retries=0,
    )


def _meter(client: stripe.StripeClient, event_name: str = "api_call", **extra: Any) -> Any:
    return client.v1.billing.meters.create(
        {
            "display_name": f"{event_name} meter",
            "event_name": event_name,
            "default_aggregation": {"formula": "sum"},
            **extra,
        }
    )


def _metered_price(client: stripe.StripeClient, meter_id: str, **price: Any) -> Any:
    product = client.v1.products.create({"name": "API calls"})
    params: dict[str, Any] = {
        "currency": "usd",
        "product": product.id,
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter_id},
    }
    params.update(price)
    return client.v1.prices.create(params)


def _stream(fake: StripeFake, client: stripe.StripeClient, events: list[dict[str, Any]]) -> None:
    session = client.v2.billing.meter_event_session.create()
    stream_client = stripe.StripeClient(
        session.authentication_token, base_addresses=fake.base_addresses, max_network_retries=0
    )
    for start in range(0, len(events), 100):
        stream_client.v2.billing.meter_event_stream.create({"events": events[start : start + 100]})


# ------------------------------------------------------------------------------ catalog


def test_products_crud_list_and_delete(client: stripe.StripeClient) -> None:
    gold = client.v1.products.create({"name": "Gold", "description": "Gold plan", "metadata": {"tier": "1"}})
    silver = client.v1.products.create({"name": "Silver", "active": False})
    assert gold.id.startswith("prod_") and gold.object == "product"
    assert (gold.name, gold.description, gold.active, dict(gold.metadata)) == (
        "Gold",
        "Gold plan",
        True,
        {"tier": "1"},
    )

    fetched = client.v1.products.retrieve(gold.id)
    assert fetched.id == gold.id and fetched.created == gold.created

    updated = client.v1.products.update(
        gold.id, {"name": "Gold+", "description": "", "metadata": {"tier": "", "plan": "g"}}
    )
    assert updated.name == "Gold+"
    assert updated.description is None  # "" unsets
    assert dict(updated.metadata) == {"plan": "g"}  # a key set to "" is removed

    listed = client.v1.products.list()
    assert listed.object == "list" and listed.url == "/v1/products"
    assert [p.id for p in listed.data] == [silver.id, gold.id]  # newest first
    assert [p.id for p in client.v1.products.list({"active": True}).data] == [gold.id]
    assert [p.id for p in client.v1.products.list({"ids": [silver.id]}).data] == [silver.id]
    page = client.v1.products.list({"limit": 1})
    assert page.has_more is True and [p.id for p in page.data] == [silver.id]
    rest = client.v1.products.list({"limit": 1, "starting_after": silver.id})
    assert rest.has_more is False and [p.id for p in rest.data] == [gold.id]

    deleted = client.v1.products.delete(silver.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (silver.id, "product", True)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.products.retrieve(silver.id)
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"
    assert str(missing.value.user_message) == f"No such product: '{silver.id}'"


def test_prices_crud_and_filters(client: stripe.StripeClient) -> None:
    product = client.v1.products.create({"name": "Seats"})
    monthly = client.v1.prices.create(
        {
            "currency": "usd",
            "product": product.id,
            "unit_amount": 2000,
            "recurring": {"interval": "month"},
            "nickname": "monthly",
            "lookup_key": "seats_monthly",
        }
    )
    one_time = client.v1.prices.create(
        {"currency": "usd", "product_data": {"name": "Setup"}, "unit_amount_decimal": "1500.5"}
    )
    assert monthly.id.startswith("price_")
    assert (monthly.unit_amount, monthly.unit_amount_decimal, monthly.type) == (2000, "2000", "recurring")
    assert dict(monthly.recurring) == {
        "interval": "month",
        "interval_count": 1,
        "meter": None,
        "usage_type": "licensed",
        "trial_period_days": None,
    }
    assert (one_time.unit_amount, one_time.unit_amount_decimal, one_time.type) == (None, "1500.5", "one_time")
    assert one_time.product.startswith("prod_") and one_time.product != product.id

    assert client.v1.prices.retrieve(monthly.id).lookup_key == "seats_monthly"
    updated = client.v1.prices.update(
        monthly.id, {"active": False, "nickname": "old", "metadata": {"a": "b"}}
    )
    assert (updated.active, updated.nickname, dict(updated.metadata)) == (False, "old", {"a": "b"})
    with pytest.raises(stripe.InvalidRequestError) as not_unsettable:
        client.v1.prices.update(monthly.id, {"nickname": ""})  # typed `str`, not `Literal[""] | str`
    assert not_unsettable.value.code == "parameter_invalid_empty"

    assert [p.id for p in client.v1.prices.list({"product": product.id}).data] == [monthly.id]
    assert [p.id for p in client.v1.prices.list({"type": "one_time"}).data] == [one_time.id]
    assert [p.id for p in client.v1.prices.list({"active": True}).data] == [one_time.id]
    assert [p.id for p in client.v1.prices.list({"lookup_keys": ["seats_monthly"]}).data] == [monthly.id]

    # amounts are immutable: PriceUpdateParams has no unit_amount, so Stripe refuses it as unknown
    with pytest.raises(stripe.InvalidRequestError) as immutable:
        client.v1.prices.update(monthly.id, {"unit_amount": 1})  # type: ignore[typeddict-unknown-key]
    assert immutable.value.code == "parameter_unknown" and immutable.value.param == "unit_amount"

    with pytest.raises(stripe.InvalidRequestError) as taken:
        client.v1.prices.create(
            {"currency": "usd", "product": product.id, "unit_amount": 1, "lookup_key": "seats_monthly"}
        )
    assert f"A price (`{monthly.id}`) already uses that lookup key." in str(taken.value)


def test_unknown_parameters_are_refused_with_stripes_error(
    fake: StripeFake, client: stripe.StripeClient
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as top:
        client.v1.products.create({"name": "X", "colour": "red"})  # type: ignore[typeddict-unknown-key]
    error = top.value
    assert error.http_status == 400
    assert error.code == "parameter_unknown" and error.param == "colour"
    assert error.json_body is not None
    assert error.json_body["error"]["type"] == "invalid_request_error"
    assert error.json_body["error"]["message"] == "Received unknown parameter: colour"

    product = client.v1.products.create({"name": "X"})
    with pytest.raises(stripe.InvalidRequestError) as nested:
        client.v1.prices.create(
            {
                "currency": "usd",
                "product": product.id,
                "unit_amount": 5,
                "recurring": {"interval": "month", "aggregate_usage": "sum"},  # type: ignore[typeddict-unknown-key]
            }
        )
    assert nested.value.param == "recurring[aggregate_usage]"
    assert nested.value.json_body is not None
    assert (
        nested.value.json_body["error"]["message"] == "Received unknown parameter: recurring[aggregate_usage]"
    )

    with pytest.raises(stripe.InvalidRequestError) as bad_enum:
        client.v1.prices.create(
            {
                "currency": "usd",
                "product": product.id,
                "unit_amount": 5,
                "recurring": {"interval": "fortnight"},
            }  # type: ignore[typeddict-item]
        )
    assert bad_enum.value.param == "recurring[interval]"
    assert "must be one of day, month, week, or year" in str(bad_enum.value)

    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.prices.create({"product": product.id, "unit_amount": 5})  # type: ignore[typeddict-item]
    assert (missing.value.code, missing.value.param) == ("parameter_missing", "currency")
    assert [p.id for p in client.v1.prices.list().data] == []  # nothing was created by refused calls


def test_product_with_prices_cannot_be_deleted(client: stripe.StripeClient) -> None:
    product = client.v1.products.create({"name": "Gold"})
    client.v1.prices.create({"currency": "usd", "product": product.id, "unit_amount": 100})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.products.delete(product.id)
    assert refused.value.http_status == 400
    assert str(refused.value.user_message) == (
        "This product cannot be deleted because it has one or more user-created prices."
    )
    assert client.v1.products.retrieve(product.id).id == product.id
    assert client.v1.products.update(product.id, {"active": False}).active is False  # archive instead


def test_price_validation_follows_stripe(client: stripe.StripeClient) -> None:
    meter = _meter(client)
    product = client.v1.products.create({"name": "Calls"})
    base: dict[str, Any] = {"currency": "usd", "product": product.id}

    with pytest.raises(stripe.InvalidRequestError) as no_meter:
        client.v1.prices.create(
            {**base, "unit_amount": 1, "recurring": {"interval": "month", "usage_type": "metered"}}
        )
    assert no_meter.value.param == "recurring[meter]"

    with pytest.raises(stripe.InvalidRequestError) as unknown_meter:
        client.v1.prices.create(
            {
                **base,
                "unit_amount": 1,
                "recurring": {"interval": "month", "usage_type": "metered", "meter": "mtr_doesnotexist"},
            }
        )
    assert unknown_meter.value.code == "resource_missing"

    with pytest.raises(stripe.InvalidRequestError) as both:
        client.v1.prices.create({**base, "unit_amount": 1, "unit_amount_decimal": "1.5"})
    assert both.value.code == "parameters_exclusive"

    with pytest.raises(stripe.InvalidRequestError) as too_precise:
        client.v1.prices.create({**base, "unit_amount_decimal": "0.0000000000001"})
    assert too_precise.value.param == "unit_amount_decimal"

    with pytest.raises(stripe.InvalidRequestError) as no_tiers:
        client.v1.prices.create({**base, "billing_scheme": "tiered", "tiers_mode": "graduated"})
    assert (no_tiers.value.code, no_tiers.value.param) == ("parameter_missing", "tiers")

    with pytest.raises(stripe.InvalidRequestError) as open_ended:
        client.v1.prices.create(
            {
                **base,
                "billing_scheme": "tiered",
                "tiers_mode": "volume",
                "tiers": [{"up_to": 10, "unit_amount": 5}],
            }
        )
    assert open_ended.value.param == "tiers[0][up_to]"

    client.v1.billing.meters.deactivate(meter.id)
    with pytest.raises(stripe.InvalidRequestError) as inactive:
        client.v1.prices.create(
            {
                **base,
                "unit_amount": 1,
                "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
            }
        )
    assert "inactive" in str(inactive.value)


def test_tiers_are_returned_only_when_expanded(client: stripe.StripeClient) -> None:
    meter = _meter(client)
    price = _metered_price(
        client,
        meter.id,
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[{"up_to": 1000, "unit_amount": 0}, {"up_to": "inf", "unit_amount_decimal": "0.25"}],
    )
    assert "tiers" not in price
    expanded = client.v1.prices.retrieve(price.id, {"expand": ["tiers"]})
    assert [dict(t) for t in expanded.tiers] == [
        {
            "flat_amount": None,
            "flat_amount_decimal": None,
            "unit_amount": 0,
            "unit_amount_decimal": "0",
            "up_to": 1000,
        },
        {
            "flat_amount": None,
            "flat_amount_decimal": None,
            "unit_amount": None,
            "unit_amount_decimal": "0.25",
            "up_to": None,
        },
    ]
    listed = client.v1.prices.list({"expand": ["data.tiers", "data.product"]})
    assert listed.data[0].tiers[1].up_to is None
    assert listed.data[0].product.name == "API calls"


# ------------------------------------------------------------------------------ auth, accounts


def test_unknown_api_key_is_refused(fake: StripeFake) -> None:
    intruder = fake.client("sk_test_unknown_key_9999")
    with pytest.raises(stripe.AuthenticationError) as refused:
        intruder.v1.products.list()
    assert refused.value.http_status == 401
    assert str(refused.value.user_message) == "Invalid API Key provided: sk_test_************9999"


def test_connected_accounts_are_kept_apart(fake: StripeFake, client: stripe.StripeClient) -> None:
    connected = fake.add_connected_account(PLATFORM_KEY, email="seller@example.com")
    other_key = "sk_test_other_platform_0000"
    fake.add_platform_account(other_key)
    stranger = fake.add_connected_account(other_key)
    as_connected = {"stripe_account": connected}

    mine = client.v1.products.create({"name": "Platform product"})
    theirs = client.v1.products.create({"name": "Seller product"}, options=as_connected)

    assert [p.id for p in client.v1.products.list().data] == [mine.id]
    assert [p.id for p in client.v1.products.list(options=as_connected).data] == [theirs.id]
    with pytest.raises(stripe.InvalidRequestError) as invisible:
        client.v1.products.retrieve(theirs.id)
    assert invisible.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.products.retrieve(mine.id, options=as_connected)

    account = client.v1.accounts.retrieve(connected)
    assert (account.id, account.object, account.email) == (connected, "account", "seller@example.com")
    assert client.v1.accounts.retrieve_current(options=as_connected).id == connected

    with pytest.raises(stripe.PermissionError) as denied:
        client.v1.products.list(options={"stripe_account": stranger})
    assert denied.value.http_status == 403
    assert str(denied.value.user_message) == (
        f"The provided key '{_masked(PLATFORM_KEY)}' does not have access to account '{stranger}' "
        "(or that account does not exist). Application access may have been revoked."
    )
    with pytest.raises(stripe.PermissionError):
        client.v1.accounts.retrieve(stranger)
    assert fake.requests[-3].account == connected


def _masked(key: str) -> str:
    prefix, rest = key[:8], key[8:]
    return prefix + "*" * (len(rest) - 4) + rest[-4:]


def test_idempotent_requests_replay_and_refuse_changed_parameters(
    fake: StripeFake, client: stripe.StripeClient
) -> None:
    first = client.v1.customers.create({"email": "a@example.com"}, options={"idempotency_key": "create-a"})
    again = client.v1.customers.create({"email": "a@example.com"}, options={"idempotency_key": "create-a"})
    assert again.id == first.id
    assert [c.id for c in client.v1.customers.list().data] == [first.id]
    replays = [r for r in fake.requests if r.idempotency_key == "create-a"]
    assert [r.replayed for r in replays] == [False, True]

    with pytest.raises(stripe.IdempotencyError) as changed:
        client.v1.customers.create({"email": "b@example.com"}, options={"idempotency_key": "create-a"})
    assert changed.value.http_status == 400
    assert changed.value.json_body is not None
    assert changed.value.json_body["error"]["type"] == "idempotency_error"
    assert len(client.v1.customers.list().data) == 1

    # keys are scoped to the account: the same key inside a connected account is a new request
    connected = fake.add_connected_account(PLATFORM_KEY)
    other = client.v1.customers.create(
        {"email": "a@example.com"}, options={"idempotency_key": "create-a", "stripe_account": connected}
    )
    assert other.id != first.id


# ------------------------------------------------------------------------------ metering and invoices


def test_sub_cent_metered_usage_previews_exact_total(fake: StripeFake, client: stripe.StripeClient) -> None:
    meter = _meter(client)
    price = _metered_price(client, meter.id, unit_amount_decimal="0.04")
    assert (price.unit_amount, price.unit_amount_decimal) == (None, "0.04")
    customer = client.v1.customers.create({"email": "metered@example.com"})
    subscription = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], "expand": ["latest_invoice"]}
    )
    item = subscription["items"].data[0]
    assert subscription.status == "active" and item.id.startswith("si_") and item.quantity is None
    assert (
        item.current_period_start == subscription.start_date
        and item.current_period_end > item.current_period_start
    )
    assert subscription.latest_invoice.billing_reason == "subscription_create"
    assert subscription.latest_invoice.total == 0

    _stream(
        fake,
        client,
        [
            {"event_name": "api_call", "payload": {"stripe_customer_id": customer.id, "value": "1"}}
            for _ in range(2500)
        ],
    )
    preview = client.v1.invoices.create_preview({"customer": customer.id, "subscription": subscription.id})
    assert preview.object == "invoice" and preview.status == "draft"
    assert (preview.subtotal, preview.total, preview.amount_due) == (100, 100, 100)
    assert (preview.subtotal_excluding_tax, preview.total_excluding_tax) == (100, 100)
    assert (preview.amount_paid, preview.amount_remaining, preview.currency) == (0, 100, "usd")
    assert (preview.period_start, preview.period_end) == (item.current_period_start, item.current_period_end)
    [line] = preview.lines.data
    assert (line.amount, line.quantity) == (100, 2500)
    assert line.pricing.price_details.price == price.id
    assert line.pricing.unit_amount_decimal == "0.04"
    assert line.parent.subscription_item_details.subscription_item == item.id
    assert line.description == "2500 \u00d7 API calls (at $0.0004 / month)"  # Stripe's multiplication sign

    # one more unit is 0.04 cent: the line is rounded to whole cents
    client.v1.billing.meter_events.create(
        {"event_name": "api_call", "payload": {"stripe_customer_id": customer.id, "value": "13"}}
    )
    assert client.v1.invoices.create_preview({"subscription": subscription.id}).total == 101  # 100.52


def test_duplicate_meter_event_identifier_is_counted_once(
    fake: StripeFake, client: stripe.StripeClient
) -> None:
    meter = _meter(client)
    price = _metered_price(client, meter.id, unit_amount=10)
    customer = client.v1.customers.create({})
    subscription = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    event = {
        "event_name": "api_call",
        "payload": {"stripe_customer_id": customer.id, "value": "7"},
        "identifier": "req-0001",
    }
    created = client.v1.billing.meter_events.create(event)
    assert (created.object, created.identifier, dict(created.payload)) == (
        "billing.meter_event",
        "req-0001",
        {"stripe_customer_id": customer.id, "value": "7"},
    )
    with pytest.raises(stripe.InvalidRequestError) as duplicate:
        client.v1.billing.meter_events.create(event)
    assert duplicate.value.http_status == 400
    assert str(duplicate.value.user_message) == "An event already exists with identifier req-0001."
    # the stream validates asynchronously: a duplicate there is accepted and dropped
    _stream(fake, client, [{**event, "payload": {"stripe_customer_id": customer.id, "value": "7"}}])

    preview = client.v1.invoices.create_preview({"subscription": subscription.id})
    assert [(line.quantity, line.amount) for line in preview.lines.data] == [(7, 70)]


def test_meter_event_validation(fake: StripeFake, client: stripe.StripeClient) -> None:
    meter = _meter(client)
    customer = client.v1.customers.create({})

    def refused(payload: dict[str, str], **extra: Any) -> stripe.InvalidRequestError:
        with pytest.raises(stripe.InvalidRequestError) as error:
            client.v1.billing.meter_events.create({"event_name": "api_call", "payload": payload, **extra})
        return error.value

    assert (
        refused({"stripe_customer_id": "cus_nobody", "value": "1"}).code == "meter_event_customer_not_found"
    )
    assert refused({"value": "1"}).code == "meter_event_no_customer_defined"
    assert refused({"stripe_customer_id": customer.id, "value": "1.5"}).code == "meter_event_invalid_value"
    assert refused({"stripe_customer_id": customer.id, "value": "-1"}).code == "meter_event_invalid_value"
    now = fake.now()
    old = refused({"stripe_customer_id": customer.id, "value": "1"}, timestamp=now - 36 * 86400)
    assert old.code == "timestamp_too_far_in_past"
    future = refused({"stripe_customer_id": customer.id, "value": "1"}, timestamp=now + 600)
    assert future.code == "timestamp_in_future"
    with pytest.raises(stripe.InvalidRequestError) as no_meter:
        client.v1.billing.meter_events.create(
            {"event_name": "nothing", "payload": {"stripe_customer_id": customer.id, "value": "1"}}
        )
    assert no_meter.value.code == "no_meter"
    client.v1.billing.meters.deactivate(meter.id)
    assert refused({"stripe_customer_id": customer.id, "value": "1"}).code == "archived_meter"

    # a meter's own customer mapping key is honoured, and stream errors are reported, not answered
    mapped = _meter(
        client,
        "tokens",
        customer_mapping={"event_payload_key": "account", "type": "by_id"},
        value_settings={"event_payload_key": "tokens"},
    )
    client.v1.billing.meter_events.create(
        {"event_name": "tokens", "payload": {"account": customer.id, "tokens": "40"}}
    )
    _stream(fake, client, [{"event_name": "tokens", "payload": {"account": "cus_ghost", "tokens": "1"}}])
    [error] = fake.meter_event_errors(client.v1.accounts.retrieve_current().id)
    assert error["code"] == "meter_event_customer_not_found"
    start = fake.now() // 60 * 60
    summaries = client.v1.billing.meters.event_summaries.list(
        mapped.id, {"customer": customer.id, "start_time": start - 3600, "end_time": start + 3600}
    )
    assert [s.aggregated_value for s in summaries.data] == [40]


def test_tiered_prices_preview(client: stripe.StripeClient) -> None:
    meter = _meter(client)
    graduated = _metered_price(
        client,
        meter.id,
        billing_scheme="tiered",
        tiers_mode="graduated",
        tiers=[
            {"up_to": 1000, "unit_amount": 0, "flat_amount": 500},
            {"up_to": 5000, "unit_amount_decimal": "0.5"},
            {"up_to": "inf", "unit_amount_decimal": "0.25"},
        ],
    )
    customer = client.v1.customers.create({})
    subscription = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": graduated.id}]}
    )
    client.v1.billing.meter_events.create(
        {"event_name": "api_call", "payload": {"stripe_customer_id": customer.id, "value": "6001"}}
    )
    preview = client.v1.invoices.create_preview({"subscription": subscription.id})
    # 500 flat for the first 1000, 4000 at 0.5 = 2000, 1001 at 0.25 = 250.25 -> 250
    assert [(line.quantity, line.amount) for line in preview.lines.data] == [
        (1000, 500),
        (4000, 2000),
        (1001, 250),
    ]
    assert preview.total == 2750

    volume_meter = _meter(client, "volume_calls")
    volume = _metered_price(
        client,
        volume_meter.id,
        billing_scheme="tiered",
        tiers_mode="volume",
        tiers=[{"up_to": 100, "unit_amount": 10}, {"up_to": "inf", "unit_amount": 5, "flat_amount": 100}],
    )
    other = client.v1.customers.create({})
    second = client.v1.subscriptions.create({"customer": other.id, "items": [{"price": volume.id}]})
    client.v1.billing.meter_events.create(
        {"event_name": "volume_calls", "payload": {"stripe_customer_id": other.id, "value": "150"}}
    )
    [line] = client.v1.invoices.create_preview({"subscription": second.id}).lines.data
    assert (line.quantity, line.amount) == (
        150,
        850,
    )  # every unit at the tier 150 falls in, plus its flat fee


def test_quantity_is_refused_for_metered_items(client: stripe.StripeClient) -> None:
    meter = _meter(client)
    price = _metered_price(client, meter.id, unit_amount=1)
    customer = client.v1.customers.create({})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.subscriptions.create(
            {"customer": customer.id, "items": [{"price": price.id, "quantity": 3}]}
        )
    assert refused.value.param == "items[0][quantity]"
    assert "Quantity should not be specified where usage_type is `metered`" in str(refused.value)
    assert client.v1.subscriptions.list({"customer": customer.id}).data == []


def test_cancel_with_invoice_now_bills_usage_so_far(client: stripe.StripeClient) -> None:
    meter = _meter(client)
    metered = _metered_price(client, meter.id, unit_amount=3)
    seats = client.v1.prices.create(
        {
            "currency": "usd",
            "product_data": {"name": "Seats"},
            "unit_amount": 1000,
            "recurring": {"interval": "month"},
        }
    )
    customer = client.v1.customers.create({"email": "cancel@example.com"})
    subscription = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": metered.id}, {"price": seats.id, "quantity": 2}]}
    )
    first_invoice = client.v1.invoices.retrieve(subscription.latest_invoice)
    assert (first_invoice.total, first_invoice.status) == (2000, "paid")  # seats billed in advance
    client.v1.billing.meter_events.create(
        {"event_name": "api_call", "payload": {"stripe_customer_id": customer.id, "value": "42"}}
    )

    canceled = client.v1.subscriptions.cancel(subscription.id, {"invoice_now": True})
    assert canceled.status == "canceled"
    assert canceled.canceled_at is not None and canceled.ended_at is not None
    assert canceled.cancellation_details.reason == "cancellation_requested"
    assert canceled.latest_invoice != first_invoice.id
    final = client.v1.invoices.retrieve(canceled.latest_invoice)
    assert final.id.startswith("in_") and final.customer == customer.id
    assert [(line.quantity, line.amount) for line in final.lines.data] == [(42, 126)]
    assert final.total == 126 and final.status == "paid"
    invoices = client.v1.invoices.list({"subscription": subscription.id})
    assert [i.id for i in invoices.data] == [final.id, first_invoice.id]
    assert client.v1.subscriptions.list({"customer": customer.id}).data == []
    assert [s.id for s in client.v1.subscriptions.list({"status": "canceled"}).data] == [subscription.id]
    with pytest.raises(stripe.InvalidRequestError) as none:
        client.v1.invoices.create_preview({"subscription": subscription.id})
    assert none.value.code == "invoice_upcoming_none"


def test_renewal_creates_cycle_invoice_and_finalizes_after_an_hour(
    fake: StripeFake, client: stripe.StripeClient
) -> None:
    fake.set_time(1_767_225_600)  # 2026-01-01T00:00:00Z
    meter = _meter(client)
    metered = _metered_price(client, meter.id, unit_amount=2)
    seats = client.v1.prices.create(
        {
            "currency": "usd",
            "product_data": {"name": "Seats"},
            "unit_amount": 500,
            "recurring": {"interval": "month"},
        }
    )
    customer = client.v1.customers.create({})
    subscription = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": metered.id}, {"price": seats.id}]}
    )
    assert subscription["items"].data[0].current_period_end == 1_769_904_000  # 2026-02-01
    client.v1.billing.meter_events.create(
        {"event_name": "api_call", "payload": {"stripe_customer_id": customer.id, "value": "10"}}
    )
    fake.advance_time(31 * 86400 + 60)  # just past the period end
    # a late event for the ended period still lands on the draft (one-hour grace period)
    client.v1.billing.meter_events.create(
        {
            "event_name": "api_call",
            "payload": {"stripe_customer_id": customer.id, "value": "5"},
            "timestamp": 1_769_904_000 - 10,
        }
    )
    renewed = client.v1.subscriptions.retrieve(subscription.id)
    assert renewed["items"].data[0].current_period_start == 1_769_904_000
    cycle = client.v1.invoices.retrieve(renewed.latest_invoice)
    assert (cycle.billing_reason, cycle.status) == ("subscription_cycle", "draft")
    assert (cycle.period_start, cycle.period_end) == (1_767_225_600, 1_769_904_000)
    assert sorted((line.amount, line.period.start) for line in cycle.lines.data) == [
        (30, 1_767_225_600),  # 15 calls at 2 in January
        (500, 1_769_904_000),  # February's seat, in advance
    ]
    fake.advance_time(3600)
    finalized = client.v1.invoices.retrieve(cycle.id)
    assert finalized.status == "paid" and finalized.number is not None and finalized.total == 530


def test_customers_search_and_delete(client: stripe.StripeClient) -> None:
    alice = client.v1.customers.create({"email": "alice@example.com", "metadata": {"tenant": "t1"}})
    bob = client.v1.customers.create({"email": "bob@example.com", "metadata": {"tenant": "t2"}})
    found = client.v1.customers.search({"query": "email:'alice@example.com'"})
    assert found.object == "search_result" and [c.id for c in found.data] == [alice.id]
    by_meta = client.v1.customers.search({"query": "metadata['tenant']:'t2'"})
    assert [c.id for c in by_meta.data] == [bob.id]
    either = client.v1.customers.search({"query": "metadata['tenant']:'t1' OR email:'bob@example.com'"})
    assert {c.id for c in either.data} == {alice.id, bob.id}
    assert [c.id for c in client.v1.customers.list({"email": "bob@example.com"}).data] == [bob.id]

    updated = client.v1.customers.update(
        bob.id, {"name": "Bob", "invoice_settings": {"default_payment_method": "pm_1"}}
    )
    assert (updated.name, updated.invoice_settings.default_payment_method) == ("Bob", "pm_1")

    deleted = client.v1.customers.delete(bob.id)
    assert dict(deleted) == {"id": bob.id, "object": "customer", "deleted": True}
    assert client.v1.customers.retrieve(bob.id).deleted is True
    assert [c.id for c in client.v1.customers.list().data] == [alice.id]


# ------------------------------------------------------------------------------ faults, sessions, webhooks


def test_injected_rate_limit_surfaces_as_rate_limit_error(
    fake: StripeFake, client: stripe.StripeClient
) -> None:
    fake.fail_next(1, status=429, path_prefix="/v1/customers")
    with pytest.raises(stripe.RateLimitError) as limited:
        client.v1.customers.create({"email": "x@example.com"})
    assert limited.value.http_status == 429
    assert limited.value.json_body is not None
    assert limited.value.json_body["error"]["code"] == "rate_limit"
    assert client.v1.customers.list().data == []  # the refused request changed nothing
    assert client.v1.customers.create({"email": "x@example.com"}).email == "x@example.com"

    fake.fail_next(2, status=503)
    with pytest.raises(stripe.APIError) as unavailable:
        client.v1.products.list()
    assert unavailable.value.http_status == 503
    retrying = fake.client(PLATFORM_KEY, max_network_retries=1)
    assert retrying.v1.products.list().data == []  # the SDK retried the second 503
    assert [r.status for r in fake.requests[-3:]] == [503, 503, 200]


def test_an_applied_fault_does_the_work_and_loses_the_answer(
    fake: StripeFake, client: stripe.StripeClient
) -> None:
    fake.fail_next(1, status=503, path_prefix="/v1/customers", method="POST", applied=True)
    with pytest.raises(stripe.APIError):
        client.v1.customers.create({"email": "lost@example.com"}, {"idempotency_key": "k1"})
    (made,) = client.v1.customers.list().data  # Stripe made it; the client never heard
    assert made.email == "lost@example.com"
    again = client.v1.customers.create({"email": "lost@example.com"}, {"idempotency_key": "k1"})
    assert again.id == made.id and fake.requests[-1].replayed  # the retry gets the stored answer


def test_dunning_statuses_can_be_set_on_a_subscription(fake: StripeFake, client: stripe.StripeClient) -> None:
    account = client.v1.accounts.retrieve_current().id
    meter = _meter(client)
    price = _metered_price(client, meter.id, unit_amount=1)
    customer = client.v1.customers.create({})
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    fake.set_subscription_status(account, sub.id, "past_due")
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    assert [s.id for s in client.v1.subscriptions.list({"status": "past_due"}).data] == [sub.id]
    fake.set_subscription_status(account, sub.id, "active")
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    with pytest.raises(ValueError, match="status"):
        fake.set_subscription_status(account, sub.id, "incomplete")
    client.v1.subscriptions.cancel(sub.id)
    with pytest.raises(ValueError, match="canceled"):
        fake.set_subscription_status(account, sub.id, "unpaid")


def test_meter_event_session_tokens(fake: StripeFake, client: stripe.StripeClient) -> None:
    _meter(client)
    customer = client.v1.customers.create({})
    session = client.v2.billing.meter_event_session.create()
    assert session.object == "v2.billing.meter_event_session"
    stream = stripe.StripeClient(
        session.authentication_token, base_addresses=fake.base_addresses, max_network_retries=0
    )
    event = {"event_name": "api_call", "payload": {"stripe_customer_id": customer.id, "value": "1"}}
    stream.v2.billing.meter_event_stream.create({"events": [event]})
    with pytest.raises(stripe.AuthenticationError):
        client.v2.billing.meter_event_stream.create({"events": [event]})  # an API key is not a session
    with pytest.raises(stripe.InvalidRequestError):
        stream.v2.billing.meter_event_stream.create({"events": [event] * 101})
    fake.advance_time(16 * 60)
    with pytest.raises(stripe.TemporarySessionExpiredError):
        stream.v2.billing.meter_event_stream.create({"events": [event]})
    request = next(r for r in fake.requests if r.path == "/v2/billing/meter_event_stream")
    assert request.params == {"events": [event]}


def test_webhook_signature_verifies_with_the_sdk(fake: StripeFake, client: stripe.StripeClient) -> None:
    connected = fake.add_connected_account(PLATFORM_KEY)
    invoice_like = {"id": "in_123", "object": "invoice", "total": 100}
    payload, header = fake.signed_event("invoice.paid", invoice_like, "whsec_test_secret", account=connected)
    event = stripe.Webhook.construct_event(payload, header, "whsec_test_secret")
    assert event.type == "invoice.paid" and event.id.startswith("evt_")
    assert event.account == connected and event.data.object.total == 100
    assert json.loads(payload)["api_version"] == stripe.api_version
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_wrong_secret")
    stale_payload, stale_header = fake.signed_event(
        "invoice.paid", invoice_like, "whsec_test_secret", timestamp=fake.now() - 3600
    )
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(stale_payload, stale_header, "whsec_test_secret")  # outside tolerance
    product = client.v1.products.create({"name": "Webhook product"})
    payload, header = fake.signed_event("product.created", product, "whsec_test_secret")
    assert stripe.Webhook.construct_event(payload, header, "whsec_test_secret").data.object.id == product.id
