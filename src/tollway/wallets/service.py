"""Wallets for the REST APIs: credits given by admins and publishers, balances, entries, expiry.

Every change is one entry appended by :func:`tollway.wallets.entries.append`. A credit first
write-locks its owner's user row (a no-op ``UPDATE``: a row lock on PostgreSQL and MariaDB, the
database's write lock on SQLite, which has no ``SELECT ... FOR UPDATE``), so that concurrent
credits for one subscriber -- the first of which creates the wallet -- take turns instead of
colliding on the wallet's unique key or its entries' sequence numbers.

A REST ``reference`` is kept per tenant (stored as ``credit:<tenant id>:<reference>``, entries'
references being unique across the instance), so one tenant's keys can neither collide with nor
reveal another's.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session, aliased

from tollway.billing.contract import TopUpPaid
from tollway.errors import BadRequest, Conflict, Forbidden, NotFound
from tollway.identity.principal import Principal, qualified_username
from tollway.identity.repository import user_by_name
from tollway.identity.users import local_username
from tollway.models import Application, Subscription, SubscriptionPolicy, User, Wallet, WalletEntry
from tollway.pricing.currency import UnknownCurrencyError, minor_unit, normalize_currency
from tollway.pricing.encoding import price_text
from tollway.pricing.prices import PricingError, parse_price
from tollway.wallets import entries
from tollway.wallets.schemas import CREDIT_KINDS, GRANT, EntryOut, GrantIn, WalletOut

log = logging.getLogger(__name__)

ZERO = Decimal(0)
ACTOR_MAX = 255  # wallet_entries.actor
EXPIRY_REASON = "the credit expired"


# ---------------------------------------------------------------------------------------------
# Input


def parse_amount(text: str, field: str, *, signed: bool) -> Decimal:
    """A money string as an exact Decimal, never 0; negative only when ``signed``. 400 naming ``field``."""
    negative = signed and text.startswith("-")
    digits = text[1:] if negative else text
    if not digits.isascii() or not digits[:1].isdigit():
        # Decimal() reads the digits of every script, and signs, spaces and exponents besides.
        raise BadRequest(f"'{field}': must be a decimal number in ASCII digits (0-9), got {text!r}")
    try:
        value = parse_price(digits, field)
    except PricingError as error:
        raise BadRequest(f"'{field}': {error.message}") from None
    if not value:
        raise BadRequest(f"'{field}': must not be 0")
    return -value if negative else value


def currency_of(text: str, field: str = "currency") -> str:
    try:
        return normalize_currency(text)
    except UnknownCurrencyError:
        raise BadRequest(f"'{field}': not an ISO 4217 currency code, got {text!r}") from None


def owner_named(session: Session, caller: Principal, name: str, field: str = "owner") -> User | None:
    """The tenant's user called ``name`` (or ``name@<tenant>``); None when there is none."""
    return user_by_name(session, caller.tenant_id, local_username(name, caller.tenant_domain, field))


def user_of(caller: Principal) -> str:
    """Wallets belong to users: a token issued to an application itself has none."""
    if caller.user_id is None:
        raise Forbidden("wallets are read with a user's token")
    return caller.user_id


def _utc(moment: datetime, field: str) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise BadRequest(f"'{field}': out of range") from None


# ---------------------------------------------------------------------------------------------
# Credits


@dataclass(frozen=True, slots=True)
class Credit:
    entry: WalletEntry
    wallet: Wallet
    owner: User
    created: bool  # False: the entry already made with the same reference


def stored_reference(tenant_id: str, reference: str) -> str:
    return f"credit:{tenant_id}:{reference}"


def credit(session: Session, caller: Principal, body: GrantIn, *, now: datetime | None = None) -> Credit:
    """Append the credit ``body`` describes (kinds as checked by its schema); see the module doc."""
    kind = body.kind
    if kind not in CREDIT_KINDS:  # pragma: no cover - the schemas' choices
        raise BadRequest(f"'kind': must be one of {', '.join(CREDIT_KINDS)}")
    amount = parse_amount(body.amount, "amount", signed=kind == "ADJUSTMENT")
    currency = currency_of(body.currency)
    expires_at = _utc(body.expiresAt, "expiresAt") if body.expiresAt is not None else None
    if expires_at is not None and kind != GRANT:
        raise BadRequest(f"'expiresAt': only a GRANT may expire, not a {kind}")
    owner = owner_named(session, caller, body.owner)
    if owner is None:
        raise BadRequest(f"'owner': no user {body.owner!r} in this tenant")
    _hold(session, owner)
    reference = stored_reference(caller.tenant_id, body.reference) if body.reference is not None else None
    if reference is not None:
        existing = entries.by_reference(session, reference, latest=True)
        if existing is not None:
            # A locking read: on MariaDB a plain one may not see a wallet committed meanwhile.
            wallet = session.scalar(select(Wallet).where(Wallet.id == existing.wallet_id).with_for_update())
            assert wallet is not None  # an entry's wallet (foreign key)
            same = (
                wallet.owner_id == owner.id
                and wallet.currency == currency
                and existing.kind == kind.lower()
                and existing.amount == amount
                and existing.expires_at == expires_at
            )
            if not same:
                raise Conflict(
                    f"'reference': {body.reference!r} was used for another credit"
                    f" (entry {existing.id} of wallet {wallet.id})"
                )
            return Credit(existing, wallet, owner, created=False)
    if expires_at is not None and expires_at <= (now or datetime.now(UTC)):
        raise BadRequest("'expiresAt': must be in the future")
    wallet = entries.wallet_for(session, caller.tenant_id, owner.id, currency)
    entry = entries.append(
        session,
        wallet,
        kind.lower(),
        amount,
        reason=body.reason,
        actor=_actor(caller),
        reference=reference,
        expires_at=expires_at,
    )
    return Credit(entry, wallet, owner, created=True)


def _hold(session: Session, owner: User) -> None:
    """Write-lock the owner's row until the transaction ends (see the module doc)."""
    held = cast(
        "CursorResult[Any]",
        session.execute(
            update(User).where(User.id == owner.id).values(username=User.username),
            execution_options={"synchronize_session": False},
        ),
    )
    if held.rowcount != 1:
        raise BadRequest(f"'owner': no user {owner.username!r} in this tenant")


def _actor(caller: Principal) -> str | None:
    """Who gave the credit: the caller's qualified name (the local name where that is too long)."""
    name = caller.username
    return (name if len(name) <= ACTOR_MAX else name.rpartition("@")[0][:ACTOR_MAX]) or None


# ---------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True, slots=True)
class WalletView:
    wallet: Wallet
    owner: str  # qualified username
    balance: Decimal
    entry_count: int


def get_wallet(session: Session, tenant_id: str, wallet_id: str) -> Wallet:
    wallet = session.scalar(select(Wallet).where(Wallet.tenant_id == tenant_id, Wallet.id == wallet_id))
    if wallet is None:
        raise NotFound(f"wallet {wallet_id!r} not found")
    return wallet


def own_wallet(session: Session, caller: Principal, currency_text: str) -> Wallet:
    currency = currency_of(currency_text)
    wallet = entries.find_wallet(session, caller.tenant_id, user_of(caller), currency)
    if wallet is None:
        raise NotFound(f"you have no {currency} wallet")
    return wallet


def list_wallets(
    session: Session,
    tenant_id: str,
    *,
    owner_id: str | None = None,
    currency: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[int, list[Wallet]]:
    """The tenant's wallets (one owner's, one currency's), oldest first, and how many match in all."""
    where = [Wallet.tenant_id == tenant_id]
    if owner_id is not None:
        where.append(Wallet.owner_id == owner_id)
    if currency is not None:
        where.append(Wallet.currency == currency)
    total = session.scalar(select(func.count()).select_from(Wallet).where(*where)) or 0
    query = select(Wallet).where(*where).order_by(Wallet.created_at, Wallet.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return total, list(session.scalars(query))


def subscriber_wallets(session: Session, tenant_id: str, *, limit: int) -> list[Wallet]:
    """The tenant's wallets whose owners subscribe to one of its APIs (an application of theirs
    does), oldest first: what a publisher of the tenant may see (one query)."""
    subscribers = (
        select(Application.owner_id)
        .join(Subscription, Subscription.application_id == Application.id)
        .where(Subscription.tenant_id == tenant_id)
    )
    query = (
        select(Wallet)
        .where(Wallet.tenant_id == tenant_id, Wallet.owner_id.in_(subscribers))
        .order_by(Wallet.created_at, Wallet.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def prepaid_currencies(session: Session, tenant_id: str, owner_id: str) -> list[str]:
    """The currencies of the owner's subscriptions on PREPAID plans (what their wallets pay for)."""
    query = (
        select(SubscriptionPolicy.currency)
        .join(Subscription, Subscription.policy_id == SubscriptionPolicy.id)
        .join(Application, Application.id == Subscription.application_id)
        .where(
            Subscription.tenant_id == tenant_id,
            Application.owner_id == owner_id,
            SubscriptionPolicy.billing_mode == "PREPAID",
            SubscriptionPolicy.currency.is_not(None),
        )
        .distinct()
    )
    return sorted({code.upper() for code in session.scalars(query) if code})


def views(session: Session, tenant_domain: str, wallets: Sequence[Wallet]) -> list[WalletView]:
    """Each wallet with its owner's name, balance and number of entries (two queries in all)."""
    if not wallets:
        return []
    ids = [w.id for w in wallets]
    last = (
        select(WalletEntry.wallet_id, func.max(WalletEntry.sequence).label("sequence"))
        .where(WalletEntry.wallet_id.in_(ids))
        .group_by(WalletEntry.wallet_id)
        .subquery()
    )
    tails = {
        wallet_id: (sequence, balance)
        for wallet_id, sequence, balance in session.execute(
            select(WalletEntry.wallet_id, WalletEntry.sequence, WalletEntry.balance_after).join(
                last,
                (WalletEntry.wallet_id == last.c.wallet_id) & (WalletEntry.sequence == last.c.sequence),
            )
        )
    }
    owner_ids = {w.owner_id for w in wallets}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(owner_ids))).tuples()
    names = {user_id: name for user_id, name in rows}
    found = []
    for wallet in wallets:
        count, balance = tails.get(wallet.id, (0, ZERO))
        owner = qualified_username(names.get(wallet.owner_id, ""), tenant_domain)
        found.append(WalletView(wallet, owner, balance, count))
    return found


def wallet_out(view: WalletView) -> WalletOut:
    wallet = view.wallet
    return WalletOut(
        walletId=wallet.id,
        owner=view.owner,
        currency=wallet.currency,
        balance=money_text(view.balance, wallet.currency),
        entryCount=view.entry_count,
        createdAt=wallet.created_at,
    )


def entries_page(
    session: Session, wallet: Wallet, *, limit: int, offset: int
) -> tuple[int, list[WalletEntry], dict[str, Decimal]]:
    """One page of the wallet's entries, newest first; the total; what is left of its credits."""
    total = _entry_count(session, wallet.id)
    rows = list(
        session.scalars(
            select(WalletEntry)
            .where(WalletEntry.wallet_id == wallet.id)
            .order_by(WalletEntry.sequence.desc())
            .offset(offset)
            .limit(limit)
        )
    )
    left: dict[str, Decimal] = {}
    if any(row.amount > 0 for row in rows):
        left = credits_left(session, wallet.id)  # every debit since counts: replay the wallet
    return total, rows, left


def credits_left(session: Session, wallet_id: str) -> dict[str, Decimal]:
    """What is left of each of the wallet's credits (a replay of all its entries)."""
    every = session.scalars(select(WalletEntry).where(WalletEntry.wallet_id == wallet_id)).all()
    return {lot.entry.id: lot.left for lot in entries.credit_lots(every)}


def _entry_count(session: Session, wallet_id: str) -> int:
    last = entries.last_entry(session, wallet_id)
    return last.sequence if last is not None else 0


def entry_out(entry: WalletEntry, currency: str, tenant_id: str, left: dict[str, Decimal]) -> EntryOut:
    credit_left = left.get(entry.id, entry.amount) if entry.amount > 0 else None
    return EntryOut(
        entryId=entry.id,
        walletId=entry.wallet_id,
        sequence=entry.sequence,
        kind=entry.kind.upper(),
        amount=money_text(entry.amount, currency),
        balanceAfter=money_text(entry.balance_after, currency),
        reason=entry.reason,
        actor=entry.actor,
        reference=client_reference(entry.reference, tenant_id),
        expiresAt=entry.expires_at,
        subscriptionId=entry.subscription_id,
        createdAt=entry.created_at,
        creditLeft=money_text(credit_left, currency) if credit_left is not None else None,
    )


def client_reference(reference: str | None, tenant_id: str) -> str | None:
    """The reference as the client gave it (Tollway's own, such as ``expiry:<id>``, as they are)."""
    if reference is None:
        return None
    prefix = stored_reference(tenant_id, "")
    return reference.removeprefix(prefix)


def money_text(value: Decimal, currency: str) -> str:
    """Exact, with at least the currency's minor-unit places: "0.20", "0.0004", "-3.00", "100" (JPY)."""
    if value.is_zero():
        value = ZERO
    text = price_text(value)
    places = minor_unit(currency)
    whole, _, fraction = text.partition(".")
    if len(fraction) < places:
        fraction = fraction.ljust(places, "0")
    return f"{whole}.{fraction}" if fraction else whole


# ---------------------------------------------------------------------------------------------
# Expiry


def expire_credits(session: Session, now: datetime) -> int:
    """Empty every credit that expired by ``now`` and is not emptied yet; how many entries were appended.

    Each gets one ``expiry`` entry of minus what is left of it (``reference`` =
    ``expiry:<credit id>``, so a second run, or a concurrent one, cannot expire it twice). A
    credit used up before it expired needs none, and gets none.
    """
    marker = aliased(WalletEntry)
    due = session.scalars(
        select(WalletEntry)
        .where(
            WalletEntry.expires_at.is_not(None),
            WalletEntry.expires_at <= now,
            ~select(marker.id).where(marker.reference == "expiry:" + WalletEntry.id).exists(),
        )
        .order_by(WalletEntry.wallet_id, WalletEntry.expires_at, WalletEntry.sequence)
    ).all()
    by_wallet: dict[str, list[WalletEntry]] = defaultdict(list)
    for credit_entry in due:
        if credit_entry.amount > 0:
            by_wallet[credit_entry.wallet_id].append(credit_entry)
    appended = 0
    for wallet_id, credits in by_wallet.items():
        wallet = session.get(Wallet, wallet_id)
        if wallet is None:  # pragma: no cover - deleted with its entries
            continue
        _hold_wallet(session, wallet)
        every = session.scalars(select(WalletEntry).where(WalletEntry.wallet_id == wallet_id)).all()
        left = {lot.entry.id: lot.left for lot in entries.credit_lots(every)}
        balance = entries.balance_of(session, wallet_id)
        for credit_entry in credits:
            take = min(left.get(credit_entry.id, ZERO), balance)
            if take <= 0:
                continue
            entries.append(
                session,
                wallet,
                "expiry",
                -take,
                reason=EXPIRY_REASON,
                reference=f"expiry:{credit_entry.id}",
            )
            balance -= take
            appended += 1
    return appended


def _hold_wallet(session: Session, wallet: Wallet) -> None:
    session.execute(
        update(Wallet).where(Wallet.id == wallet.id).values(currency=Wallet.currency),
        execution_options={"synchronize_session": False},
    )


# ---------------------------------------------------------------------------------------------
# Top-ups paid through the billing engine


def record_top_up(session: Session, paid: TopUpPaid) -> None:
    """Credit a top-up the engine confirmed as paid; a second report of it changes nothing."""
    owner = session.get(User, paid.owner_id)
    if owner is None or owner.tenant_id != paid.tenant_id:
        log.warning("a paid top-up (%s) names no user of its tenant: not credited", paid.reference)
        return
    _hold(session, owner)
    if entries.by_reference(session, paid.reference, latest=True) is not None:
        return
    wallet = entries.wallet_for(session, paid.tenant_id, owner.id, paid.currency)
    reason = "paid through Stripe Checkout"
    entries.append(session, wallet, "top_up", paid.amount, reason=reason, reference=paid.reference)
