from __future__ import annotations

import pytest

from tests.billing.example_engine import InMemoryEngine
from tests.monetization.world import World
from tollway.monetization.setup import install_monetization, monetization_of
from tollway.runtime import Runtime

EXAMPLE = "tests.billing.example_engine:InMemoryEngine"


def use_engine(runtime: Runtime, setting: str) -> None:
    """Switch the runtime to another engine, as ``[monetization] engine = setting`` would."""
    monetization = runtime.settings.monetization.model_copy(update={"engine": setting})
    runtime.settings = runtime.settings.model_copy(update={"monetization": monetization})
    install_monetization(runtime)


@pytest.fixture
def world(runtime: Runtime) -> World:
    return World(runtime)


@pytest.fixture
def memory_world(runtime: Runtime) -> World:
    use_engine(runtime, EXAMPLE)
    return World(runtime)


def memory_engine(world: World) -> InMemoryEngine:
    engine = monetization_of(world.runtime).engine
    assert isinstance(engine, InMemoryEngine)
    return engine
