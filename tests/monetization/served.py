"""`tollway serve` as a real process on the test database, a tiny backend, and sign-in over HTTP.

Every port is a free one: the control plane's HTTPS (WSO2's 9443) and HTTP (9763) ports, the
gateway's HTTP (8280) and HTTPS (8243) ports. ``url``/``gateway`` are the plain-HTTP ones, for
the tests that are not about TLS; ``https_url``/``gateway_https`` the others, with ``ca`` the
certificate to trust (the instance's self-signed one unless one is configured).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.servers import ServerThread, free_port

CONNECTED_ACCOUNT = (
    '[{"name": "ConnectedAccountKey", "display_name": "ConnectedAccountKey", "required": "true",'
    ' "description": "connected account of the publisher"}]'
)


@dataclass(frozen=True)
class Served:
    url: str  # control plane, plain HTTP
    gateway: str  # gateway, plain HTTP
    https_url: str  # control plane, HTTPS (https://localhost:<port>, like the manual's URLs)
    gateway_https: str
    ca: Path  # the certificate the control plane and the gateway serve
    log: Path
    pid: int  # of the `tollway serve` process (fault tests kill it)

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def https_port(self) -> int:
        return int(self.https_url.rsplit(":", 1)[1])


@contextmanager
def tollway_serve(database_url: str, data_dir: Path, **env: str) -> Iterator[Served]:
    """Start ``tollway serve`` (control plane, gateway, scheduler) and stop it with Ctrl-C.

    ``env``: more ``TOLLWAY_*`` variables, or other values for the ones set here."""
    port, http_port, gateway_port, gateway_https_port = free_port(), free_port(), free_port(), free_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TOLLWAY_")}
    environ.update(
        TOLLWAY_DATABASE__URL=database_url,
        TOLLWAY_ADMIN_PASSWORD="admin",
        TOLLWAY_MONETIZATION__ADDITIONAL_ATTRIBUTES=CONNECTED_ACCOUNT,
    )
    environ.update(env)  # a caller's variables win over the defaults above
    log = data_dir.parent / f"serve-{port}.log"
    command = [
        sys.executable,
        "-m",
        "tollway",
        "serve",
        "--port",
        str(port),
        "--http-port",
        str(http_port),
        "--gateway-port",
        str(gateway_port),
        "--gateway-https-port",
        str(gateway_https_port),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*command, "--data-dir", str(data_dir)],
            cwd=data_dir.parent,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    configured = env.get("TOLLWAY_SERVER__TLS_CERT")
    served = Served(
        url=f"http://localhost:{http_port}",
        gateway=f"http://127.0.0.1:{gateway_port}",
        https_url=f"https://localhost:{port}",
        gateway_https=f"https://localhost:{gateway_https_port}",
        ca=Path(configured) if configured else data_dir / "tls-cert.pem",
        log=log,
        pid=proc.pid,
    )
    try:
        _wait_ready(served, proc)
        yield served
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_ready(served: Served, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"tollway serve exited:\n{served.log.read_text()}")
        try:
            health = httpx.get(f"{served.url}/health", timeout=0.5).status_code == 200
            gateway = httpx.get(f"{served.gateway}/nothing/here", timeout=0.5).status_code == 404
            if health and gateway:  # the HTTPS listeners are bound before the HTTP ones answer
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"tollway serve did not become ready:\n{served.log.read_text()}")


def _menu(request: Request) -> JSONResponse:
    return JSONResponse({"pizzas": ["margherita", "diavola"]})


def _broken(request: Request) -> JSONResponse:
    return JSONResponse({"error": "oven on fire"}, status_code=500)


@contextmanager
def pizza_backend() -> Iterator[str]:
    """The API's backend: /menu answers 200 (billable), /broken answers 500 (not billable)."""
    app = Starlette(routes=[Route("/menu", _menu), Route("/broken", _broken)])
    with ServerThread(app) as server:
        yield server.url


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expect(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in statuses, (
        f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    )
    return response.json() if response.content else None


def create_user(http: httpx.Client, name: str, role: str, email: str) -> None:
    """A user made by the admin through SCIM2, as an operator would."""
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "password": "Secret-password-1",
        "emails": [{"value": email, "primary": True}],
        "roles": [{"value": role}],
    }
    expect(http.post("/scim2/Users", json=body, headers=basic("admin", "admin")), 201)


def sign_in(http: httpx.Client, user: str, password: str, scope: str) -> str:
    """The manual's Step 4: register a client with the user's credentials, password grant."""
    registration = {
        "callbackUrl": "www.google.lk",
        "clientName": f"rest_api_{user}",
        "owner": user,
        "grantType": "password refresh_token",
        "saasApp": True,
    }
    client = expect(
        http.post("/client-registration/v0.17/register", json=registration, headers=basic(user, password)),
        200,
    )
    token = expect(
        http.post(
            "/oauth2/token",
            data={"grant_type": "password", "username": user, "password": password, "scope": scope},
            headers=basic(client["clientId"], client["clientSecret"]),
        ),
        200,
    )
    return str(token["access_token"])
