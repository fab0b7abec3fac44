"""What a caller and a backend see through the gateway: requests intact, answers intact, refusals as JSON."""

from __future__ import annotations

import hashlib
import re
import socket

import httpx
import pytest

from tests.gateway.support import (
    Backend,
    GatewayThread,
    World,
    add_api,
    add_app,
    add_policy,
    bearer,
    body_of,
    subscribe,
    wait_until,
)
from tollway.db.session import transaction
from tollway.models import Tenant
from tollway.policies.service import seed_default_policies
from tollway.runtime import Runtime


def headers_of(echo: dict[str, object]) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for name, value in echo["headers"]:  # type: ignore[attr-defined]
        seen.setdefault(name.lower(), []).append(value)
    return seen


def test_method_path_query_headers_and_body_reach_the_backend_intact(
    gateway: GatewayThread, world: World, backend: Backend
) -> None:
    payload = bytes(range(256)) * 40
    response = httpx.request(
        "PATCH",
        f"{gateway.url}/shop/1.0.0/echo/items/42?q=a%20b&q=c&empty=",
        content=payload,
        headers={**bearer(world.tokens["app1"]), "X-Custom": "kept", "Content-Type": "application/x-thing"},
    )
    assert response.status_code == 200
    echo = body_of(response)
    assert echo["method"] == "PATCH"
    assert echo["path"] == "/echo/items/42"
    assert echo["query"] == "q=a%20b&q=c&empty="
    assert echo["length"] == len(payload)
    assert echo["sha256"] == hashlib.sha256(payload).hexdigest()
    seen = headers_of(echo)
    assert seen["x-custom"] == ["kept"]
    assert seen["content-type"] == ["application/x-thing"]
    assert "authorization" not in seen  # the caller's credentials stay at the gateway
    assert seen["host"] == [f"127.0.0.1:{backend.port}"]
    assert seen["x-forwarded-for"] == ["127.0.0.1"]
    assert seen["x-forwarded-proto"] == ["http"]
    assert seen["x-forwarded-host"] == [f"127.0.0.1:{gateway.port}"]


def test_api_key_is_accepted_and_removed_while_other_authorization_passes_through(
    gateway: GatewayThread, world: World
) -> None:
    response = httpx.get(
        f"{gateway.url}/shop/1.0.0/echo",
        headers={
            "apikey": world.keys["app1"],
            "Authorization": "Basic dXNlcjpwdw==",
            "X-Forwarded-For": "10.1.1.1",
        },
    )
    assert response.status_code == 200
    seen = headers_of(body_of(response))
    assert "apikey" not in seen
    assert seen["authorization"] == ["Basic dXNlcjpwdw=="]  # not the gateway's credential
    assert seen["x-forwarded-for"] == ["10.1.1.1, 127.0.0.1"]


def test_large_bodies_stream_both_ways_without_corruption(gateway: GatewayThread, world: World) -> None:
    upload = hashlib.sha256(b"seed").digest() * (24 * 1024 * 1024 // 32)  # 24 MiB

    def chunks() -> object:
        for start in range(0, len(upload), 1 << 20):
            yield upload[start : start + (1 << 20)]

    with httpx.Client(timeout=60) as client:
        # A generator body goes out chunked: the gateway re-frames it for the backend.
        response = client.post(
            f"{gateway.url}/shop/1.0.0/echo", content=chunks(), headers=bearer(world.tokens["app1"])
        )
        assert response.status_code == 200
        assert body_of(response)["length"] == len(upload)
        assert body_of(response)["sha256"] == hashlib.sha256(upload).hexdigest()

        size = 64 * 1024 * 1024 + 7
        digest = hashlib.sha256()
        received = 0
        with client.stream(
            "GET", f"{gateway.url}/shop/1.0.0/bytes/{size}", headers=bearer(world.tokens["app1"])
        ) as stream:
            assert stream.status_code == 200
            for piece in stream.iter_raw():
                digest.update(piece)
                received += len(piece)
        block = bytes(range(256)) * 256
        expected = hashlib.sha256()
        left = size
        while left:
            expected.update(block[: min(left, len(block))])
            left -= min(left, len(block))
        assert received == size
        assert digest.hexdigest() == expected.hexdigest()


def test_head_and_redirect_answers_keep_the_connection_usable(gateway: GatewayThread, world: World) -> None:
    with httpx.Client(headers=bearer(world.tokens["app1"]), follow_redirects=False) as client:
        assert client.head(f"{gateway.url}/shop/1.0.0/bytes/1000").status_code == 200
        redirect = client.get(f"{gateway.url}/shop/1.0.0/status/302")
        assert redirect.status_code == 302
        assert redirect.headers["location"] == "/elsewhere"
        assert client.get(f"{gateway.url}/shop/1.0.0/status/204").status_code == 204
        assert client.get(f"{gateway.url}/shop/1.0.0/echo").status_code == 200


def test_pipelined_requests_are_answered_in_order(gateway: GatewayThread, world: World) -> None:
    token = world.tokens["app1"]
    auth = f"Authorization: Bearer {token}\r\n"
    requests = b"".join(
        f"GET /shop/1.0.0/status/{code} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode()
        for code in (201, 404, 202)
    )
    requests += b"GET /nowhere/1/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(requests)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", received)
    assert statuses == [b"201", b"404", b"202", b"404"]


@pytest.mark.parametrize(
    ("headers", "path", "status", "words"),
    [
        ({}, "/shop/1.0.0/echo", 401, "Missing credentials"),
        ({"Authorization": "Bearer not-a-token"}, "/shop/1.0.0/echo", 401, "Invalid credentials"),
        ({"apikey": "not-a-key"}, "/shop/1.0.0/echo", 401, "Invalid credentials"),
        ({}, "/shop/2.0.0/echo", 404, "No published API"),
        ({}, "/t/nowhere.com/shop/1.0.0/echo", 404, "No published API"),
    ],
)
def test_gateway_refusals_are_json_with_code_message_description(
    gateway: GatewayThread, world: World, headers: dict[str, str], path: str, status: int, words: str
) -> None:
    response = httpx.get(f"{gateway.url}{path}", headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    body = body_of(response)
    assert body["code"] == status
    assert body["message"]
    assert words in body["description"]


def test_an_application_without_a_subscription_gets_403(
    runtime: Runtime, gateway: GatewayThread, world: World
) -> None:
    add_app(runtime, world, "stranger")
    wait_until(
        lambda: (
            httpx.get(f"{gateway.url}/shop/1.0.0/echo", headers=bearer(world.tokens["stranger"])).status_code
            == 403
        ),
        2,
    )
    body = body_of(httpx.get(f"{gateway.url}/shop/1.0.0/echo", headers=bearer(world.tokens["stranger"])))
    assert body["description"] == "The application is not subscribed to this API"


def test_only_published_and_deprecated_apis_are_served(
    runtime: Runtime, backend: Backend, world: World
) -> None:
    for status in ("CREATED", "PROTOTYPED", "PUBLISHED", "DEPRECATED", "RETIRED", "BLOCKED"):
        add_api(runtime, world, status.lower(), backend.url)
        subscribe(runtime, world, "app1", status.lower(), "Open")
        from tests.gateway.support import change
        from tollway.models import Api

        change(runtime, Api, world.apis[status.lower()], lifecycle_status=status)
    with GatewayThread(runtime) as gateway:
        for status in ("CREATED", "PROTOTYPED", "PUBLISHED", "DEPRECATED", "RETIRED", "BLOCKED"):
            response = httpx.get(
                f"{gateway.url}/{status.lower()}/1.0.0/echo", headers=bearer(world.tokens["app1"])
            )
            assert response.status_code == (200 if status in ("PUBLISHED", "DEPRECATED") else 404), status


def test_tenant_apis_live_under_t_domain_and_nowhere_else(runtime: Runtime, backend: Backend) -> None:
    from tests.gateway.support import default_world

    with transaction(runtime.session_factory) as session:
        tenant = Tenant(domain="wso2.com", config={})
        session.add(tenant)
        session.flush()
        seed_default_policies(session, tenant.id)
        tenant_id = tenant.id
    world = default_world(runtime)
    world.tenant_id = tenant_id
    add_policy(runtime, world, "Open")
    add_api(runtime, world, "pets", backend.url, context="/pets")
    add_app(runtime, world, "tenant-app")
    subscribe(runtime, world, "tenant-app", "pets", "Open")
    with GatewayThread(runtime) as gateway:
        ok = httpx.get(
            f"{gateway.url}/t/wso2.com/pets/1.0.0/echo/x", headers=bearer(world.tokens["tenant-app"])
        )
        assert ok.status_code == 200
        assert body_of(ok)["path"] == "/echo/x"
        assert (
            httpx.get(
                f"{gateway.url}/pets/1.0.0/echo/x", headers=bearer(world.tokens["tenant-app"])
            ).status_code
            == 404
        )


def test_endpoint_base_path_is_kept_and_the_api_root_maps_to_it(
    runtime: Runtime, backend: Backend, world: World
) -> None:
    add_api(runtime, world, "based", f"{backend.url}/echo/base/", context="/based")
    subscribe(runtime, world, "app1", "based", "Open")
    with GatewayThread(runtime) as gateway:
        auth = bearer(world.tokens["app1"])
        assert (
            body_of(httpx.get(f"{gateway.url}/based/1.0.0/a/b?x=1", headers=auth))["path"] == "/echo/base/a/b"
        )
        assert body_of(httpx.get(f"{gateway.url}/based/1.0.0", headers=auth))["path"] == "/echo/base/"
        root_query = body_of(httpx.get(f"{gateway.url}/based/1.0.0?x=1", headers=auth))
        assert (root_query["path"], root_query["query"]) == ("/echo/base/", "x=1")
        # Whole segments only: /based/1.0.0x is not this API.
        assert httpx.get(f"{gateway.url}/based/1.0.0x/a", headers=auth).status_code == 404


def test_a_malformed_request_gets_400_and_the_connection_is_closed(gateway: GatewayThread) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(b"GET /shop/1.0.0/echo HTTP/1.1\r\nHost x\r\n\r\n")
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 400 ")
    assert b'"code": 400' in received


def test_a_client_that_half_closes_after_its_request_still_gets_the_answer(
    gateway: GatewayThread, world: World
) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        auth = f"Authorization: Bearer {world.tokens['app1']}\r\n"
        sock.sendall(f"GET /shop/1.0.0/sleep/200 HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200 ")
    assert received.endswith(b"slept")
