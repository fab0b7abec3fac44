"""Real parts for gateway tests: a configurable backend, a gateway in a thread, seeded rows."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import uvloop
from aiohttp import web
from sqlalchemy import select

from tests.support.servers import free_port
from tollway.config import Settings
from tollway.db.base import utcnow
from tollway.db.session import transaction
from tollway.gateway.core import Gateway
from tollway.gateway.server import run_gateway
from tollway.identity.tokens import create_client, issue_tokens
from tollway.models import (
    Api,
    ApiKey,
    ApiPolicy,
    Application,
    Subscription,
    SubscriptionPolicy,
    Tenant,
    User,
)
from tollway.models.changes import mark_gateway_config_changed
from tollway.runtime import Runtime
from tollway.security.hashing import new_token, token_digest

# --------------------------------------------------------------------------------------------
# Backend


class Backend:
    """An aiohttp server on loopback that answers what the path asks for and counts what it sent.

    /status/{code}   answer with that status (3xx carry a Location)
    /echo/...        the request as JSON: method, path, query, headers, body length and sha256
    /hang            never answers
    /sleep/{ms}      answers 200 after a delay
    /bytes/{n}       streams n bytes
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.sent: Counter[int] = Counter()
        self.hanging = 0  # requests /hang has received
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _count(self, status: int) -> None:
        with self._lock:
            self.sent[status] += 1

    async def _status(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        code = int(request.match_info["code"])
        headers = {"Location": "/elsewhere"} if 300 <= code < 400 else {}
        self._count(code)
        return web.Response(status=code, text="x" if code not in (204, 304) else None, headers=headers)

    async def _echo(self, request: web.Request) -> web.StreamResponse:
        digest = hashlib.sha256()
        length = 0
        async for chunk in request.content.iter_chunked(65536):
            digest.update(chunk)
            length += len(chunk)
        body = {
            "method": request.method,
            "path": request.raw_path.split("?", 1)[0],
            "query": request.raw_path.partition("?")[2],
            "headers": [[k, v] for k, v in request.headers.items()],
            "length": length,
            "sha256": digest.hexdigest(),
        }
        self._count(200)
        return web.json_response(body)

    async def _hang(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            self.hanging += 1
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def _sleep(self, request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(int(request.match_info["ms"]) / 1000)
        self._count(200)
        return web.Response(text="slept")

    async def _bytes(self, request: web.Request) -> web.StreamResponse:
        total = int(request.match_info["n"])
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = total
        await response.prepare(request)
        block = bytes(range(256)) * 256  # 64 KiB
        left = total
        while left:
            piece = block[: min(left, len(block))]
            await response.write(piece)
            left -= len(piece)
        await response.write_eof()
        self._count(200)
        return response

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            app = web.Application(client_max_size=1024**3)
            app.router.add_route("*", "/status/{code}", self._status)
            app.router.add_route("*", "/echo{tail:.*}", self._echo)
            app.router.add_route("*", "/hang", self._hang)
            app.router.add_route("*", "/sleep/{ms}", self._sleep)
            app.router.add_route("*", "/bytes/{n}", self._bytes)
            runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            await self._stop.wait()
            await runner.cleanup()

        asyncio.run(main())

    def start(self) -> Backend:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("backend did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


# --------------------------------------------------------------------------------------------
# Gateway in a thread


class GatewayThread:
    """``run_gateway`` on its own uvloop in a thread, on a free loopback port (and on
    ``https_port`` too when given, with the settings' certificate)."""

    def __init__(self, runtime: Runtime, settings: Settings | None = None, *, https_port: int = 0) -> None:
        self.runtime = runtime
        self.settings = settings or runtime.settings
        self.https_port = https_port
        self.gateway: Gateway | None = None
        self.port = 0
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _on_ready(self, gateway: Gateway, port: int) -> None:
        self.gateway, self.port = gateway, port
        self._ready.set()

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            await run_gateway(
                self.settings,
                self.runtime.engine,
                host="127.0.0.1",
                port=0,
                https_port=self.https_port,
                stop=self._stop,
                on_ready=self._on_ready,
            )

        try:
            uvloop.run(main())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    def start(self) -> GatewayThread:
        self._thread.start()
        if not self._ready.wait(20) or self._error is not None:
            raise RuntimeError(f"gateway did not start: {self._error!r}")
        return self

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (sync or returning an awaitable) on the gateway's loop and wait for it."""
        assert self._loop is not None

        async def wrapped() -> Any:
            result = fn()
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(30)

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def __enter__(self) -> GatewayThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LoopLag:
    """How late a gateway's event loop runs its timers, watched while a test runs.

    A timer is due every ``step`` seconds; ``worst`` is the most any fired after it was due, in
    the loop's own clock (the clock of the gateway's deadlines and latencies). On a loaded machine
    a thread may wait hundreds of milliseconds for a core or the GIL: a timing assertion allows
    this lag instead of a guessed margin, and still fails when the gateway itself is late.
    """

    def __init__(self, gateway: GatewayThread, step: float = 0.005) -> None:
        self.gateway, self.step = gateway, step
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _watch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.step
            await asyncio.sleep(self.step)
            self.worst = max(self.worst, loop.time() - due)

    def __enter__(self) -> LoopLag:
        self._task = self.gateway.call(lambda: asyncio.ensure_future(self._watch()))
        return self

    def __exit__(self, *exc: object) -> None:
        task = self._task
        if task is not None:
            self.gateway.call(task.cancel)


# --------------------------------------------------------------------------------------------
# Rows


@dataclass
class World:
    """The ids and secrets of seeded rows."""

    tenant_id: str
    owner_id: str
    apis: dict[str, str] = field(default_factory=dict)  # name -> id
    policies: dict[str, str] = field(default_factory=dict)  # name -> id
    apps: dict[str, str] = field(default_factory=dict)  # name -> id
    tokens: dict[str, str] = field(default_factory=dict)  # app name -> bearer token
    keys: dict[str, str] = field(default_factory=dict)  # app name -> api key
    subs: dict[tuple[str, str], str] = field(default_factory=dict)  # (app, api) -> id


def default_world(runtime: Runtime) -> World:
    with transaction(runtime.session_factory) as session:
        tenant = session.scalars(select(Tenant).where(Tenant.domain == "carbon.super")).one()
        admin = session.scalars(select(User).where(User.tenant_id == tenant.id)).first()
        assert admin is not None
        return World(tenant_id=tenant.id, owner_id=admin.id)


def add_policy(runtime: Runtime, world: World, name: str, **fields: Any) -> str:
    values: dict[str, Any] = {
        "request_count": 0,
        "time_unit": "min",
        "unit_time": 1,
        "rate_limit_count": 0,
        "stop_on_quota_reach": True,
        "billing_plan": "FREE",
    }
    values.update(fields)
    with transaction(runtime.session_factory) as session:
        policy = SubscriptionPolicy(tenant_id=world.tenant_id, name=name, **values)
        session.add(policy)
        mark_gateway_config_changed(session)
        session.flush()
        world.policies[name] = policy.id
        return policy.id


def add_api(
    runtime: Runtime,
    world: World,
    name: str,
    backend_url: str,
    *,
    context: str | None = None,
    version: str = "1.0.0",
    status: str = "PUBLISHED",
    timeout_ms: int | None = None,
    tenant_id: str | None = None,
    sandbox_url: str | None = None,
) -> str:
    endpoints: dict[str, Any] = {"endpoint_type": "http", "production_endpoints": {"url": backend_url}}
    if sandbox_url:
        endpoints["sandbox_endpoints"] = {"url": sandbox_url}
    with transaction(runtime.session_factory) as session:
        api = Api(
            tenant_id=tenant_id or world.tenant_id,
            name=name,
            context=context or f"/{name}",
            version=version,
            provider="admin",
            lifecycle_status=status,
            endpoint_config=endpoints,
            backend_timeout_ms=timeout_ms,
        )
        session.add(api)
        session.flush()
        for position, policy_id in enumerate(world.policies.values()):
            session.add(ApiPolicy(api_id=api.id, policy_id=policy_id, position=position))
        mark_gateway_config_changed(session)
        world.apis[name] = api.id
        return api.id


def add_app(runtime: Runtime, world: World, name: str, *, key_type: str = "PRODUCTION") -> str:
    """An application with an OAuth key pair, one access token and one API key."""
    with transaction(runtime.session_factory) as session:
        app = Application(tenant_id=world.tenant_id, owner_id=world.owner_id, name=name)
        session.add(app)
        session.flush()
        client, _ = create_client(
            session,
            tenant_id=world.tenant_id,
            client_name=f"{name}-{key_type}",
            owner_id=world.owner_id,
            grant_types="client_credentials",
            application_id=app.id,
            key_type=key_type,
        )
        issued = issue_tokens(
            session, client=client, user=None, scopes=frozenset(), access_ttl=3600, refresh_ttl=None
        )
        key = new_token()
        session.add(
            ApiKey(
                application_id=app.id,
                tenant_id=world.tenant_id,
                key_type=key_type,
                key_hash=token_digest(key),
            )
        )
        mark_gateway_config_changed(session)
        world.apps[name] = app.id
        world.tokens[name] = issued.access_token
        world.keys[name] = key
        return app.id


def new_access_token(runtime: Runtime, world: World, app: str, *, ttl: int = 3600) -> str:
    """A fresh token from the token endpoint's code path (which does not bump the change counter)."""
    from tollway.models import OAuthClient

    with transaction(runtime.session_factory) as session:
        client = session.scalars(
            select(OAuthClient).where(OAuthClient.application_id == world.apps[app])
        ).first()
        assert client is not None
        return issue_tokens(
            session, client=client, user=None, scopes=frozenset(), access_ttl=ttl, refresh_ttl=None
        ).access_token


def subscribe(
    runtime: Runtime, world: World, app: str, api: str, policy: str, status: str = "UNBLOCKED"
) -> str:
    with transaction(runtime.session_factory) as session:
        sub = Subscription(
            tenant_id=world.tenant_id,
            application_id=world.apps[app],
            api_id=world.apis[api],
            policy_id=world.policies[policy],
            status=status,
        )
        session.add(sub)
        mark_gateway_config_changed(session)
        session.flush()
        world.subs[(app, api)] = sub.id
        return sub.id


def change(runtime: Runtime, model: Any, row_id: Any, **values: Any) -> None:
    """Update one row the way a control-plane service does: same transaction bumps the counter."""
    with transaction(runtime.session_factory) as session:
        row = session.get(model, row_id)
        assert row is not None
        for name, value in values.items():
            setattr(row, name, value)
        mark_gateway_config_changed(session)


def revoke_token(runtime: Runtime, token: str) -> None:
    from tollway.models import OAuthToken

    with transaction(runtime.session_factory) as session:
        row = session.scalars(select(OAuthToken).where(OAuthToken.token_hash == token_digest(token))).one()
        row.revoked_at = utcnow()
        mark_gateway_config_changed(session)


def revoke_key(runtime: Runtime, key: str) -> None:
    with transaction(runtime.session_factory) as session:
        row = session.scalars(select(ApiKey).where(ApiKey.key_hash == token_digest(key))).one()
        row.revoked_at = utcnow()
        mark_gateway_config_changed(session)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_until(check: Callable[[], bool], limit: float, step: float = 0.02) -> float:
    """Seconds until ``check()`` holds; AssertionError after ``limit``."""
    began = time.monotonic()
    while True:
        if check():
            return time.monotonic() - began
        if time.monotonic() - began > limit:
            raise AssertionError(f"condition not met within {limit}s")
        time.sleep(step)


def body_of(response: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(response.content)
    return data


EXPIRED = timedelta(seconds=-1)
