"""Appending to a wallet, and what is left of each credit (for expiry).

Every change of a balance is one appended :class:`WalletEntry`; nothing is updated or deleted.
``append`` locks the wallet row (``SELECT ... FOR UPDATE``; SQLite has one writer anyway), reads
the last entry and writes the next sequence number with the running balance, so concurrent
appends serialize and the balance is the last entry's ``balance_after``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tollway.db.integrity import flush_or_conflict
from tollway.errors import BadRequest
from tollway.models import Wallet, WalletEntry
from tollway.models.changes import mark_gateway_config_changed

CREDIT_KINDS = frozenset({"top_up", "grant", "refund", "adjustment"})
DEBIT_KINDS = frozenset({"consumption", "fee", "expiry", "adjustment"})
ZERO = Decimal(0)


def find_wallet(
    session: Session, tenant_id: str, owner_id: str, currency: str, *, latest: bool = False
) -> Wallet | None:
    """``latest``: a locking read, which sees rows committed since the transaction's first read
    (MariaDB's REPEATABLE READ answers plain reads from that first read's snapshot)."""
    stmt = select(Wallet).where(
        Wallet.tenant_id == tenant_id, Wallet.owner_id == owner_id, Wallet.currency == currency
    )
    return session.scalar(stmt.with_for_update() if latest else stmt)


def wallet_for(session: Session, tenant_id: str, owner_id: str, currency: str) -> Wallet:
    """The owner's wallet in ``currency``, created empty the first time."""
    wallet = find_wallet(session, tenant_id, owner_id, currency, latest=True)
    if wallet is None:
        wallet = Wallet(tenant_id=tenant_id, owner_id=owner_id, currency=currency)
        session.add(wallet)
        flush_or_conflict(session, f"a {currency} wallet of this subscriber was created at the same time")
    return wallet


def last_entry(session: Session, wallet_id: str, *, latest: bool = False) -> WalletEntry | None:
    stmt = select(WalletEntry).where(WalletEntry.wallet_id == wallet_id).order_by(WalletEntry.sequence.desc())
    return session.scalar((stmt.with_for_update() if latest else stmt).limit(1))


def balance_of(session: Session, wallet_id: str) -> Decimal:
    last = last_entry(session, wallet_id)
    return last.balance_after if last is not None else ZERO


def by_reference(session: Session, reference: str, *, latest: bool = False) -> WalletEntry | None:
    stmt = select(WalletEntry).where(WalletEntry.reference == reference)
    return session.scalar(stmt.with_for_update() if latest else stmt)


def lock(session: Session, wallet: Wallet) -> None:
    """Hold the wallet's row until the transaction ends: appends to one wallet take turns."""
    session.execute(select(Wallet.id).where(Wallet.id == wallet.id).with_for_update())


def append(
    session: Session,
    wallet: Wallet,
    kind: str,
    amount: Decimal,
    *,
    reason: str | None = None,
    actor: str | None = None,
    reference: str | None = None,
    expires_at: datetime | None = None,
    subscription_id: str | None = None,
    period_start: datetime | None = None,
    calls_through: int | None = None,
    allow_negative: bool = False,
    gateway_changed: bool = True,
) -> WalletEntry:
    """Append one entry; refused (400) when a debit would take the balance below zero.

    ``gateway_changed``: whether what the gateway may admit changes (a grant, a fee, an
    expiry). Settling consumption does not: the gateway already counted those calls.
    """
    lock(session, wallet)
    last = last_entry(session, wallet.id, latest=True)
    balance = last.balance_after if last is not None else ZERO
    after = balance + amount
    if after < 0 and amount < 0 and not allow_negative:
        raise BadRequest(
            f"'amount': the {wallet.currency} wallet holds {balance}; {-amount} cannot be taken from it"
        )
    entry = WalletEntry(
        wallet_id=wallet.id,
        tenant_id=wallet.tenant_id,
        sequence=(last.sequence + 1) if last is not None else 1,
        kind=kind,
        amount=amount,
        balance_after=after,
        expires_at=expires_at,
        reason=reason,
        actor=actor,
        reference=reference,
        subscription_id=subscription_id,
        period_start=period_start,
        calls_through=calls_through,
    )
    session.add(entry)
    flush_or_conflict(session, "the wallet changed at the same time; try again")
    if gateway_changed:
        mark_gateway_config_changed(session)
    return entry


@dataclass(slots=True)
class Lot:
    """A credit and what is left of it."""

    entry: WalletEntry
    left: Decimal


def _use_order(lot: Lot) -> tuple[bool, datetime | None, int]:
    # The credit that expires first is used first; credits that never expire last.
    expires = lot.entry.expires_at
    return (expires is None, expires, lot.entry.sequence)


def credit_lots(entries: Sequence[WalletEntry]) -> list[Lot]:
    """Replay ``entries`` (in sequence order): what is left of each credit.

    Each debit is taken from the live credits, the one expiring first first; an expiry entry
    (``reference`` = ``expiry:<credit id>``) empties its credit. A debit larger than the live
    credits (an allowed overdraft) is not carried: the next credits pay the overdraft first,
    which the running balance already shows.
    """
    lots: dict[str, Lot] = {}
    owed = ZERO
    for entry in sorted(entries, key=lambda e: e.sequence):
        if entry.amount > 0:
            lot = lots[entry.id] = Lot(entry, entry.amount)
            taken = min(owed, lot.left)
            lot.left -= taken
            owed -= taken
            continue
        if entry.kind == "expiry" and entry.reference and entry.reference.startswith("expiry:"):
            expired = lots.get(entry.reference.removeprefix("expiry:"))
            if expired is not None:
                expired.left = ZERO
            continue
        debit = -entry.amount
        live = sorted(
            (
                lot
                for lot in lots.values()
                if lot.left > 0 and (lot.entry.expires_at is None or lot.entry.expires_at > entry.created_at)
            ),
            key=_use_order,
        )
        for lot in live:
            taken = min(debit, lot.left)
            lot.left -= taken
            debit -= taken
            if not debit:
                break
        owed += debit
    return list(lots.values())
