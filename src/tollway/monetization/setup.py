"""Wires monetization into a runtime: the domain's hooks go to the configured engine."""

from __future__ import annotations

from tollway.monetization.engine_hooks import EngineHooks
from tollway.monetization.service import MonetizationService
from tollway.runtime import Runtime


def install_monetization(runtime: Runtime) -> MonetizationService:
    service = MonetizationService(runtime)
    runtime.hooks = EngineHooks(service)
    return service
