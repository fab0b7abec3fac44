"""Wallets over real HTTP: credits by admins and publishers, the subscriber's own view, bad input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.support.identity import Caller, OrmIdentity
from tests.support.rest import ADMIN, PUBLISHER, STORE, config_version, expect
from tollway.identity.roles import ROLE_ADMIN, ROLE_PUBLISHER, ROLE_SUBSCRIBER
from tollway.models import Wallet, WalletEntry
from tollway.runtime import Runtime

WALLETS = f"{ADMIN}/wallets"
CREDITS = f"{WALLETS}/credits"
GRANTS = f"{PUBLISHER}/wallets/credits"
MINE = f"{STORE}/wallets"


def credit(owner: str = "dev", amount: str = "10", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"owner": owner, "currency": "USD", "amount": amount, "reason": "welcome"}
    body.update(changes)
    return body


def later(days: int = 30) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


def entry_count(runtime: Runtime) -> int:
    with runtime.session_factory() as session:
        return session.scalar(select(func.count()).select_from(WalletEntry)) or 0


def test_an_admin_grants_and_the_subscriber_sees_it(
    http: httpx.Client, admin: Caller, subscriber: Caller, runtime: Runtime
) -> None:
    before = config_version(runtime)
    expires = later()
    response = http.post(
        CREDITS,
        headers=admin.headers,
        json=credit(amount="25.5", kind="grant", expiresAt=expires, reference="welcome-1"),
    )
    entry = expect(response, 201)
    assert config_version(runtime) > before  # the gateway may admit more calls now
    wallet_id = entry["walletId"]
    assert response.headers["location"] == f"{WALLETS}/{wallet_id}"
    assert entry == {
        "entryId": entry["entryId"],
        "walletId": wallet_id,
        "sequence": 1,
        "kind": "GRANT",
        "amount": "25.50",
        "balanceAfter": "25.50",
        "reason": "welcome",
        "actor": "admin",
        "reference": "welcome-1",
        "expiresAt": entry["expiresAt"],
        "subscriptionId": None,
        "createdAt": entry["createdAt"],
        "creditLeft": "25.50",
    }
    assert datetime.fromisoformat(entry["expiresAt"]) == datetime.fromisoformat(expires)

    wallet = expect(http.get(f"{WALLETS}/{wallet_id}", headers=admin.headers), 200)
    assert wallet == {
        "walletId": wallet_id,
        "owner": "dev",
        "currency": "USD",
        "balance": "25.50",
        "entryCount": 1,
        "createdAt": wallet["createdAt"],
    }
    assert expect(http.get(MINE, headers=subscriber.headers), 200) == {"count": 1, "list": [wallet]}
    assert expect(http.get(f"{MINE}/usd", headers=subscriber.headers), 200) == wallet
    mine = expect(http.get(f"{MINE}/USD/entries", headers=subscriber.headers), 200)
    assert mine["count"] == 1 and mine["list"] == [entry]
    assert mine["pagination"]["total"] == 1


def test_top_ups_adjustments_and_entries_newest_first(
    http: httpx.Client, admin: Caller, subscriber: Caller, runtime: Runtime
) -> None:
    expect(http.post(CREDITS, headers=admin.headers, json=credit(amount="10", expiresAt=later())), 201)
    expect(http.post(CREDITS, headers=admin.headers, json=credit(amount="5", kind="TOP_UP")), 201)
    adjusted = expect(
        http.post(CREDITS, headers=admin.headers, json=credit(amount="-2.25", kind="ADJUSTMENT")), 201
    )
    assert (adjusted["amount"], adjusted["balanceAfter"], adjusted["creditLeft"]) == ("-2.25", "12.75", None)
    # Taking more than the wallet holds is refused, and nothing changes.
    count = entry_count(runtime)
    refused = http.post(CREDITS, headers=admin.headers, json=credit(amount="-100", kind="adjustment"))
    assert refused.status_code == 400 and "'amount'" in refused.json()["description"], refused.text
    assert entry_count(runtime) == count

    page = expect(http.get(f"{WALLETS}/{adjusted['walletId']}/entries", headers=admin.headers), 200)
    assert [(e["sequence"], e["kind"], e["amount"]) for e in page["list"]] == [
        (3, "ADJUSTMENT", "-2.25"),
        (2, "TOP_UP", "5.00"),
        (1, "GRANT", "10.00"),
    ]
    # The debit is taken from the credit that expires first.
    assert [e["creditLeft"] for e in page["list"]] == [None, "5.00", "7.75"]
    first = expect(
        http.get(f"{MINE}/USD/entries", headers=subscriber.headers, params={"limit": 2, "offset": 1}), 200
    )
    assert [e["sequence"] for e in first["list"]] == [2, 1]
    assert first["pagination"]["total"] == 3 and first["pagination"]["next"] == ""
    assert expect(http.get(MINE, headers=subscriber.headers), 200)["list"][0]["balance"] == "12.75"


def test_a_publisher_grants_but_records_nothing_else(
    http: httpx.Client, publisher: Caller, subscriber: Caller, runtime: Runtime
) -> None:
    entry = expect(http.post(GRANTS, headers=publisher.headers, json=credit(amount="0.25")), 201)
    assert (entry["kind"], entry["actor"], entry["amount"]) == ("GRANT", "pub", "0.25")
    for kind in ("TOP_UP", "ADJUSTMENT"):
        response = http.post(GRANTS, headers=publisher.headers, json=credit(kind=kind))
        assert response.status_code == 400 and "'kind'" in response.json()["description"], response.text
    negative = http.post(GRANTS, headers=publisher.headers, json=credit(amount="-1"))
    assert negative.status_code == 400 and "'amount'" in negative.json()["description"]
    assert entry_count(runtime) == 1
    # Publishers read no wallets; subscribers grant nothing.
    expect(http.get(WALLETS, headers=publisher.headers), 403)
    expect(http.post(GRANTS, headers=subscriber.headers, json=credit()), 403)
    expect(http.post(CREDITS, headers=publisher.headers, json=credit()), 403)


def test_a_reference_makes_a_credit_idempotent(
    http: httpx.Client, admin: Caller, identity: OrmIdentity, runtime: Runtime
) -> None:
    identity.user("dev", [ROLE_SUBSCRIBER])
    identity.user("eve", [ROLE_SUBSCRIBER])
    body = credit(amount="3", reference="order-42", expiresAt=later())
    first = expect(http.post(CREDITS, headers=admin.headers, json=body), 201)
    before = config_version(runtime)
    again = http.post(CREDITS, headers=admin.headers, json=body)
    assert again.status_code == 200, again.text
    assert again.json() == first
    assert config_version(runtime) == before  # nothing changed
    # Another publisher or admin sending the same key gets the same answer (it is the tenant's key).
    other_admin = identity.user("admin2", [ROLE_ADMIN])
    assert expect(http.post(CREDITS, headers=other_admin.headers, json=body), 200) == first
    for changed in (
        credit(amount="4", reference="order-42", expiresAt=body["expiresAt"]),
        credit(owner="eve", amount="3", reference="order-42", expiresAt=body["expiresAt"]),
        credit(amount="3", reference="order-42", currency="EUR", expiresAt=body["expiresAt"]),
        credit(amount="3", reference="order-42", kind="TOP_UP"),
    ):
        conflict = http.post(CREDITS, headers=admin.headers, json=changed)
        assert conflict.status_code == 409, conflict.text
        assert "'reference'" in conflict.json()["description"]
    assert entry_count(runtime) == 1
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Wallet)) == 1


def test_tenants_and_subscribers_are_kept_apart(
    http: httpx.Client, admin: Caller, subscriber: Caller, identity: OrmIdentity
) -> None:
    other_admin = identity.user("boss", [ROLE_ADMIN], tenant="acme.com")
    other_dev = identity.user("dev", [ROLE_SUBSCRIBER], tenant="acme.com")
    other_publisher = identity.user("pub", [ROLE_PUBLISHER], tenant="acme.com")
    neighbour = identity.user("sam", [ROLE_SUBSCRIBER])
    mine = expect(http.post(CREDITS, headers=admin.headers, json=credit(reference="same-key")), 201)
    # The same reference in another tenant is that tenant's own key.
    theirs = expect(
        http.post(CREDITS, headers=other_admin.headers, json=credit(amount="1", reference="same-key")), 201
    )
    assert theirs["walletId"] != mine["walletId"] and theirs["actor"] == "boss@acme.com"
    wallet = f"{WALLETS}/{mine['walletId']}"
    expect(http.get(wallet, headers=other_admin.headers), 404)
    expect(http.get(f"{wallet}/entries", headers=other_admin.headers), 404)
    listed = expect(http.get(WALLETS, headers=other_admin.headers), 200)
    assert [(w["owner"], w["balance"]) for w in listed["list"]] == [("dev@acme.com", "1.00")]
    # A subscriber sees their own wallet only, never a neighbour's or another tenant's namesake's.
    assert expect(http.get(f"{MINE}/USD", headers=other_dev.headers), 200)["balance"] == "1.00"
    assert expect(http.get(f"{MINE}/USD", headers=subscriber.headers), 200)["balance"] == "10.00"
    expect(http.get(f"{MINE}/USD", headers=neighbour.headers), 404)
    expect(http.get(f"{MINE}/USD/entries", headers=neighbour.headers), 404)
    assert expect(http.get(MINE, headers=neighbour.headers), 200) == {"count": 0, "list": []}
    # Credits name users of the caller's own tenant only.
    for owner in ("dev@carbon.super", "nobody"):
        refused = http.post(GRANTS, headers=other_publisher.headers, json=credit(owner=owner))
        assert refused.status_code == 400 and "'owner'" in refused.json()["description"], refused.text
    assert expect(http.post(GRANTS, headers=other_publisher.headers, json=credit(owner="dev@acme.com")), 201)


def test_the_admin_list_filters_and_pages(http: httpx.Client, admin: Caller, identity: OrmIdentity) -> None:
    for name in ("ann", "bob", "cat"):
        identity.user(name, [ROLE_SUBSCRIBER])
        for currency in ("USD", "EUR"):
            expect(http.post(CREDITS, headers=admin.headers, json=credit(owner=name, currency=currency)), 201)
    everything = expect(http.get(WALLETS, headers=admin.headers), 200)
    assert everything["count"] == 6 and everything["pagination"]["total"] == 6
    bobs = expect(http.get(WALLETS, headers=admin.headers, params={"owner": "bob"}), 200)
    assert sorted(w["currency"] for w in bobs["list"]) == ["EUR", "USD"]
    assert {w["owner"] for w in bobs["list"]} == {"bob"}
    euros = expect(http.get(WALLETS, headers=admin.headers, params={"currency": "eur", "limit": 2}), 200)
    assert euros["count"] == 2 and euros["pagination"]["total"] == 3
    assert "currency=EUR" in euros["pagination"]["next"]
    nobody = expect(http.get(WALLETS, headers=admin.headers, params={"owner": "nobody"}), 200)
    assert (nobody["count"], nobody["list"]) == (0, [])
    for params, field in (({"currency": "XYZ"}, "currency"), ({"currency": "dollars"}, "currency")):
        response = http.get(WALLETS, headers=admin.headers, params=params)
        assert response.status_code == 400 and field in response.json()["description"], response.text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (credit(amount="-1"), "amount"),
        (credit(amount="0"), "amount"),
        (credit(amount="0.000"), "amount"),
        (credit(amount="abc"), "amount"),
        (credit(amount="1e3"), "amount"),
        (credit(amount="1,5"), "amount"),
        (credit(amount=" 1"), "amount"),
        (credit(amount="\u0661"), "amount"),  # an Arabic-Indic 1
        (credit(amount="0.0000000000001"), "amount"),  # 13 places
        (credit(amount="1000000000000.01"), "amount"),  # above 10^12
        (credit(amount=1), "amount"),
        (credit(amount=0.25), "amount"),
        (credit(amount="NaN"), "amount"),
        (credit(amount="-0.5", kind="TOP_UP"), "amount"),
        (credit(currency="XYZ"), "currency"),
        (credit(currency="US"), "currency"),
        (credit(currency=None), "currency"),
        (credit(owner="nobody"), "owner"),
        (credit(owner="dev@elsewhere.com"), "owner"),
        (credit(owner=""), "owner"),
        (credit(reason=""), "reason"),
        (credit(reason="   "), "reason"),
        (credit(reason="x" * 501), "reason"),
        (credit(reason="two\nlines"), "reason"),
        ({"owner": "dev", "currency": "USD", "amount": "1"}, "reason"),
        (credit(kind="GIFT"), "kind"),
        (credit(kind="REFUND"), "kind"),
        (credit(expiresAt="2001-01-01T00:00:00Z"), "expiresAt"),
        (credit(expiresAt="2099-01-01T00:00:00"), "expiresAt"),  # no time zone
        (credit(expiresAt="tomorrow"), "expiresAt"),
        (credit(expiresAt=4102444800), "expiresAt"),
        (credit(expiresAt="9999-12-31T23:59:59-14:00"), "expiresAt"),
        (credit(kind="TOP_UP", expiresAt=later()), "expiresAt"),
        (credit(reference=""), "reference"),
        (credit(reference="has space"), "reference"),
        (credit(reference="r" * 129), "reference"),
        (credit(colour="red"), "colour"),
    ],
)
def test_bad_credits_are_refused_naming_the_field(
    http: httpx.Client, admin: Caller, subscriber: Caller, runtime: Runtime, body: dict[str, Any], field: str
) -> None:
    response = http.post(CREDITS, headers=admin.headers, json=body)
    assert response.status_code == 400, response.text
    assert field in response.json()["description"], response.json()
    assert entry_count(runtime) == 0
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Wallet)) == 0


def test_store_paths_check_the_currency(http: httpx.Client, admin: Caller, subscriber: Caller) -> None:
    expect(http.get(f"{MINE}/USD", headers=subscriber.headers), 404)  # no wallet yet
    for currency, status in (("XYZ", 400), ("US", 400), ("usdx", 400)):
        response = http.get(f"{MINE}/{currency}", headers=subscriber.headers)
        assert response.status_code == status, response.text
    expect(http.post(CREDITS, headers=admin.headers, json=credit(currency="JPY", amount="500")), 201)
    assert expect(http.get(f"{MINE}/jpy", headers=subscriber.headers), 200)["balance"] == "500"
    expect(http.get(f"{MINE}/USD", headers=subscriber.headers), 404)
    expect(http.get(MINE), 401)
    expect(http.get(f"{WALLETS}/no-such-wallet", headers=admin.headers), 404)


def test_amounts_keep_every_decimal_place(
    http: httpx.Client, admin: Caller, subscriber: Caller, runtime: Runtime
) -> None:
    entry = expect(http.post(CREDITS, headers=admin.headers, json=credit(amount="0.000000000001")), 201)
    assert entry["amount"] == "0.000000000001"
    expect(http.post(CREDITS, headers=admin.headers, json=credit(amount="1000000000000")), 201)
    wallet = expect(http.get(f"{WALLETS}/{entry['walletId']}", headers=admin.headers), 200)
    assert wallet["balance"] == "1000000000000.000000000001"
    with runtime.session_factory() as session:
        stored = session.scalars(select(WalletEntry.balance_after).order_by(WalletEntry.sequence)).all()
    assert stored == [Decimal("0.000000000001"), Decimal("1000000000000.000000000001")]


def test_the_documents_state_what_the_server_checks(http: httpx.Client) -> None:
    admin = expect(http.get(f"{ADMIN}/openapi.json"), 200)
    operation = admin["paths"]["/wallets/credits"]["post"]
    assert {"200", "201", "400", "401", "403", "404", "409"} <= set(operation["responses"])
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = admin["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    props = schema["properties"]
    assert props["amount"]["pattern"] == r"^-?[0-9]{1,13}(\.[0-9]{1,12})?$"
    assert props["currency"]["pattern"] == "^[A-Za-z]{3}$"
    assert props["kind"]["enum"] == ["GRANT", "TOP_UP", "ADJUSTMENT"]
    assert (props["reason"]["minLength"], props["reason"]["maxLength"]) == (1, 500)
    assert sorted(schema["required"]) == ["amount", "currency", "owner", "reason"]
    publisher = expect(http.get(f"{PUBLISHER}/openapi.json"), 200)
    grant = publisher["paths"]["/wallets/credits"]["post"]
    ref = grant["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    props = publisher["components"]["schemas"][ref.rsplit("/", 1)[-1]]["properties"]
    assert props["amount"]["pattern"] == r"^[0-9]{1,13}(\.[0-9]{1,12})?$"
    assert props["kind"]["enum"] == ["GRANT"]
    store = expect(http.get(f"{STORE}/openapi.json"), 200)
    mine = store["paths"]["/wallets/{currency}"]["get"]
    assert (
        next(p for p in mine["parameters"] if p["name"] == "currency")["schema"]["pattern"] == "^[A-Za-z]{3}$"
    )
    assert "apim:subscribe" in str(mine["security"])
