"""Builds a running instance's :class:`Runtime`: database, keys, billing engine, monetization hooks."""

from __future__ import annotations

from collections.abc import Sequence

from tollway.config import Settings
from tollway.db.base import utcnow
from tollway.invoicing.maintenance import complete_cancellations
from tollway.monetization.service import MonetizationService
from tollway.monetization.setup import install_monetization
from tollway.runtime import Runtime


def create_runtime(settings: Settings) -> Runtime:
    runtime = Runtime.create(settings)
    install_monetization(runtime)

    def subscriptions_ended(ids: Sequence[str]) -> None:
        complete_cancellations(
            MonetizationService(runtime), runtime.session_factory, utcnow(), only=list(ids)
        )

    runtime.subscriptions_ended = subscriptions_ended
    return runtime
