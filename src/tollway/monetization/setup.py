"""Wires monetization into a runtime: the domain's hooks go to the configured engine, and the
engine's paid top-ups to the wallets."""

from __future__ import annotations

from tollway.billing.contract import top_up_seller
from tollway.monetization.engine_hooks import EngineHooks
from tollway.monetization.service import MonetizationService
from tollway.runtime import Runtime
from tollway.wallets.service import record_top_up


def install_monetization(runtime: Runtime) -> MonetizationService:
    service = MonetizationService(runtime)
    runtime.hooks = EngineHooks(service)
    seller = top_up_seller(runtime.billing)
    if seller is not None:  # its paid top-ups credit the subscribers' wallets
        seller.on_top_up_paid = record_top_up
    return service
