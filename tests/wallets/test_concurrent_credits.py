"""Credits racing for one wallet over real HTTP: the database puts them in order, none is lost.

Each request runs on its own thread with its own connection against the live server, all released
together, so the server works on them at once (one transaction each). The first of them creates
the wallet; the balance is the exact sum and the sequence numbers have no gap.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import httpx
import pytest

from tests.support.identity import Caller
from tests.support.rest import ADMIN, STORE, expect
from tests.support.servers import ServerThread
from tollway.runtime import Runtime

PARALLEL = 20
CREDITS = f"{ADMIN}/wallets/credits"

Call = Callable[[httpx.Client], httpx.Response]


def at_once(server: ServerThread, calls: list[Call]) -> list[httpx.Response]:
    barrier = threading.Barrier(len(calls))

    def run(call: Call) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            expect(client.get("/health"), 200)  # the connection is open before the race starts
            barrier.wait(timeout=30)
            return call(client)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def grant(admin: Caller, reference: str | None = None) -> Call:
    body = {"owner": "dev", "currency": "USD", "amount": "0.01", "reason": "race"}
    if reference is not None:
        body["reference"] = reference
    return lambda client: client.post(CREDITS, headers=admin.headers, json=body)


def test_parallel_credits_all_count(
    live_server: ServerThread,
    http: httpx.Client,
    admin: Caller,
    subscriber: Caller,
    runtime: Runtime,
    request: pytest.FixtureRequest,
) -> None:
    responses = at_once(live_server, [grant(admin) for _ in range(PARALLEL)])

    assert [r.status_code for r in responses] == [201] * PARALLEL, [r.text for r in responses]
    assert len({r.json()["walletId"] for r in responses}) == 1
    wallet = expect(http.get(f"{STORE}/wallets/USD", headers=subscriber.headers), 200)
    assert Decimal(wallet["balance"]) == Decimal("0.20") and wallet["balance"] == "0.20"
    assert wallet["entryCount"] == PARALLEL
    page = expect(
        http.get(f"{STORE}/wallets/USD/entries", headers=subscriber.headers, params={"limit": 100}), 200
    )
    entries = sorted(page["list"], key=lambda e: e["sequence"])
    assert [e["sequence"] for e in entries] == list(range(1, PARALLEL + 1))
    assert [Decimal(e["balanceAfter"]) for e in entries] == [
        Decimal("0.01") * n for n in range(1, PARALLEL + 1)
    ]


def test_parallel_retries_of_one_reference_credit_once(
    live_server: ServerThread,
    http: httpx.Client,
    admin: Caller,
    subscriber: Caller,
    runtime: Runtime,
    request: pytest.FixtureRequest,
) -> None:
    responses = at_once(live_server, [grant(admin, reference="once") for _ in range(8)])

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 7 + [201], [r.text for r in responses]
    assert len({r.json()["entryId"] for r in responses}) == 1
    wallet = expect(http.get(f"{STORE}/wallets/USD", headers=subscriber.headers), 200)
    assert (wallet["balance"], wallet["entryCount"]) == ("0.01", 1)
