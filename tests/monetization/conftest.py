from __future__ import annotations

import pytest

from tests.monetization.world import World
from tests.support.rest import admin, http, identity, publisher, subscriber
from tollway.runtime import Runtime


@pytest.fixture
def world(runtime: Runtime) -> World:
    return World(runtime)


__all__ = ["admin", "http", "identity", "publisher", "subscriber", "world"]
