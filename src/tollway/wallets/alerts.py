"""Alerts: thresholds on a wallet's balance or a postpaid subscription's spend, each crossed once
per period, emitting an event for outgoing webhooks (:mod:`tollway.events`).

Evaluated by the scheduler after each prepaid settlement run (``[monetization]
prepaid_settle_interval``):

- ``wallet.low_balance``: a WALLET threshold: the balance fell below ``amount``. Armed again by
  the next credit (top-up, grant, positive adjustment): its period is "since the last credit".
- ``wallet.depleted``: built in for every wallet: the balance reached 0.
- ``usage.threshold_crossed``: a SPEND threshold (``percent`` of the subscription's cap, or an
  ``amount``) reached in the billing period; built in for every cap at 100% (a SOFT cap's alert).

A crossing is a row unique by (threshold, period): two scheduler nodes emit it once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from tollway.db.base import new_id
from tollway.errors import BadRequest, NotFound, TollwayError
from tollway.identity.principal import Principal
from tollway.models import (
    AlertThreshold,
    SpendCap,
    Subscription,
    SubscriptionPolicy,
    Wallet,
    WalletEntry,
)
from tollway.policies.pricing_input import price_text
from tollway.wallets import entries, quota_alerts
from tollway.wallets.caps import capped_pricing, owned_subscription, spent
from tollway.wallets.crossings import cross
from tollway.wallets.service import currency_of, money_text, parse_amount, user_of

log = logging.getLogger(__name__)

CREDIT_KINDS = ("top_up", "grant", "refund", "adjustment")
RECENT = timedelta(minutes=15)  # wallets with entries this recent are looked at (and those with thresholds)
MAX_THRESHOLDS = 50  # per subscriber


# Thresholds (the subscriber's own)


def create_threshold(
    session: Session,
    caller: Principal,
    *,
    subject: str,
    currency: str | None,
    subscription_id: str | None,
    percent: str | None,
    amount: str | None,
    requests: int | None = None,
) -> AlertThreshold:
    owner = user_of(caller)
    count = session.scalar(
        select(func.count()).select_from(AlertThreshold).where(AlertThreshold.owner_id == owner)
    )
    if (count or 0) >= MAX_THRESHOLDS:
        raise BadRequest(f"'subject': at most {MAX_THRESHOLDS} alert thresholds each; delete one first")
    threshold = AlertThreshold(id=new_id(), tenant_id=caller.tenant_id, owner_id=owner, subject=subject)
    if requests is not None and subject != "QUOTA":
        raise BadRequest("'requests': only a QUOTA threshold counts requests")
    if subject == "QUOTA":
        if amount is not None or currency is not None:
            raise BadRequest("'amount': a QUOTA threshold counts requests: give percent or requests")
        quota_alerts.fill(
            session, caller, threshold, subscription_id=subscription_id, percent=percent, requests=requests
        )
    elif subject == "WALLET":
        if amount is None or percent is not None or subscription_id is not None:
            raise BadRequest(
                "'amount': a WALLET threshold is a balance amount (no percent, no subscriptionId)"
            )
        if currency is None:
            raise BadRequest("'currency': a WALLET threshold names the wallet's currency")
        threshold.currency = currency_of(currency)
        threshold.amount = parse_amount(amount, "amount", signed=False)
    else:
        if subscription_id is None:
            raise BadRequest("'subscriptionId': a SPEND threshold names one of your subscriptions")
        if (percent is None) == (amount is None):
            raise BadRequest("'percent': give either percent (of the subscription's cap) or amount")
        sub = owned_subscription(session, caller, subscription_id)
        policy, plan = capped_pricing(session, sub)
        threshold.subscription_id, threshold.currency = sub.id, plan.currency
        if percent is not None:
            value = parse_amount(percent, "percent", signed=False)
            if value > 100:
                raise BadRequest("'percent': at most 100 (of the subscription's spend cap)")
            if policy.default_spend_cap is None and session.get(SpendCap, sub.id) is None:
                raise BadRequest(
                    "'percent': the subscription has no spend cap to take a percentage of "
                    "(set a cap first, or give an amount)"
                )
            threshold.percent = value
        else:
            threshold.amount = parse_amount(amount or "", "amount", signed=False)
    session.add(threshold)
    session.flush()
    return threshold


def own_thresholds(session: Session, caller: Principal) -> Sequence[AlertThreshold]:
    return session.scalars(
        select(AlertThreshold)
        .where(AlertThreshold.tenant_id == caller.tenant_id, AlertThreshold.owner_id == user_of(caller))
        .order_by(AlertThreshold.created_at, AlertThreshold.id)
    ).all()


def delete_threshold(session: Session, caller: Principal, threshold_id: str) -> None:
    found = session.get(AlertThreshold, threshold_id)
    if found is None or found.tenant_id != caller.tenant_id or found.owner_id != user_of(caller):
        raise NotFound(f"no alert threshold {threshold_id!r} of yours")
    session.delete(found)
    session.flush()


# Evaluation


@dataclass(slots=True)
class AlertResult:
    events: int = 0


def _spend(session: Session, now: datetime, result: AlertResult) -> None:
    thresholds: dict[str, list[AlertThreshold]] = {}
    for t in session.scalars(select(AlertThreshold).where(AlertThreshold.subject == "SPEND")):
        thresholds.setdefault(t.subscription_id or "", []).append(t)
    caps = {cap.subscription_id: cap for cap in session.scalars(select(SpendCap))}
    by_default = session.scalars(
        select(Subscription.id)
        .join(SubscriptionPolicy, SubscriptionPolicy.id == Subscription.policy_id)
        .where(SubscriptionPolicy.default_spend_cap.is_not(None), Subscription.status == "UNBLOCKED")
    ).all()
    for sub_id in set(thresholds) | set(caps) | set(by_default):
        sub = session.get(Subscription, sub_id)
        if sub is None:
            continue
        try:
            policy, plan = capped_pricing(session, sub)
        except TollwayError:
            continue  # the plan changed: nothing to measure any more
        cost, period = spent(session, sub, policy, plan, now)
        cap = caps.get(sub_id)
        limit = cap.amount if cap is not None else policy.default_spend_cap
        base = {
            "subscriptionId": sub.id,
            "applicationId": sub.application_id,
            "currency": plan.currency,
            "spent": money_text(cost, plan.currency),
            "cap": money_text(limit, plan.currency) if limit is not None else None,
            "capMode": cap.mode if cap is not None else ("HARD" if limit is not None else None),
            "periodStart": period.start.isoformat(),
            "periodEnd": period.end.isoformat(),
        }
        stamp = period.start.isoformat()
        checks: list[tuple[str, Decimal, dict[str, Any]]] = []
        if limit is not None:
            checks.append((f"cap:{sub.id}", limit, {"kind": "CAP", "percent": "100"}))
        for t in thresholds.get(sub_id, []):
            if t.percent is not None:
                if limit is None:
                    continue  # a percentage of no cap
                level = limit * t.percent / 100
                checks.append(
                    (t.id, level, {"kind": "PERCENT", "thresholdId": t.id, "percent": price_text(t.percent)})
                )
            elif t.amount is not None:
                amount = money_text(t.amount, plan.currency)
                checks.append((t.id, t.amount, {"kind": "AMOUNT", "thresholdId": t.id, "amount": amount}))
        for key, level, threshold in checks:
            if cost >= level and cross(
                session,
                key,
                stamp,
                now,
                sub.tenant_id,
                "usage.threshold_crossed",
                {**base, "threshold": threshold},
                application_id=sub.application_id,
            ):
                result.events += 1


def _last_credit(session: Session, wallet_id: str) -> int:
    # The sign is looked at here, not in SQL: SQLite keeps Money as text (see tollway.db.types).
    credits = session.execute(
        select(WalletEntry.sequence, WalletEntry.amount)
        .where(WalletEntry.wallet_id == wallet_id, WalletEntry.kind.in_(CREDIT_KINDS))
        .order_by(WalletEntry.sequence.desc())
    )
    return next((sequence for sequence, amount in credits if amount > 0), 0)


def _wallets(session: Session, now: datetime, result: AlertResult) -> None:
    thresholds: dict[tuple[str, str, str], list[AlertThreshold]] = {}
    for t in session.scalars(select(AlertThreshold).where(AlertThreshold.subject == "WALLET")):
        thresholds.setdefault((t.tenant_id, t.owner_id, t.currency or ""), []).append(t)
    recent = select(WalletEntry.wallet_id).where(WalletEntry.created_at >= now - RECENT).distinct()
    wallets = list(session.scalars(select(Wallet).where(Wallet.id.in_(recent))))
    seen = {w.id for w in wallets}
    for tenant_id, owner_id, currency in thresholds:
        found = entries.find_wallet(session, tenant_id, owner_id, currency)
        if found is not None and found.id not in seen:
            wallets.append(found)
    for wallet in wallets:
        balance = entries.balance_of(session, wallet.id)
        period = f"credit:{_last_credit(session, wallet.id)}"
        data = {
            "walletId": wallet.id,
            "currency": wallet.currency,
            "balance": money_text(balance, wallet.currency),
        }
        route: dict[str, str | None] = {"owner_id": wallet.owner_id}
        if balance <= 0 and cross(
            session, f"depleted:{wallet.id}", period, now, wallet.tenant_id, "wallet.depleted", data, **route
        ):
            result.events += 1
        for t in thresholds.get((wallet.tenant_id, wallet.owner_id, wallet.currency), []):
            if t.amount is None or balance >= t.amount:
                continue
            below = {**data, "thresholdId": t.id, "threshold": money_text(t.amount, wallet.currency)}
            if cross(session, t.id, period, now, wallet.tenant_id, "wallet.low_balance", below, **route):
                result.events += 1


def evaluate(factory: sessionmaker[Session], now: datetime) -> AlertResult:
    result = AlertResult()
    with factory.begin() as session:
        _wallets(session, now, result)
    with factory.begin() as session:
        _spend(session, now, result)
    with factory.begin() as session:
        result.events += quota_alerts.evaluate_quotas(session, now)
    return result
