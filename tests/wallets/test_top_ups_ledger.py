"""The ledger engine takes no payments: buying credit says how to get it instead."""

from __future__ import annotations

import httpx

from tests.support.identity import Caller
from tests.support.rest import STORE


def test_the_ledger_engine_sends_subscribers_to_the_provider_for_credit(
    http: httpx.Client, subscriber: Caller
) -> None:
    answer = http.post(f"{STORE}/wallets/USD/top-ups", headers=subscriber.headers, json={"amount": "10"})
    assert answer.status_code == 400
    description = answer.json()["description"]
    assert "ledger" in description and "takes no payments" in description and "admin" in description
