"""The gateway's HTTPS listener: the same proxy as on HTTP, and the backend is told which one."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx

from tests.gateway.support import Backend, GatewayThread, World
from tests.support.servers import free_port
from tollway.runtime import Runtime
from tollway.security.certificates import with_certificate


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def forwarded_proto(answer: httpx.Response) -> str:
    return next(v for k, v in answer.json()["headers"] if k.lower() == "x-forwarded-proto")


def test_the_gateway_answers_a_call_over_https(
    runtime: Runtime, world: World, backend: Backend, tmp_path: Path
) -> None:
    settings = with_certificate(
        runtime.settings.model_copy(
            update={"server": runtime.settings.server.model_copy(update={"data_dir": tmp_path})}
        )
    )
    assert settings.server.tls_cert is not None
    https_port = free_port()
    token = world.tokens["app1"]
    with GatewayThread(runtime, settings, https_port=https_port) as gateway:
        headers = {"Authorization": f"Bearer {token}"}
        over_tls = httpx.get(
            f"https://localhost:{https_port}/shop/1.0.0/echo/tls?x=1",
            headers=headers,
            verify=trusting(settings.server.tls_cert),
        )
        assert over_tls.status_code == 200, over_tls.text
        assert forwarded_proto(over_tls) == "https"
        plain = httpx.get(f"{gateway.url}/shop/1.0.0/echo/plain", headers=headers)
        assert plain.status_code == 200, plain.text
        assert forwarded_proto(plain) == "http"
        unauthorized = httpx.get(
            f"https://localhost:{https_port}/shop/1.0.0/echo/x", verify=trusting(settings.server.tls_cert)
        )
        assert unauthorized.status_code == 401
