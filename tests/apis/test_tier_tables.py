"""Tiered prices in the store REST API: every band, exact, with included requests and flat amounts."""

from __future__ import annotations

from typing import Any

import httpx

from tests.apis.test_catalog import api_in_state
from tests.support.identity import Caller
from tests.support.rest import POLICIES, STORE, commercial_plan, expect, monetize

BOTH = (
    "'monetization.properties.pricePerRequest' and 'monetization.tiers': "
    "give a price per request or tiers, not both"
)


def graduated_plan() -> dict[str, Any]:
    body = commercial_plan("Graduated")
    body["monetization"] = {
        "monetizationPlan": "DynamicRate",
        "properties": {"currencyType": "USD", "billingCycle": "month", "includedRequests": "500"},
        "tiers": [
            {"upTo": 1000, "unitPrice": "0.0010"},
            {"upTo": 10000, "unitPrice": "0.0008", "flatAmount": "5.00"},
            {"upTo": None, "unitPrice": "0.000125"},
        ],
        "tierMode": "graduated",
    }
    return body


def volume_plan() -> dict[str, Any]:
    body = commercial_plan("Volume")
    body["monetization"] = {
        "monetizationPlan": "DynamicRate",
        "properties": {"currencyType": "KWD", "billingCycle": "week"},
        "tiers": [
            {"upTo": 100, "unitPrice": "0.5", "flatAmount": "0"},
            {"upTo": None, "unitPrice": "0.25", "flatAmount": "1.125"},
        ],
        "tierMode": "volume",
    }
    return body


GRADUATED_ATTRIBUTES = {
    "fixedPrice": None,
    "pricePerRequest": None,
    "currencyType": "USD",
    "billingCycle": "month",
    "includedRequests": 500,
    "tiers": [
        {"upTo": 1000, "unitPrice": "0.001", "flatAmount": "0"},
        {"upTo": 10000, "unitPrice": "0.0008", "flatAmount": "5"},
        {"upTo": None, "unitPrice": "0.000125", "flatAmount": "0"},
    ],
    "tierMode": "graduated",
}
VOLUME_ATTRIBUTES = {
    "fixedPrice": None,
    "pricePerRequest": None,
    "currencyType": "KWD",
    "billingCycle": "week",
    "includedRequests": 0,
    "tiers": [
        {"upTo": 100, "unitPrice": "0.5", "flatAmount": "0"},
        {"upTo": None, "unitPrice": "0.25", "flatAmount": "1.125"},
    ],
    "tierMode": "volume",
}


def test_the_store_shows_every_band_of_graduated_and_volume_plans(
    http: httpx.Client, admin: Caller, publisher: Caller
) -> None:
    expect(http.post(POLICIES, headers=admin.headers, json=graduated_plan()), 201)
    expect(http.post(POLICIES, headers=admin.headers, json=volume_plan()), 201)
    api_id = api_in_state(http, publisher, "Bands", "Publish", policies=["Graduated", "Volume"])
    monetize(http, publisher, api_id)
    expected = [
        {"tierName": "Graduated", "tierPlan": "COMMERCIAL", "monetizationAttributes": GRADUATED_ATTRIBUTES},
        {"tierName": "Volume", "tierPlan": "COMMERCIAL", "monetizationAttributes": VOLUME_ATTRIBUTES},
    ]
    assert expect(http.get(f"{STORE}/apis/{api_id}"), 200)["tiers"] == expected
    (listed,) = expect(http.get(f"{STORE}/apis"), 200)["list"]
    assert listed["tiers"] == expected
    # Exact decimal strings, never JSON numbers.
    assert '"unitPrice":"0.000125"' in http.get(f"{STORE}/apis/{api_id}").text


def test_flat_amounts_survive_a_get_put_round_trip(http: httpx.Client, admin: Caller) -> None:
    plan = expect(http.post(POLICIES, headers=admin.headers, json=graduated_plan()), 201)
    assert plan["monetization"]["tiers"][1] == {"upTo": 10000, "unitPrice": "0.0008", "flatAmount": "5"}
    fetched = expect(http.get(f"{POLICIES}/{plan['policyId']}", headers=admin.headers), 200)
    fetched["description"] = "same prices"
    updated = expect(http.put(f"{POLICIES}/{plan['policyId']}", headers=admin.headers, json=fetched), 200)
    assert updated["monetization"]["tiers"] == plan["monetization"]["tiers"]


def test_a_bad_flat_amount_is_refused_naming_the_field(http: httpx.Client, admin: Caller) -> None:
    body = volume_plan()
    body["monetization"]["tiers"][1]["flatAmount"] = "-1"
    answer = expect(http.post(POLICIES, headers=admin.headers, json=body), 400)
    assert "'monetization.tiers[1].flatAmount'" in answer["description"], answer


def test_price_per_request_and_tiers_together_is_one_400_naming_both(
    http: httpx.Client, admin: Caller
) -> None:
    body = graduated_plan()
    body["monetization"]["properties"]["pricePerRequest"] = "0.001"
    answer = expect(http.post(POLICIES, headers=admin.headers, json=body), 400)
    assert answer["description"] == BOTH, answer
    names = [p["policyName"] for p in expect(http.get(POLICIES, headers=admin.headers), 200)["list"]]
    assert "Graduated" not in names

    plan = expect(http.post(POLICIES, headers=admin.headers, json=commercial_plan("Metered")), 201)
    plan["monetization"]["tiers"] = [{"upTo": 10, "unitPrice": "0.1"}, {"upTo": None, "unitPrice": "0.01"}]
    answer = expect(http.put(f"{POLICIES}/{plan['policyId']}", headers=admin.headers, json=plan), 400)
    assert answer["description"] == BOTH, answer
