"""Usage -> Stripe meter events (the legacy usage records are gone from Stripe's API).

Each usage record becomes one meter event on the subscription's meter: ``value`` is the record's
billable calls, ``identifier`` is the record's deterministic idempotency key, so a record sent
twice is counted once by Stripe itself ("An event already exists with identifier …" is taken as
"already counted").

Timestamps: Stripe bills a meter event in the subscription period that holds its timestamp
(whole seconds). A record lies inside one Tollway period *k*; its event is stamped with the last
second of its window, kept inside Stripe's period *k* of the same subscription (Stripe's anchor
is the second Stripe created the subscription, a fraction of a second after Tollway's start), so
every record is billed in the same period by both.

Batching: one record goes to ``POST /v1/billing/meter_events``, which validates synchronously.
Several (a catch-up after missed runs, a period boundary) go to the v2 high-throughput meter
event stream, up to 100 events per request, authenticated by a meter-event session token (valid
15 minutes, cached per tenant and account). The stream validates asynchronously; the engine has
checked beforehand what it can (an active meter, the customer, timestamps within 35 days).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import stripe

from tollway.billing.contract import EngineError, SubscriptionRef, TenantContext, UsageRecord
from tollway.billing.stripe.catalog import v1
from tollway.billing.stripe.clients import StripeClients, Target
from tollway.billing.stripe.facts import SubscriptionFacts
from tollway.billing.stripe.mapping import moment
from tollway.billing.stripe.wire import Wire, message, translate
from tollway.db.base import utcnow
from tollway.pricing.periods import period_at

STREAM_BATCH = 100
PAST_LIMIT = timedelta(days=35)  # Stripe refuses meter events older than this
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class MeterEvent:
    identifier: str
    value: int
    timestamp: int


def event_time(facts: SubscriptionFacts, ref: SubscriptionRef, record: UsageRecord) -> int:
    """The second to stamp ``record`` with: its window's last second, inside Stripe's period."""
    index = period_at(ref.started_at, ref.billing_cycle, record.window_start).index
    start, end = facts.period_start(index), facts.period_end(index)
    last = math.floor((record.window_end - _TICK).timestamp())
    return max(start, min(last, end - 1))


def meter_events(
    facts: SubscriptionFacts, ref: SubscriptionRef, records: Sequence[UsageRecord]
) -> list[MeterEvent]:
    oldest = utcnow() - PAST_LIMIT
    events = []
    for record in records:
        if record.quantity < 0 or record.window_end <= record.window_start:
            raise EngineError(f"usage record {record.key}: bad quantity or window")
        if record.quantity == 0:
            continue
        stamp = event_time(facts, ref, record)
        if moment(stamp) < oldest:
            raise EngineError(
                f"usage record {record.key} is from {moment(stamp):%Y-%m-%d}: Stripe takes meter events "
                "of the past 35 days only"
            )
        events.append(MeterEvent(record.key, record.quantity, stamp))
    return events


def _duplicate(error: stripe.InvalidRequestError) -> bool:
    return "already exists with identifier" in message(error) or getattr(error, "param", None) == "identifier"


class UsageSender:
    def __init__(self, wire: Wire, clients: StripeClients) -> None:
        self.wire = wire
        self.clients = clients
        self._sessions: dict[tuple[str, str | None], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def send(
        self, tenant: TenantContext, target: Target, facts: SubscriptionFacts, events: Sequence[MeterEvent]
    ) -> None:
        if facts.event_name is None:
            raise EngineError(f"Stripe subscription {facts.id} is not metered")
        if len(events) == 1:
            self._send_one(target, facts, facts.event_name, events[0])
        elif events:
            self._stream(tenant, target, facts, facts.event_name, events)

    def _payload(self, facts: SubscriptionFacts, event: MeterEvent) -> dict[str, str]:
        return {"stripe_customer_id": facts.customer, "value": str(event.value)}

    def _send_one(self, target: Target, facts: SubscriptionFacts, event_name: str, event: MeterEvent) -> None:
        params = {
            "event_name": event_name,
            "payload": self._payload(facts, event),
            "identifier": event.identifier,
            "timestamp": event.timestamp,
        }
        # No Idempotency-Key: the identifier already makes a repeat harmless, and a stored 5xx
        # answer would otherwise be replayed to every retry for 24 hours.
        try:
            self.wire.raw(
                "send a meter event", lambda: v1(target).billing.meter_events.create(params, target.options())
            )
        except stripe.InvalidRequestError as error:
            if not _duplicate(error):
                raise translate("send a meter event", target, error) from None
        except stripe.StripeError as error:
            raise translate("send a meter event", target, error) from None

    # ----- the v2 stream -------------------------------------------------------------------------

    def _session(self, tenant: TenantContext, target: Target, fresh: bool) -> str:
        key = (tenant.id, target.account)
        with self._lock:
            cached = self._sessions.get(key)
            if cached is not None and not fresh and cached[1] > time.time():
                return cached[0]
        options: dict[str, Any] = {"stripe_context": target.account} if target.account else {}
        session = self.wire.send(
            "open a meter event session",
            target,
            lambda: target.client.v2.billing.meter_event_session.create(None, options),  # type: ignore[arg-type]
        )
        expires = datetime.fromisoformat(str(session["expires_at"]).replace("Z", "+00:00")).timestamp()
        token = str(session["authentication_token"])
        with self._lock:
            self._sessions[key] = (token, expires - 60)
        return token

    def _stream(
        self,
        tenant: TenantContext,
        target: Target,
        facts: SubscriptionFacts,
        event_name: str,
        events: Sequence[MeterEvent],
    ) -> None:
        for offset in range(0, len(events), STREAM_BATCH):
            body: Any = {
                "events": [
                    {
                        "event_name": event_name,
                        "payload": self._payload(facts, event),
                        "identifier": event.identifier,
                        "timestamp": moment(event.timestamp).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                    }
                    for event in events[offset : offset + STREAM_BATCH]
                ]
            }
            for fresh in (False, True):
                client = self.clients.session_client(self._session(tenant, target, fresh))
                try:
                    self.wire.raw(
                        "stream meter events", partial(client.v2.billing.meter_event_stream.create, body)
                    )
                    break
                except stripe.TemporarySessionExpiredError:
                    if fresh:
                        raise EngineError("Stripe refused a new meter event session") from None
                except stripe.StripeError as error:
                    raise translate("stream meter events", target, error) from None
