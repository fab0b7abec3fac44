"""Fixtures: a real backend on loopback, seeded rows, a gateway in a thread."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.gateway.support import (
    Backend,
    GatewayThread,
    World,
    add_api,
    add_app,
    add_policy,
    default_world,
    subscribe,
)
from tollway.runtime import Runtime


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend().start()
    yield server
    server.stop()


@pytest.fixture
def world(runtime: Runtime, backend: Backend) -> World:
    """API "shop" on the backend; application "app1" subscribed with an unlimited plan."""
    seeded = default_world(runtime)
    add_policy(runtime, seeded, "Open")
    add_api(runtime, seeded, "shop", backend.url)
    add_app(runtime, seeded, "app1")
    subscribe(runtime, seeded, "app1", "shop", "Open")
    return seeded


@pytest.fixture
def gateway(runtime: Runtime, world: World) -> Iterator[GatewayThread]:
    with GatewayThread(runtime) as running:
        yield running
