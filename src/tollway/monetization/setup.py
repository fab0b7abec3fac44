"""Wires monetization into a runtime: the configured engine, the service and the hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tollway.monetization.engine import EngineSetup
from tollway.monetization.engine_hooks import EngineHooks
from tollway.monetization.registry import load_engine
from tollway.monetization.service import MonetizationService

if TYPE_CHECKING:
    from tollway.runtime import Runtime

EXTRA = "monetization"


def install_monetization(runtime: Runtime) -> MonetizationService:
    engine = load_engine(EngineSetup(settings=runtime.settings, session_factory=runtime.session_factory))
    service = MonetizationService(engine, runtime.settings, runtime.secrets, runtime.session_factory)
    runtime.extras[EXTRA] = service
    runtime.hooks = EngineHooks(service)
    return service


def monetization_of(runtime: Runtime) -> MonetizationService:
    service = runtime.extras.get(EXTRA)
    if not isinstance(service, MonetizationService):
        service = install_monetization(runtime)
    return service
