"""QUOTA alert thresholds: a subscription's calls in its plan's quota window reached ``percent``
of the plan's request quota, or ``requests`` calls; crossed at most once per window.

Windows are the gateway's (:mod:`tollway.pricing.windows`: aligned to the epoch or to calendar
months), counted from the stored usage; looked at every settlement run (seconds), so they suit
hourly, daily and monthly quotas rather than per-minute ones.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tollway.errors import BadRequest
from tollway.identity.principal import Principal
from tollway.metering.queries import usage_counts
from tollway.models import AlertThreshold, Subscription, SubscriptionPolicy
from tollway.policies.pricing_input import price_text
from tollway.pricing.windows import quota_window, window_end, window_start
from tollway.wallets.caps import owned_subscription
from tollway.wallets.crossings import cross
from tollway.wallets.service import parse_amount


def request_quota(policy: SubscriptionPolicy | None) -> int:
    """The plan's requests per window; 0 when it counts bandwidth or sets no quota."""
    if policy is None or policy.limit_type == "BandwidthLimit":
        return 0
    return max(0, int(policy.request_count or 0))


def fill(
    session: Session,
    caller: Principal,
    threshold: AlertThreshold,
    *,
    subscription_id: str | None,
    percent: str | None,
    requests: int | None,
) -> None:
    """Check a QUOTA threshold's fields and set them on ``threshold``."""
    if subscription_id is None:
        raise BadRequest("'subscriptionId': a QUOTA threshold names one of your subscriptions")
    if (percent is None) == (requests is None):
        raise BadRequest("'percent': give either percent (of the plan's request quota) or requests")
    sub = owned_subscription(session, caller, subscription_id)
    if not request_quota(session.get(SubscriptionPolicy, sub.policy_id)):
        raise BadRequest("'subscriptionId': the subscription's plan sets no request quota")
    threshold.subscription_id = sub.id
    if percent is not None:
        value = parse_amount(percent, "percent", signed=False)
        if value > 100:
            raise BadRequest("'percent': at most 100 (of the plan's request quota)")
        threshold.percent = value
    else:
        threshold.requests = requests


def evaluate_quotas(session: Session, now: datetime) -> int:
    """Emit ``usage.threshold_crossed`` for each QUOTA threshold reached in its window; how many."""
    events = 0
    for t in session.scalars(select(AlertThreshold).where(AlertThreshold.subject == "QUOTA")):
        sub = session.get(Subscription, t.subscription_id) if t.subscription_id else None
        policy = session.get(SubscriptionPolicy, sub.policy_id) if sub is not None else None
        quota = request_quota(policy)
        if sub is None or policy is None or not quota:
            continue  # the plan changed: nothing to measure any more
        window = quota_window(policy.time_unit, int(policy.unit_time or 1))
        start = datetime.fromtimestamp(window_start(window, now.timestamp()), UTC)
        end = datetime.fromtimestamp(window_end(window, now.timestamp()), UTC)
        used = usage_counts(session, [sub.id], start, now).get(sub.id, (0, 0))[1]
        if t.percent is not None:
            level = math.ceil(Decimal(quota) * t.percent / 100)
            threshold = {"kind": "QUOTA", "thresholdId": t.id, "percent": price_text(t.percent)}
        else:
            level = int(t.requests or 0)
            threshold = {"kind": "QUOTA", "thresholdId": t.id, "requests": str(level)}
        data = {
            "subscriptionId": sub.id,
            "applicationId": sub.application_id,
            "quota": quota,
            "used": used,
            "windowStart": start.isoformat(),
            "windowEnd": end.isoformat(),
            "threshold": threshold,
        }
        if used >= max(level, 1) and cross(
            session,
            t.id,
            start.isoformat(),
            now,
            sub.tenant_id,
            "usage.threshold_crossed",
            data,
            application_id=sub.application_id,
        ):
            events += 1
    return events
