"""Reads what prepaid admission needs into the snapshot (:mod:`tollway.gateway.prepaid`).

For each subscription on a PREPAID plan: its price in pico-units, its billing periods (anchored
like its invoices: at the monetized subscription's start, else at the subscription's creation),
the calls of the current and the previous period already stored and already settled into the
wallet, the fee taken, and its wallet's balance (the last entry's running balance).
"""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, and_, func, or_, select
from sqlalchemy.orm import Session

from tollway.gateway.snapshot import Prepaid, Snapshot, SubscriptionEntry, Tariff, WalletState
from tollway.metering.queries import usage_counts
from tollway.models import (
    Application,
    MonSubscription,
    PolicyPriceTier,
    SpendCap,
    Subscription,
    SubscriptionPolicy,
    Wallet,
    WalletEntry,
)
from tollway.pricing.periods import boundary, period_at

PICO = 10**12
AHEAD = 8  # period ends known past the current one: a worker rolls over without a reload


def pico(amount: Decimal | None) -> int:
    """Exact: prices have at most 12 decimal places."""
    return int((amount or Decimal(0)) * PICO)


def _tariff(policy: SubscriptionPolicy, tiers: list[PolicyPriceTier]) -> tuple[Tariff, int]:
    if (policy.monetization_plan or "").lower() == "fixedrate":
        return Tariff(), pico(policy.fixed_price)
    included = int(policy.included_requests or 0)
    if tiers:
        bands = tuple((t.up_to, pico(t.unit_price), pico(t.flat_amount)) for t in tiers)
        return Tariff(included, None, bands, (policy.tier_mode or "").lower() == "volume"), 0
    return Tariff(included, pico(policy.price_per_request)), 0


def load_prepaid(conn: Connection, snap: Snapshot, now: datetime) -> None:
    """Attach :class:`Prepaid` to the snapshot's subscriptions on PREPAID plans, and to the
    postpaid ones with a HARD spend cap (the cap stands for the balance, nothing is settled)."""
    session = Session(bind=conn)
    rows = session.execute(
        select(Subscription, Application.owner_id, SubscriptionPolicy)
        .join(Application, Application.id == Subscription.application_id)
        .join(SubscriptionPolicy, SubscriptionPolicy.id == Subscription.policy_id)
        .where(SubscriptionPolicy.billing_mode == "PREPAID")
    ).all()
    # The subscription's own HARD cap, else (none of its own) its plan's default cap.
    capped = session.execute(
        select(
            Subscription,
            func.coalesce(SpendCap.amount, SubscriptionPolicy.default_spend_cap),
            SubscriptionPolicy,
        )
        .join(SubscriptionPolicy, SubscriptionPolicy.id == Subscription.policy_id)
        .outerjoin(SpendCap, SpendCap.subscription_id == Subscription.id)
        .where(
            or_(
                SpendCap.mode == "HARD",
                and_(SpendCap.subscription_id.is_(None), SubscriptionPolicy.default_spend_cap.is_not(None)),
            ),
            SubscriptionPolicy.billing_mode != "PREPAID",
            func.lower(SubscriptionPolicy.monetization_plan) == "dynamicrate",
        )
    ).all()
    if not rows and not capped:
        return
    anchors = _anchors(session, [row[0].id for row in rows] + [row[0].id for row in capped])
    wallets = _wallets(
        session, {(sub.tenant_id, owner, policy.currency or "") for sub, owner, policy in rows}
    )
    entries = _entries(session, [sub.id for sub, _, _ in rows])
    for sub, owner_id, policy in rows:
        entry = _entry_of(snap, sub)
        if entry is None:
            continue
        ends, stored, end_of = _periods(session, sub, policy, anchors, now)
        settled, fee_periods = entries.get(sub.id, ({}, []))
        tariff, fee = _tariff(policy, list(policy.tiers))
        currency = policy.currency or ""
        key = (sub.tenant_id, owner_id, currency)
        wallet = wallets.get(key)
        if wallet is None:
            wallet = wallets[key] = WalletState(f"{owner_id}:{currency}", currency, 0)
        entry.prepaid = Prepaid(
            wallet=wallet,
            tariff=tariff,
            fee=fee,
            ends=ends,
            settled={end_of[s]: n for s, n in settled.items() if s in end_of},
            stored=stored,
            paid_until=max((end_of[s] for s in fee_periods if s in end_of), default=0.0),
        )
        wallet.subscriptions.append(entry)
    for sub, amount, policy in capped:
        entry = _entry_of(snap, sub)
        if entry is None:
            continue
        ends, stored, _ = _periods(session, sub, policy, anchors, now)
        tariff, _ = _tariff(policy, list(policy.tiers))
        cap = WalletState(f"cap:{sub.id}", policy.currency or "", pico(Decimal(amount)))
        entry.prepaid = Prepaid(cap, tariff, 0, ends, {}, stored, math.inf, cap=True)
        cap.subscriptions.append(entry)


def _anchors(session: Session, ids: list[str]) -> dict[str, tuple[datetime, str]]:
    """Where each subscription's billing periods start: its monetized start, as its invoices."""
    anchors: dict[str, tuple[datetime, str]] = {}
    for mon in session.scalars(
        select(MonSubscription)
        .where(MonSubscription.subscription_id.in_(ids), MonSubscription.canceled_at.is_(None))
        .order_by(MonSubscription.started_at)
    ):
        assert mon.subscription_id is not None
        anchors[mon.subscription_id] = (mon.started_at, mon.billing_cycle)
    return anchors


def _periods(
    session: Session,
    sub: Subscription,
    policy: SubscriptionPolicy,
    anchors: dict[str, tuple[datetime, str]],
    now: datetime,
) -> tuple[tuple[float, ...], dict[float, int], dict[datetime, float]]:
    """The period ends from the previous period's, the calls stored in the previous and the
    current period (by period end), and each period start's end."""
    anchor, cycle = anchors.get(sub.id, (sub.created_at, (policy.billing_cycle or "month").lower()))
    current = period_at(anchor, cycle, now)
    starts = [boundary(anchor, cycle, current.index + k) for k in range(-1, AHEAD + 1)]
    end_of = {starts[k]: starts[k + 1].timestamp() for k in range(len(starts) - 1)}
    stored = {
        end_of[start]: usage_counts(session, [sub.id], start, min(end, now)).get(sub.id, (0, 0))[0]
        for start, end in ((starts[0], starts[1]), (starts[1], starts[2]))
    }
    return tuple(s.timestamp() for s in starts[1:]), stored, end_of


def _entry_of(snap: Snapshot, sub: Subscription) -> SubscriptionEntry | None:
    app = snap.applications.get(sub.application_id)
    return app.subscriptions.get(sub.api_id) if app is not None else None


def _wallets(session: Session, keys: set[tuple[str, str, str]]) -> dict[tuple[str, str, str], WalletState]:
    last = (
        select(WalletEntry.wallet_id, func.max(WalletEntry.sequence).label("sequence"))
        .group_by(WalletEntry.wallet_id)
        .subquery()
    )
    found: dict[tuple[str, str, str], WalletState] = {}
    owners = {owner for _, owner, _ in keys}
    rows = session.execute(
        select(Wallet, WalletEntry.balance_after)
        .outerjoin(last, last.c.wallet_id == Wallet.id)
        .outerjoin(
            WalletEntry, (WalletEntry.wallet_id == Wallet.id) & (WalletEntry.sequence == last.c.sequence)
        )
        .where(Wallet.owner_id.in_(owners))
    )
    for wallet, balance in rows:
        key = (wallet.tenant_id, wallet.owner_id, wallet.currency)
        if key in keys:
            found[key] = WalletState(wallet.id, wallet.currency, pico(balance))
    return found


def _entries(session: Session, ids: list[str]) -> dict[str, tuple[dict[datetime, int], list[datetime]]]:
    """Per subscription: calls settled per period start, and the period starts whose fee is taken."""
    found: dict[str, tuple[dict[datetime, int], list[datetime]]] = {}
    rows = session.execute(
        select(
            WalletEntry.subscription_id,
            WalletEntry.kind,
            WalletEntry.period_start,
            func.max(WalletEntry.calls_through),
        )
        .where(WalletEntry.subscription_id.in_(ids), WalletEntry.kind.in_(("consumption", "fee")))
        .group_by(WalletEntry.subscription_id, WalletEntry.kind, WalletEntry.period_start)
    )
    for sub_id, kind, start, calls in rows:
        settled, fees = found.setdefault(sub_id, ({}, []))
        if kind == "fee":
            fees.append(start)
        else:
            settled[start] = int(calls or 0)
    return found
