"""Dot segments cannot take a call out of its API: paths are normalised (RFC 3986 5.2.4, encoded
dots included) before routing, and a path that climbs above its API's prefix gets 400, unforwarded
and unbilled.

Requests go out through http.client, which sends the target as written (httpx would normalise the
dot segments away before the gateway saw them); the backends record every raw request line.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from tests.gateway.support import (
    GatewayThread,
    World,
    add_api,
    add_app,
    add_policy,
    default_world,
    subscribe,
    wait_until,
)
from tollway.db.session import transaction
from tollway.gateway.paths import ABOVE_ROOT, NO_CLIMB, remove_dot_segments
from tollway.models import Tenant
from tollway.models.usage import UsageEventRow, UsageRollup
from tollway.policies.service import seed_default_policies
from tollway.runtime import Runtime


class RecordingBackend:
    """A plain HTTP/1.1 server on loopback that answers 200 to anything and records each raw target."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        recorded = self.targets

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                recorded.append(self.path)
                body = json.dumps({"target": self.path}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = _answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> RecordingBackend:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


@pytest.fixture
def shop_backend() -> Iterator[RecordingBackend]:
    server = RecordingBackend().start()
    yield server
    server.stop()


@pytest.fixture
def other_backend() -> Iterator[RecordingBackend]:
    server = RecordingBackend().start()
    yield server
    server.stop()


@pytest.fixture
def apis(runtime: Runtime, shop_backend: RecordingBackend, other_backend: RecordingBackend) -> World:
    """shop 1.0.0 and 2.0.0 on one backend, "other" on another; app1 subscribed to all three."""
    world = default_world(runtime)
    add_policy(runtime, world, "Open")
    add_api(runtime, world, "shop", shop_backend.url)
    add_api(runtime, world, "shop2", f"{shop_backend.url}/v2/", context="/shop", version="2.0.0")
    add_api(runtime, world, "other", other_backend.url)
    add_app(runtime, world, "app1")
    for api in ("shop", "shop2", "other"):
        subscribe(runtime, world, "app1", api, "Open")
    return world


def call(gateway: GatewayThread, target: str, token: str, method: str = "GET") -> tuple[int, bytes]:
    """Send ``target`` exactly as written; the status and body the client got."""
    conn = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    try:
        conn.request(method, target, headers={"Authorization": f"Bearer {token}"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def stored_events(runtime: Runtime) -> list[UsageEventRow]:
    with runtime.session_factory() as session:
        return list(session.scalars(select(UsageEventRow)))


def wait_for_events(runtime: Runtime, count: int) -> list[UsageEventRow]:
    wait_until(lambda: len(stored_events(runtime)) >= count, 10, step=0.05)
    events = stored_events(runtime)
    assert len(events) == count
    return events


def assert_refused(status: int, body: bytes, target: str) -> None:
    assert status == 400, (target, status, body)
    answer = json.loads(body)
    assert answer["code"] == 400, target
    assert answer["message"] == "Bad Request", target
    assert "climb" in answer["description"], target


ESCAPES = [
    "/shop/1.0.0/../../admin/secret",
    "/shop/1.0.0/%2e%2e/%2e%2e/admin/secret",
    "/shop/1.0.0/%2E%2e/%2e%2E/admin/secret",
    "/shop/1.0.0/.%2E/%2e./admin/secret",
    "/shop/1.0.0/a/../../../admin/secret?q=1",
    "/shop/1.0.0/a/./../../x",  # as far as the context: still out of the API
    "/shop/1.0.0/..",
    "/shop/1.0.0/%2E%2E",
    "/shop/1.0.0/../1.0.0/x",  # out and back in again: refused all the same
    "/../shop/1.0.0/x",  # above the root
    "/shop/1.0.0/../../../../../../etc/passwd",
]


def test_dot_segments_climbing_out_of_the_api_get_400_and_are_neither_forwarded_nor_billed(
    runtime: Runtime, apis: World, shop_backend: RecordingBackend, other_backend: RecordingBackend
) -> None:
    with GatewayThread(runtime) as gateway:
        for target in ESCAPES:
            status, body = call(gateway, target, apis.tokens["app1"])
            assert_refused(status, body, target)
        status, body = call(gateway, "/shop/1.0.0/%2e%2e/%2e%2e/admin", apis.tokens["app1"], method="POST")
        assert_refused(status, body, "POST")
        events = wait_for_events(runtime, len(ESCAPES) + 1)
    assert shop_backend.targets == []
    assert other_backend.targets == []
    for event in events:
        assert (event.status_code, event.billable) == (400, False)
        assert (event.api_id, event.subscription_id) == (None, None)
        assert event.tenant_id == apis.tenant_id
    with runtime.session_factory() as session:
        assert session.scalar(select(func.count()).select_from(UsageRollup)) == 0


def test_a_climb_into_another_apis_prefix_neither_reaches_nor_bills_it(
    runtime: Runtime, apis: World, shop_backend: RecordingBackend, other_backend: RecordingBackend
) -> None:
    climbs = [
        "/shop/1.0.0/../../other/1.0.0/x",
        "/shop/1.0.0/%2e%2e/%2E%2E/other/1.0.0/x",
        "/shop/1.0.0/a/b/../../../../other/1.0.0/x",
        "/shop/1.0.0/../2.0.0/x",  # another version of the same context is another API
        "/other/1.0.0/../../shop/1.0.0/x",
    ]
    with GatewayThread(runtime) as gateway:
        for target in climbs:
            status, body = call(gateway, target, apis.tokens["app1"])
            assert_refused(status, body, target)
        # The APIs themselves still answer.
        assert call(gateway, "/other/1.0.0/x", apis.tokens["app1"])[0] == 200
        assert call(gateway, "/shop/2.0.0/x", apis.tokens["app1"])[0] == 200
        events = wait_for_events(runtime, len(climbs) + 2)
    assert other_backend.targets == ["/x"]
    assert shop_backend.targets == ["/v2/x"]
    refused = [e for e in events if e.status_code == 400]
    assert len(refused) == len(climbs)
    assert all(not e.billable and e.api_id is None and e.subscription_id is None for e in refused)
    with runtime.session_factory() as session:
        billed = dict(
            session.execute(
                select(UsageRollup.api_id, func.sum(UsageRollup.billable_count)).group_by(UsageRollup.api_id)
            )
            .tuples()
            .all()
        )
    assert billed == {apis.apis["other"]: 1, apis.apis["shop2"]: 1}


def test_dot_segments_that_stay_inside_the_api_reach_the_backend_normalised(
    runtime: Runtime, apis: World, shop_backend: RecordingBackend
) -> None:
    cases = [
        ("/shop/1.0.0/./a/./b", "/a/b"),
        ("/shop/1.0.0/a/b/../c", "/a/c"),
        ("/shop/1.0.0/a/%2e%2e/c", "/c"),
        ("/shop/1.0.0/a/%2E/b/.%2e/c", "/a/c"),
        ("/shop/1.0.0/a/b/%2E%2E/%2e./c", "/c"),
        ("/shop/./1.0.0/a", "/a"),  # "." segments inside the prefix change nothing
        ("/shop/1.0.0/a/..", "/"),
        ("/shop/1.0.0/a/.", "/a/"),
        ("/shop/1.0.0/.", "/"),
        # The query is not a path: its dots stay.
        ("/shop/1.0.0/a/../b?x=/../y&z=%2e%2e/.", "/b?x=/../y&z=%2e%2e/."),
        ("/shop/1.0.0/a?x=/../../y", "/a?x=/../../y"),
        # Encoded slashes are not separators: "a%2F.." is one segment, kept as sent.
        ("/shop/1.0.0/a%2F..%2F..%2Fb", "/a%2F..%2F..%2Fb"),
        ("/shop/1.0.0/x/./a%2F..%2Fb/../c", "/x/c"),
        ("/shop/1.0.0/x/%2e/a%2f%2e%2e", "/x/a%2f%2e%2e"),
        # Segments that only look like dots are kept.
        ("/shop/1.0.0/.well-known/a...b/%2e%2e%2e/%2ex", "/.well-known/a...b/%2e%2e%2e/%2ex"),
        ("/shop/1.0.0/%252e%252e/x", "/%252e%252e/x"),
        # The endpoint's base path plus the normalised rest.
        ("/shop/2.0.0/a/../b", "/v2/b"),
        ("/shop/2.0.0/a/..", "/v2/"),
    ]
    with GatewayThread(runtime) as gateway:
        for target, _ in cases:
            status, body = call(gateway, target, apis.tokens["app1"])
            assert status == 200, (target, status, body)
        events = wait_for_events(runtime, len(cases))
    assert shop_backend.targets == [expected for _, expected in cases]
    assert all(e.billable and e.status_code == 200 for e in events)
    with runtime.session_factory() as session:
        billed = session.scalar(select(func.sum(UsageRollup.billable_count)))
    assert billed == len(cases)


def test_tenant_paths_are_normalised_and_confined_to_their_api(
    runtime: Runtime, apis: World, shop_backend: RecordingBackend, other_backend: RecordingBackend
) -> None:
    with transaction(runtime.session_factory) as session:
        tenant = Tenant(domain="wso2.com", config={})
        session.add(tenant)
        session.flush()
        seed_default_policies(session, tenant.id)
        tenant_id = tenant.id
    tenant_world = default_world(runtime)
    tenant_world.tenant_id = tenant_id
    add_policy(runtime, tenant_world, "Open")
    add_api(runtime, tenant_world, "pets", other_backend.url, context="/pets")
    add_app(runtime, tenant_world, "tenant-app")
    subscribe(runtime, tenant_world, "tenant-app", "pets", "Open")
    token = tenant_world.tokens["tenant-app"]
    inside = [
        ("/t/wso2.com/pets/1.0.0/a/../b", "/b"),
        ("/t/wso2.com/pets/1.0.0/./a/%2e%2e/c/.", "/c/"),
        ("/t/wso2.com/./pets/1.0.0/d", "/d"),
    ]
    escapes = [
        "/t/wso2.com/pets/1.0.0/../../../../shop/1.0.0/x",  # into the default tenant's API
        "/t/wso2.com/pets/1.0.0/%2e%2e/%2e%2e/%2e%2e/other.com/pets/1.0.0/x",  # into another tenant
        "/t/wso2.com/pets/1.0.0/../2.0.0/x",
        "/t/wso2.com/pets/1.0.0/../../../../../admin",
        "/t/wso2.com/../../shop/1.0.0/x",
    ]
    with GatewayThread(runtime) as gateway:
        for target, _ in inside:
            status, body = call(gateway, target, token)
            assert status == 200, (target, status, body)
        for target in escapes:
            status, body = call(gateway, target, token)
            assert_refused(status, body, target)
        # A default-tenant path cannot climb into the tenant's API either.
        status, body = call(gateway, "/shop/1.0.0/../../t/wso2.com/pets/1.0.0/x", apis.tokens["app1"])
        assert_refused(status, body, "default -> tenant")
        events = wait_for_events(runtime, len(inside) + len(escapes) + 1)
    assert other_backend.targets == [expected for _, expected in inside]
    assert shop_backend.targets == []
    refused = [e for e in events if e.status_code == 400]
    assert len(refused) == len(escapes) + 1
    assert all(not e.billable and e.api_id is None and e.subscription_id is None for e in refused)
    assert sorted(e.tenant_id for e in refused) == sorted([tenant_id] * len(escapes) + [apis.tenant_id])
    served = [e for e in events if e.status_code == 200]
    assert {(e.tenant_id, e.api_id, e.billable) for e in served} == {
        (tenant_id, tenant_world.apis["pets"], True)
    }


@pytest.mark.parametrize(
    ("path", "normal", "floor"),
    [
        # RFC 3986 5.2.4 and 5.4 (absolute paths).
        (b"/a/b/c/./../../g", b"/a/g", 1),
        (b"/b/c/./g", b"/b/c/g", NO_CLIMB),
        (b"/b/c/g/.", b"/b/c/g/", NO_CLIMB),
        (b"/b/c/g/..", b"/b/c/", 2),
        (b"/b/c/../../g", b"/g", 0),
        (b"/a//..", b"/a/", 1),
        (b"/a/%2E%2e/b/%2e/c/.%2E", b"/b/", 0),
        (b"/a%2Fb/..", b"/", 0),
        (b"/../a", b"/../a", ABOVE_ROOT),
        (b"/a/%2e%2e/%2e%2e/b", b"/a/%2e%2e/%2e%2e/b", ABOVE_ROOT),
        (b"/", b"/", NO_CLIMB),
    ],
)
def test_remove_dot_segments(path: bytes, normal: bytes, floor: int) -> None:
    assert remove_dot_segments(path) == (normal, floor)
