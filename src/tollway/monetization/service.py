"""The core of monetization: one configured engine, and how Tollway calls it safely.

How a change that involves the engine stays whole (decided per operation, see
docs/monetization.md for the full table):

* **Engine first, inside the transaction** - creating a billing plan, enabling monetization,
  creating a monetized subscription. Tollway checks the input, flushes its rows, then calls the
  engine; if the engine refuses, the request fails and the transaction rolls back. The ledger
  writes through the same session, so its rows roll back too; for other engines a compensating
  call (delete the plan, cancel the subscription, delete the customer) runs if the transaction
  rolls back after the engine said yes.
* **Database first, engine after commit, retried** - deleting a plan, disabling monetization,
  ending subscriptions. The intent is committed (tier plans marked inactive, subscriptions marked
  ``canceling``); the engine is told after the commit and, should that fail, by the scheduler's
  next maintenance run. Nothing is lost and the engine never hears of a change that rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker

from tollway.billing.contract import (
    BillingEngine,
    EngineCall,
    EngineError,
    EngineRejected,
    SubscriptionRef,
)
from tollway.config import Settings
from tollway.db.session import after_commit, transaction
from tollway.errors import BadRequest, BillingEngineError
from tollway.models import MonSharedCustomer, MonSubscription
from tollway.monetization.context import subscription_ref, tenant_context
from tollway.runtime import Runtime
from tollway.security.secretbox import SecretBox

log = logging.getLogger(__name__)

_COMPENSATIONS = "tollway_compensations"


def _forget_compensations(session: Session) -> None:
    session.info.pop(_COMPENSATIONS, None)


def _run_compensations(session: Session, previous_transaction: SessionTransaction) -> None:
    if previous_transaction.parent is not None:
        return  # a savepoint; the outer transaction may still commit
    pending: list[Callable[[], None]] = session.info.pop(_COMPENSATIONS, [])
    for undo in reversed(pending):
        try:
            undo()
        except Exception:
            log.exception("compensating billing-engine call failed; the engine may keep an orphan object")


class MonetizationService:
    """Monetization on one runtime's engine; holds no state of its own, so it is made where needed."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # Read through to the runtime, so a service held by the hooks sees the runtime's current parts.
    @property
    def engine(self) -> BillingEngine:
        return self.runtime.billing

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    @property
    def secrets(self) -> SecretBox:
        return self.runtime.secrets

    @property
    def session_factory(self) -> sessionmaker[Session]:
        return self.runtime.session_factory

    def wake_scheduler(self) -> None:
        """Ask the scheduler (when one runs) for a maintenance run soon; safe from any thread."""
        self.runtime.wake_scheduler()

    @property
    def engine_name(self) -> str:
        return self.engine.name

    def call(self, session: Session, tenant_id: str, key: str) -> EngineCall:
        return EngineCall(tenant=tenant_context(session, self.secrets, tenant_id), session=session, key=key)

    @contextmanager
    def engine_errors(self) -> Iterator[None]:
        """Engine refusals become 400 naming the field; engine failures 502."""
        try:
            yield
        except EngineRejected as exc:
            raise BadRequest(f"'{exc.field}': {exc.message}") from None
        except EngineError as exc:
            log.warning("billing engine %s failed: %s", self.engine.name, exc)
            raise BillingEngineError(f"the billing engine ({self.engine.name}) failed: {exc}") from None

    def compensate(self, session: Session, undo: Callable[[], None]) -> None:
        """Run ``undo`` if the session's transaction rolls back (non-transactional engines only)."""
        if self.engine.transactional:
            return
        # Listeners stay on the (short-lived) session; they do nothing once the list is gone.
        if not event.contains(session, "after_soft_rollback", _run_compensations):
            event.listen(session, "after_commit", _forget_compensations)
            event.listen(session, "after_soft_rollback", _run_compensations)
        session.info.setdefault(_COMPENSATIONS, []).append(undo)

    def later(
        self, session: Session, tenant_id: str, key: str, action: Callable[[Session, EngineCall], Any]
    ) -> None:
        """After commit, run ``action`` in a transaction of its own (errors are logged; the
        scheduler's maintenance run retries what the database still marks as pending)."""

        def run() -> None:
            with transaction(self.session_factory) as fresh:
                action(fresh, self.call(fresh, tenant_id, key))

        after_commit(session, run)

    def ref(self, session: Session, row: MonSubscription) -> SubscriptionRef:
        customer_id = None
        if row.shared_customer_id:
            customer_id = session.scalar(
                select(MonSharedCustomer.engine_customer_id).where(
                    MonSharedCustomer.id == row.shared_customer_id
                )
            )
        return subscription_ref(row, customer_id)
