from __future__ import annotations

import pytest

from tests.billing.example_engine import InMemoryEngine
from tests.monetization.world import World
from tollway.billing.contract import EngineSetup
from tollway.billing.registry import load_engine
from tollway.monetization.service import MonetizationService
from tollway.monetization.setup import install_monetization
from tollway.runtime import Runtime

EXAMPLE = "tests.billing.example_engine:InMemoryEngine"


def use_engine(runtime: Runtime, setting: str) -> None:
    """Switch the runtime to another engine, as ``[monetization] engine = setting`` would."""
    monetization = runtime.settings.monetization.model_copy(update={"engine": setting})
    runtime.settings = runtime.settings.model_copy(update={"monetization": monetization})
    runtime.billing.close()
    runtime.billing = load_engine(
        EngineSetup(settings=runtime.settings, session_factory=runtime.session_factory)
    )
    install_monetization(runtime)


@pytest.fixture
def world(runtime: Runtime) -> World:
    return World(runtime)


@pytest.fixture
def memory_world(runtime: Runtime) -> World:
    use_engine(runtime, EXAMPLE)
    return World(runtime)


def memory_engine(world: World) -> InMemoryEngine:
    engine = MonetizationService(world.runtime).engine
    assert isinstance(engine, InMemoryEngine)
    return engine
