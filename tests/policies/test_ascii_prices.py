"""Money fields of a business plan take ASCII decimal digits only.

``Decimal("\\u0661\\u0662")`` and ``int("\\uff11\\uff12")`` are 12: Python reads the digits of
every script. A price (or a count of free requests) written in other digits is refused with a
400 naming the field, and nothing is stored, neither by POST nor by PUT.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.support.identity import Caller
from tests.support.rest import POLICIES, commercial_plan, expect
from tollway.models import SubscriptionPolicy
from tollway.runtime import Runtime

PER_REQUEST = "monetization.properties.pricePerRequest"
NON_ASCII_NUMBERS = [
    "\u0661\u0662",  # ARABIC-INDIC DIGIT ONE, TWO: the example
    "\uff11\uff12",  # FULLWIDTH DIGIT ONE, TWO: the example
    "1\uff12",  # one ASCII digit is not enough
    "0.\u0966\u096b",  # DEVANAGARI DIGIT ZERO, FIVE
    "\u06f1\u06f2",  # EXTENDED ARABIC-INDIC DIGIT ONE, TWO
    "\U0001d7cf\U0001d7d0",  # MATHEMATICAL BOLD DIGIT ONE, TWO
]


def dynamic(price: str) -> dict[str, Any]:
    return commercial_plan("Foreign", price=price)


def fixed(price: str) -> dict[str, Any]:
    return commercial_plan(
        "Foreign",
        monetization={
            "monetizationPlan": "FixedRate",
            "properties": {"fixedPrice": price, "currencyType": "USD", "billingCycle": "month"},
        },
    )


def tiered(price: str) -> dict[str, Any]:
    return commercial_plan(
        "Foreign",
        monetization={
            "monetizationPlan": "DynamicRate",
            "properties": {"currencyType": "USD", "billingCycle": "month"},
            "tiers": [{"upTo": 10, "unitPrice": "0.1"}, {"upTo": None, "unitPrice": price}],
        },
    )


def included(count: str) -> dict[str, Any]:
    body = commercial_plan("Foreign")
    body["monetization"]["properties"]["includedRequests"] = count
    return body


def stored_plans(runtime: Runtime) -> int:
    with runtime.session_factory() as session:
        return int(session.scalar(select(func.count()).select_from(SubscriptionPolicy)) or 0)


def refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == 400 and body["message"] == "Bad Request", body
    assert f"'{field}'" in body["description"], body


@pytest.mark.parametrize("text", NON_ASCII_NUMBERS)
@pytest.mark.parametrize(
    ("make", "field"),
    [
        (dynamic, PER_REQUEST),
        (fixed, "monetization.properties.fixedPrice"),
        (tiered, "monetization.tiers[1].unitPrice"),
        (included, "monetization.properties.includedRequests"),
    ],
    ids=["pricePerRequest", "fixedPrice", "unitPrice", "includedRequests"],
)
def test_a_new_plan_with_non_ascii_digits_is_refused_and_not_stored(
    http: httpx.Client, admin: Caller, runtime: Runtime, make: Any, field: str, text: str
) -> None:
    before = stored_plans(runtime)
    refused(http.post(POLICIES, headers=admin.headers, json=make(text)), field)
    assert stored_plans(runtime) == before
    names = [p["policyName"] for p in expect(http.get(POLICIES, headers=admin.headers), 200)["list"]]
    assert "Foreign" not in names


@pytest.mark.parametrize("text", NON_ASCII_NUMBERS[:2])
def test_an_update_with_non_ascii_digits_is_refused_and_changes_nothing(
    http: httpx.Client, admin: Caller, text: str
) -> None:
    plan = expect(http.post(POLICIES, headers=admin.headers, json=dynamic("0.5")), 201)
    changed = dict(plan)
    changed["monetization"] = dynamic(text)["monetization"]
    refused(http.put(f"{POLICIES}/{plan['policyId']}", headers=admin.headers, json=changed), PER_REQUEST)
    again = expect(http.get(f"{POLICIES}/{plan['policyId']}", headers=admin.headers), 200)
    assert again["monetization"]["properties"]["pricePerRequest"] == "0.5"


def test_ascii_decimal_prices_are_still_accepted(http: httpx.Client, admin: Caller) -> None:
    plan = expect(http.post(POLICIES, headers=admin.headers, json=dynamic(" 12.50 ")), 201)
    assert plan["monetization"]["properties"]["pricePerRequest"] == "12.5"
    body = included("1000")
    body["policyName"] = "Included"
    plan = expect(http.post(POLICIES, headers=admin.headers, json=body), 201)
    assert plan["monetization"]["properties"]["includedRequests"] == 1000
