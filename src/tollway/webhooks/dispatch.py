"""Sending deliveries from the outbox: signed POSTs, retried with exponential backoff.

Each due delivery is first claimed (its ``next_attempt_at`` moved ahead by ``CLAIM`` in a
conditional UPDATE that only one dispatcher wins), then sent, then its outcome written with the
attempt. A dispatcher killed while sending leaves the claim to expire and the delivery is sent
again: deliveries are at least once, and receivers drop repeats by the event id.
"""

from __future__ import annotations

import json
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from tollway.config import WebhookSettings
from tollway.db.base import new_id, utcnow
from tollway.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent
from tollway.security.secretbox import SecretBox
from tollway.webhooks import signing, targets

log = logging.getLogger(__name__)

CLAIM = timedelta(seconds=120)  # longer than a send can take (timeout <= 60 s)
BATCH = 50
MAX_INTERVAL = 3600.0  # seconds: backoff stops doubling at an hour
PARALLEL = 8


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Job:
    delivery_id: str
    url: str
    secret: str
    body: bytes
    event_id: str
    event_type: str
    check_target: bool


def payload(event: WebhookEvent) -> bytes:
    document = {
        "id": event.id,
        "object": "event",
        "type": event.type,
        "created": int(event.created_at.timestamp()),
        "data": event.data,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


def backoff(settings: WebhookSettings, attempts: int) -> float:
    """Seconds to wait after the ``attempts``-th failed try."""
    return float(min(settings.retry_base * 2 ** max(attempts - 1, 0), MAX_INTERVAL))


def _claim(factory: sessionmaker[Session], now: datetime) -> list[str]:
    with factory.begin() as session:
        due = session.execute(
            select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
            .where(WebhookDelivery.status == "PENDING", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(BATCH)
        ).all()
    claimed = []
    for delivery_id, due_at in due:
        with factory.begin() as session:
            won = session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery_id,
                    WebhookDelivery.status == "PENDING",
                    WebhookDelivery.next_attempt_at == due_at,
                )
                .values(next_attempt_at=now + CLAIM)
            )
            if won.rowcount == 1:  # type: ignore[attr-defined]
                claimed.append(delivery_id)
    return claimed


def _job(session: Session, box: SecretBox, settings: WebhookSettings, delivery_id: str) -> Job | None:
    found = session.execute(
        select(WebhookDelivery, WebhookEndpoint, WebhookEvent)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .join(WebhookEvent, WebhookEvent.id == WebhookDelivery.event_id)
        .where(WebhookDelivery.id == delivery_id)
    ).first()
    if found is None:
        return None
    _, endpoint, event = found
    return Job(
        delivery_id=delivery_id,
        url=endpoint.url,
        secret=box.decrypt(endpoint.secret_encrypted),
        body=payload(event),
        event_id=event.id,
        event_type=event.type,
        check_target=endpoint.application_id is not None and not settings.allow_internal_targets,
    )


def send(client: httpx.Client, job: Job) -> Outcome:
    began = time.monotonic()
    if job.check_target and targets.is_internal(targets.host_of(job.url)):
        return Outcome(None, "refused: the URL points at a non-public address", 0)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Tollway-Webhooks/1",
        "Tollway-Event-Id": job.event_id,
        "Tollway-Event-Type": job.event_type,
        signing.HEADER: signing.header_value(job.secret, job.body),
    }
    try:
        answer = client.post(job.url, content=job.body, headers=headers)
    except httpx.HTTPError as error:
        took = int((time.monotonic() - began) * 1000)
        return Outcome(None, f"{type(error).__name__}: {error}"[:255], took)
    return Outcome(answer.status_code, None, int((time.monotonic() - began) * 1000))


def _record(
    factory: sessionmaker[Session], settings: WebhookSettings, job: Job, outcome: Outcome, at: datetime
) -> None:
    with factory.begin() as session:
        delivery = session.get(WebhookDelivery, job.delivery_id)
        if delivery is None:
            return  # its endpoint was deleted meanwhile
        session.add(
            WebhookAttempt(
                id=new_id(),
                delivery_id=delivery.id,
                attempted_at=at,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        delivery.attempts += 1
        delivery.last_status_code = outcome.status_code
        delivery.last_error = outcome.error
        if outcome.ok:
            delivery.status, delivery.delivered_at, delivery.next_attempt_at = "SUCCEEDED", at, None
            return
        following = utcnow() + timedelta(seconds=backoff(settings, delivery.attempts))
        if following > delivery.window_start + timedelta(seconds=settings.retry_for):
            delivery.status, delivery.next_attempt_at = "FAILED", None
        else:
            delivery.next_attempt_at = following


def dispatch_due(factory: sessionmaker[Session], box: SecretBox, settings: WebhookSettings) -> int:
    """Send every delivery due now; answers how many were tried."""
    claimed = _claim(factory, utcnow())
    if not claimed:
        return 0
    with factory() as session:
        jobs = [job for d in claimed if (job := _job(session, box, settings, d)) is not None]
    with (
        httpx.Client(timeout=settings.timeout, follow_redirects=False) as client,
        ThreadPoolExecutor(min(PARALLEL, len(jobs) or 1)) as pool,
    ):

        def one(job: Job) -> None:
            at = utcnow()
            outcome = send(client, job)
            _record(factory, settings, job, outcome, at)
            if not outcome.ok:
                log.info(
                    "webhook delivery %s of %s: %s",
                    job.delivery_id,
                    job.event_id,
                    outcome.error or outcome.status_code,
                )

        list(pool.map(one, jobs))
    return len(jobs)
