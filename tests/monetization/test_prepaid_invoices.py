"""A prepaid subscription through the ledger engine: the wallet pays each call exactly, the
invoice states the charges and that the wallet paid them, and the entries add up to the balance."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select

from tests.monetization.world import World
from tollway.models import WalletEntry
from tollway.wallets import entries
from tollway.wallets.settlement import settle_all


def test_a_prepaid_period_is_paid_from_the_wallet_and_its_invoice_nets_to_zero(world: World) -> None:
    world.policy("Prepaid", price=None, tiers=[(100, "0.01"), (None, "0.001")], included=10, mode="PREPAID")
    api = world.api("Maps", policies=["Prepaid"])
    world.monetize(api)
    sub = world.subscribe(world.app(), api, tier="Prepaid")
    with world.tx() as session:
        wallet = entries.wallet_for(session, world.tenant_id, world.subscriber_id, "USD")
        entries.append(session, wallet, "grant", Decimal(5), reason="welcome", actor="admin")
    # Three batches, settled after each: tiers and included calls come out as one pricing of 150.
    for batch in (40, 70, 40):
        world.calls(sub, batch)
        settle_all(world.runtime.session_factory, datetime.now(UTC))
    settle_all(world.runtime.session_factory, datetime.now(UTC))  # nothing new: nothing written
    with world.tx() as session:
        rows = session.scalars(
            select(WalletEntry).where(WalletEntry.wallet_id == wallet.id).order_by(WalletEntry.sequence)
        ).all()
        balance = entries.balance_of(session, wallet.id)
    consumed = [e for e in rows if e.kind == "consumption"]
    assert [e.calls_through for e in consumed] == [40, 110, 150]
    # calls 11-100 at 0.01 (0.90), 101-150 at 0.001 (0.05): 0.95 in all.
    assert sum(e.amount for e in consumed) == Decimal("-0.95")
    assert sum(e.amount for e in rows) == balance == Decimal("4.05")
    assert [e.balance_after for e in rows] == [Decimal(5), Decimal("4.70"), Decimal("4.09"), Decimal("4.05")]

    world.publish()
    invoice = world.invoice(sub)
    lines = [(line.description, line.amount) for line in invoice.lines]
    assert lines[-1] == ("Paid from prepaid wallet", Decimal("-0.95"))
    assert sum(amount for _, amount in lines[:-1]) == Decimal("0.95")
    assert invoice.total == Decimal("0.00")
