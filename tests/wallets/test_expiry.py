"""Expiring credits: what is left of a credit at its expiry leaves the wallet, once, as an entry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import select

from tests.support.identity import Caller
from tests.support.rest import ADMIN, STORE, config_version, expect
from tollway.db.session import transaction
from tollway.models import Wallet, WalletEntry
from tollway.runtime import Runtime
from tollway.wallets import entries
from tollway.wallets.service import expire_credits

NOW = datetime.now(UTC).replace(microsecond=0)


def wallet_of(runtime: Runtime, owner: Caller) -> str:
    with transaction(runtime.session_factory) as session:
        return entries.wallet_for(session, owner.tenant_id, owner.user_id, "USD").id


def append(
    runtime: Runtime, wallet_id: str, kind: str, amount: str, expires_at: datetime | None = None
) -> str:
    with transaction(runtime.session_factory) as session:
        wallet = session.get(Wallet, wallet_id)
        assert wallet is not None
        return entries.append(session, wallet, kind, Decimal(amount), expires_at=expires_at).id


def expire(runtime: Runtime, now: datetime) -> int:
    with transaction(runtime.session_factory) as session:
        return expire_credits(session, now)


def rows(runtime: Runtime, wallet_id: str) -> list[WalletEntry]:
    with runtime.session_factory() as session:
        return list(
            session.scalars(
                select(WalletEntry).where(WalletEntry.wallet_id == wallet_id).order_by(WalletEntry.sequence)
            )
        )


def test_what_is_left_of_an_expired_grant_expires(runtime: Runtime, subscriber: Caller) -> None:
    wallet_id = wallet_of(runtime, subscriber)
    expiring = append(runtime, wallet_id, "grant", "10", expires_at=NOW + timedelta(hours=1))
    append(runtime, wallet_id, "grant", "5")
    append(runtime, wallet_id, "consumption", "-3")  # taken from the grant that expires first

    assert expire(runtime, NOW + timedelta(minutes=59)) == 0  # not yet
    before = config_version(runtime)
    assert expire(runtime, NOW + timedelta(hours=2)) == 1
    assert config_version(runtime) > before  # the gateway may admit fewer calls now

    last = rows(runtime, wallet_id)[-1]
    assert (last.sequence, last.kind, last.amount, last.balance_after) == (
        4,
        "expiry",
        Decimal("-7"),
        Decimal("5"),
    )
    assert last.reference == f"expiry:{expiring}" and last.actor is None
    with runtime.session_factory() as session:
        assert entries.balance_of(session, wallet_id) == Decimal("5")
        lots = {lot.entry.id: lot.left for lot in entries.credit_lots(rows(runtime, wallet_id))}
    assert lots[expiring] == 0 and sum(lots.values()) == Decimal("5")
    # Once only.
    assert expire(runtime, NOW + timedelta(days=1)) == 0
    assert len(rows(runtime, wallet_id)) == 4


def test_a_used_up_credit_needs_no_expiry(runtime: Runtime, subscriber: Caller) -> None:
    wallet_id = wallet_of(runtime, subscriber)
    append(runtime, wallet_id, "grant", "2", expires_at=NOW + timedelta(hours=1))
    append(runtime, wallet_id, "consumption", "-2")
    append(runtime, wallet_id, "top_up", "4")
    assert expire(runtime, NOW + timedelta(hours=2)) == 0
    assert [e.kind for e in rows(runtime, wallet_id)] == ["grant", "consumption", "top_up"]


def test_each_wallet_and_credit_expires_on_its_own(
    runtime: Runtime, subscriber: Caller, admin: Caller
) -> None:
    mine, theirs = wallet_of(runtime, subscriber), wallet_of(runtime, admin)
    append(runtime, mine, "grant", "1.5", expires_at=NOW + timedelta(hours=1))
    append(runtime, mine, "grant", "2.25", expires_at=NOW + timedelta(hours=3))
    append(runtime, theirs, "grant", "0.000000000001", expires_at=NOW + timedelta(hours=1))
    assert expire(runtime, NOW + timedelta(hours=2)) == 2
    assert [e.amount for e in rows(runtime, mine)][-1] == Decimal("-1.5")
    assert rows(runtime, theirs)[-1].balance_after == 0
    assert expire(runtime, NOW + timedelta(hours=4)) == 1
    assert rows(runtime, mine)[-1].balance_after == 0


def test_expiry_shows_in_the_rest_api(
    http: httpx.Client, admin: Caller, subscriber: Caller, runtime: Runtime
) -> None:
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    body = {"owner": "dev", "currency": "USD", "amount": "10", "reason": "trial", "expiresAt": expires}
    grant = expect(http.post(f"{ADMIN}/wallets/credits", headers=admin.headers, json=body), 201)
    assert expire(runtime, datetime.now(UTC) + timedelta(hours=2)) == 1
    page = expect(http.get(f"{STORE}/wallets/USD/entries", headers=subscriber.headers), 200)
    expiry, granted = page["list"]
    assert (expiry["kind"], expiry["amount"], expiry["balanceAfter"]) == ("EXPIRY", "-10.00", "0.00")
    assert expiry["reference"] == f"expiry:{grant['entryId']}" and expiry["creditLeft"] is None
    assert (granted["entryId"], granted["creditLeft"]) == (grant["entryId"], "0.00")
