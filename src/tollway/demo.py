"""``tollway demo``: the manual's whole monetization scenario, on the embedded default, in one go.

Starts a complete Tollway (control plane, gateway, scheduler; SQLite and the ledger engine in a
fresh data folder) and a tiny pizza backend on free loopback ports, then plays every role over
HTTP, printing each step: the admin's paid business plan, the publisher's API and its
monetization, a subscriber's application, subscription and keys, calls through the gateway,
usage publishing (the manual's Step 4 calls), the invoice, and the publisher's revenue.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tollway.bootstrap import admin_password
from tollway.config import Settings, load_settings
from tollway.runtime import Runtime
from tollway.server import background_services, prepare
from tollway.web.app import create_app

PRICE = "0.004"
CALLS = 250
FAILED_CALLS = 5
PASSWORD = "Demo-password-1"  # noqa: S105 - the demo users' password, in a throwaway instance
ADMIN_API = "/api/am/admin/v1"
PUBLISHER_API = "/api/am/publisher/v1"
STORE_API = "/api/am/store/v1"
CONNECTED_ACCOUNT = {
    "name": "ConnectedAccountKey",
    "display_name": "ConnectedAccountKey",
    "required": "true",
    "description": "connected account of the publisher",
}


class DemoError(click.ClickException):
    pass


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- the servers --------------------------------------------------------------------------------


async def _menu(request: Request) -> JSONResponse:
    return JSONResponse({"pizzas": ["margherita", "diavola", "quattro formaggi"]})


async def _oven(request: Request) -> JSONResponse:
    return JSONResponse({"error": "the oven is on fire"}, status_code=500)


def _quiet_server(app: Any, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    return uvicorn.Server(config)


@dataclass
class Stack:
    control_plane: str
    gateway: str
    backend: str


@contextlib.contextmanager
def running_stack(settings: Settings) -> Iterator[Stack]:
    """Tollway as `tollway serve` runs it, plus the backend, in a thread with its own event loop."""
    runtime: Runtime = prepare(settings)
    backend_port = _free_port()
    stack = Stack(
        control_plane=f"http://127.0.0.1:{settings.server.http_port}",
        gateway=f"http://127.0.0.1:{settings.server.gateway_port}",
        backend=f"http://127.0.0.1:{backend_port}",
    )
    ready = threading.Event()
    failure: list[BaseException] = []
    stop: list[asyncio.Event] = []
    loop_box: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        stop.append(asyncio.Event())
        loop_box.append(asyncio.get_running_loop())
        control = _quiet_server(create_app(runtime), settings.server.http_port)
        backend = _quiet_server(
            Starlette(routes=[Route("/menu", _menu), Route("/oven", _oven)]), backend_port
        )
        services = [asyncio.create_task(start(runtime)) for start in background_services(runtime)]
        servers = [asyncio.create_task(control.serve()), asyncio.create_task(backend.serve())]
        while not (control.started and backend.started):
            if any(task.done() for task in servers + services):
                raise DemoError("Tollway could not start (is a port taken?)")
            await asyncio.sleep(0.02)
        ready.set()
        await stop[0].wait()
        control.should_exit = backend.should_exit = True
        await asyncio.gather(*servers, return_exceptions=True)
        for task in services:
            task.cancel()
        await asyncio.gather(*services, return_exceptions=True)

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)
            ready.set()

    thread = threading.Thread(target=run, name="tollway-demo", daemon=True)
    thread.start()
    ready.wait(60)
    if failure:
        runtime.close()
        raise DemoError(f"Tollway could not start: {failure[0]}")
    try:
        _wait_gateway(stack.gateway)
        yield stack
    finally:
        if loop_box and stop:
            loop_box[0].call_soon_threadsafe(stop[0].set)
        thread.join(30)
        runtime.close()


def _wait_gateway(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{url}/nothing/here", timeout=1).status_code == 404:
                return
        time.sleep(0.05)
    raise DemoError("the gateway did not start")


# -- the scenario -------------------------------------------------------------------------------


def _say(step: str, detail: str = "") -> None:
    click.secho(f"\n== {step}", bold=True)
    if detail:
        click.echo(detail)


def _check(response: httpx.Response, *expected: int) -> Any:
    if response.status_code not in expected:
        raise DemoError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text}"
        )
    return response.json() if response.content else None


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _shown(attributes: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in attributes.items() if value not in (None, 0)}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _sign_in(http: httpx.Client, user: str, password: str, scope: str) -> str:
    registration = {
        "callbackUrl": "www.google.lk",
        "clientName": f"demo_{user}",
        "owner": user,
        "grantType": "password refresh_token",
        "saasApp": True,
    }
    client = _check(
        http.post("/client-registration/v0.17/register", json=registration, headers=_basic(user, password)),
        200,
    )
    form = {"grant_type": "password", "username": user, "password": password, "scope": scope}
    token = _check(
        http.post("/oauth2/token", data=form, headers=_basic(client["clientId"], client["clientSecret"])), 200
    )
    return str(token["access_token"])


def _user(http: httpx.Client, admin: tuple[str, str], name: str, role: str, email: str) -> None:
    body = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "password": PASSWORD,
        "emails": [{"value": email, "primary": True}],
        "roles": [{"value": role}],
    }
    _check(http.post("/scim2/Users", json=body, headers=_basic(*admin)), 201, 409)


def _publish_usage(http: httpx.Client, token: str) -> dict[str, Any]:
    accepted = _check(http.post(f"{ADMIN_API}/monetization/publish-usage", headers=_bearer(token)), 202)
    click.echo(f"   POST {ADMIN_API}/monetization/publish-usage -> 202 {json.dumps(accepted)}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = _check(
            http.get(f"{ADMIN_API}/monetization/publish-usage/status", headers=_bearer(token)), 200
        )
        if status["state"] == "COMPLETED":
            click.echo(f"   GET  {ADMIN_API}/monetization/publish-usage/status -> {json.dumps(status)}")
            return dict(status)
        time.sleep(0.1)
    raise DemoError("usage publishing did not complete within a minute")


def play(stack: Stack, admin_secret: str) -> None:
    with (
        httpx.Client(base_url=stack.control_plane, timeout=30) as http,
        httpx.Client(base_url=stack.gateway, timeout=30) as gateway,
    ):
        _say(
            "Users", "The admin creates a publisher and a subscriber (SCIM2), and everyone signs in (OAuth2)."
        )
        admin = ("admin", admin_secret)
        _user(http, admin, "publisher1", "Internal/publisher", "publisher1@example.com")
        _user(http, admin, "subscriber1", "Internal/subscriber", "subscriber1@example.com")
        admin_token = _sign_in(http, *admin, "apim:tier_manage apim:monetization_usage_publish")
        publisher = _sign_in(
            http,
            "publisher1",
            PASSWORD,
            "apim:api_view apim:api_create apim:api_publish apim:subscription_view",
        )
        dev = _sign_in(http, "subscriber1", PASSWORD, "apim:subscribe apim:app_manage apim:sub_manage")

        plan = {
            "policyName": "Premium",
            "displayName": "Premium",
            "description": "Pay per request",
            "defaultLimit": {
                "type": "RequestCountLimit",
                "requestCount": {"timeUnit": "min", "unitTime": 1, "requestCount": 100000},
            },
            "billingPlan": "COMMERCIAL",
            "monetization": {
                "monetizationPlan": "DynamicRate",
                "properties": {"pricePerRequest": PRICE, "currencyType": "USD", "billingCycle": "month"},
            },
        }
        _check(
            http.post(
                f"{ADMIN_API}/throttling/policies/subscription", json=plan, headers=_bearer(admin_token)
            ),
            201,
        )
        _say(
            "Step 1 - business plan",
            f"Admin: plan 'Premium', DynamicRate, {PRICE} USD per request, billed monthly.",
        )

        api = {
            "name": "PizzaShackAPI",
            "context": "/pizzashack",
            "version": "1.0.0",
            "policies": ["Premium"],
            "endpointConfig": {"endpoint_type": "http", "production_endpoints": {"url": stack.backend}},
        }
        api_id = _check(http.post(f"{PUBLISHER_API}/apis", json=api, headers=_bearer(publisher)), 201)["id"]
        _check(
            http.post(
                f"{PUBLISHER_API}/apis/change-lifecycle",
                params={"apiId": api_id, "action": "Publish"},
                headers=_bearer(publisher),
            ),
            200,
        )
        monetized = _check(
            http.post(
                f"{PUBLISHER_API}/apis/{api_id}/monetize",
                json={"enabled": True, "properties": {"ConnectedAccountKey": "acct_demo_pizzashack"}},
                headers=_bearer(publisher),
            ),
            201,
        )
        _say(
            "Step 2 - monetize the API",
            f"Publisher: PizzaShackAPI 1.0.0 on {stack.backend}, published and monetized.\n"
            f"   tier -> billing plan: {json.dumps(monetized['properties'])}",
        )

        listed = _check(http.get(f"{STORE_API}/apis/{api_id}", headers=_bearer(dev)), 200)
        tier = next(t for t in listed["tiers"] if t["tierName"] == "Premium")
        app_id = _check(
            http.post(f"{STORE_API}/applications", json={"name": "PizzaApp"}, headers=_bearer(dev)), 201
        )["applicationId"]
        subscription = {"applicationId": app_id, "apiId": api_id, "throttlingPolicy": "Premium"}
        sub_id = _check(
            http.post(f"{STORE_API}/subscriptions", json=subscription, headers=_bearer(dev)), 201
        )["subscriptionId"]
        keys = _check(
            http.post(
                f"{STORE_API}/applications/{app_id}/generate-keys",
                json={
                    "keyType": "PRODUCTION",
                    "grantTypesToBeSupported": ["client_credentials"],
                    "validityTime": 3600,
                },
                headers=_bearer(dev),
            ),
            200,
        )
        _say(
            "Step 3 - subscribe",
            f"Subscriber sees the price {json.dumps(_shown(tier['monetizationAttributes']))},\n"
            f"   creates PizzaApp, subscribes with Premium (subscription {sub_id}) and gets an access token.",
        )

        app_token = _bearer(keys["token"]["accessToken"])
        deadline = time.monotonic() + 15  # the gateway reloads its configuration within a moment
        while gateway.get("/pizzashack/1.0.0/menu", headers=app_token).status_code != 200:
            if time.monotonic() > deadline:
                raise DemoError("the gateway did not start serving the subscription")
            time.sleep(0.1)
        for _ in range(CALLS - 1):
            _check(gateway.get("/pizzashack/1.0.0/menu", headers=app_token), 200)
        for _ in range(FAILED_CALLS):
            _check(gateway.get("/pizzashack/1.0.0/oven", headers=app_token), 500)
        _say(
            "Calls through the gateway",
            f"   {CALLS} x GET {stack.gateway}/pizzashack/1.0.0/menu -> 200 (billable)\n"
            f"   {FAILED_CALLS} x GET {stack.gateway}/pizzashack/1.0.0/oven -> 500 (recorded, not billed)",
        )

        time.sleep(3)  # the publisher leaves the last two seconds to calls still being written
        _say("Step 4 - publish usage to the billing engine (the manual's admin REST calls)")
        _publish_usage(http, admin_token)

        usage = _check(http.get(f"{STORE_API}/subscriptions/{sub_id}/usage", headers=_bearer(dev)), 200)
        invoice = usage["invoice"]
        lines = "\n".join(
            f"   {line['description']}: {line['quantity']} x {line['unitAmount']} "
            f"= {line['amount']} {invoice['currency']}"
            for line in invoice["lines"]
        )
        _say(
            "Step 5 - the subscriber's invoice (open billing period, computed live)",
            f"   period {usage['properties']['Period Start']} - {usage['properties']['Period End']}\n"
            f"{lines}\n"
            f"   total {invoice['total']} {invoice['currency']}, amount due {invoice['amountDue']}",
        )
        expected = format(Decimal(PRICE) * CALLS, ".2f")
        if invoice["total"] != expected:
            raise DemoError(f"the invoice total is {invoice['total']}, expected {expected}")

        revenue = _check(http.get(f"{PUBLISHER_API}/apis/{api_id}/revenue", headers=_bearer(publisher)), 200)
        _say("The publisher's revenue", f"   {json.dumps(revenue['properties'])}")

        _say("Publishing again changes nothing")
        _publish_usage(http, admin_token)
        again = _check(http.get(f"{STORE_API}/subscriptions/{sub_id}/usage", headers=_bearer(dev)), 200)
        if again != usage:
            raise DemoError("publishing twice changed the invoice")
        click.echo(f"   invoice total still {again['invoice']['total']} {again['invoice']['currency']}")


def run_demo(data_dir: Path | None) -> None:
    for name in ("tollway", "uvicorn", "alembic"):
        logging.getLogger(name).setLevel(logging.ERROR)
    temporary = data_dir is None
    folder = Path(tempfile.mkdtemp(prefix="tollway-demo-")) if data_dir is None else data_dir
    try:
        settings = load_settings(
            None,
            environ={},
            overrides={
                # The control plane's plain-HTTP port and the gateway's HTTP port; no HTTPS.
                "server": {
                    "data_dir": str(folder),
                    "port": _free_port(),
                    "http_port": _free_port(),
                    "gateway_port": _free_port(),
                    "gateway_https_port": 0,
                },
                "monetization": {"additional_attributes": [CONNECTED_ACCOUNT]},
            },
        )
        click.secho(
            "Tollway demo: the monetization manual, end to end, on the built-in ledger engine", bold=True
        )
        click.echo(f"data folder {folder}{' (temporary)' if temporary else ''}")
        with running_stack(settings) as stack:
            click.echo(
                f"control plane {stack.control_plane}, gateway {stack.gateway}, backend {stack.backend}"
            )
            play(stack, admin_password(settings.server.host))
        click.secho("\nDone: every step worked.", bold=True, fg="green")
    finally:
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
