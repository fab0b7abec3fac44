"""``StripeFake``: the fake Stripe API served over real HTTP on loopback."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import stripe

from . import checkout, webhooks
from .app import Fault, RecordedRequest, StripeApi, default_api_version, wall_clock
from .state import Obj


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's HTTP clients expect
    wbufsize = -1  # headers and body leave in one write (flushed after each request)
    server: _Server

    def setup(self) -> None:
        super().setup()
        # no Nagle delay: small responses on a kept-alive connection would otherwise wait ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {key.lower(): value for key, value in self.headers.items()}
        response = self.server.api.handle(self.command, self.path, headers, body)
        self.send_response(response.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(response.body)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: requests are recorded in StripeFake.requests instead


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    api: StripeApi


class StripeFake:
    """A stateful fake of the Stripe API on ``127.0.0.1``, for the official ``stripe`` SDK.

    Usage::

        with StripeFake() as fake:
            fake.add_platform_account("sk_test_platform")
            client = fake.client("sk_test_platform")  # a stripe.StripeClient pointed at the fake
            client.v1.products.create({"name": "Gold"})

    Point any ``stripe.StripeClient`` at it with
    ``base_addresses={"api": fake.url, "meter_events": fake.url}`` (``fake.base_addresses``).
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, api_version: str | None = None) -> None:
        self._host = host
        self._port = port
        self._offset = 0
        self._frozen: int | None = None
        self._api = StripeApi(self.now, api_version or default_api_version())
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> StripeFake:
        if self._server is not None:
            return self
        server = _Server((self._host, self._port), _Handler)
        server.api = self._api
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="stripe-fake", daemon=True
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> StripeFake:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Stripe fake is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_addresses(self) -> dict[str, str]:
        """``base_addresses`` for a ``stripe.StripeClient`` (v1 API and the v2 meter event stream)."""
        return {"api": self.url, "meter_events": self.url, "connect": self.url, "files": self.url}

    def client(self, api_key: str, *, max_network_retries: int = 0, **options: Any) -> stripe.StripeClient:
        """A ``stripe.StripeClient`` for ``api_key`` talking to this fake (no retries by default)."""
        return stripe.StripeClient(
            api_key,
            base_addresses=self.base_addresses,  # type: ignore[arg-type]
            max_network_retries=max_network_retries,
            **options,
        )

    # ------------------------------------------------------------------ accounts

    def add_platform_account(self, secret_key: str, **fields: Any) -> str:
        """Register a secret key for a new (platform) account; return its ``acct_…`` id.

        ``fields`` override the account object (``country``, ``email``, ``default_currency``…).
        """
        return self._api.add_account(secret_key, platform=None, fields=fields)

    def add_connected_account(
        self, platform_key: str, *, secret_key: str | None = None, **fields: Any
    ) -> str:
        """A new account connected to the platform of ``platform_key``; return its ``acct_…`` id.

        The platform acts inside it with the ``Stripe-Account`` header (``options={"stripe_account":
        id}`` on SDK calls); ``secret_key`` optionally registers a key of the connected account itself.
        """
        platform = self._api.keys.get(platform_key)
        if platform is None:
            raise KeyError("unknown platform key; register it with add_platform_account first")
        return self._api.add_account(secret_key, platform=platform, fields=fields)

    # ------------------------------------------------------------------ clock

    def now(self) -> int:
        """The fake's clock (Unix seconds): the wall clock, shifted by ``advance_time``/``set_time``."""
        if self._frozen is not None:
            return self._frozen + self._offset
        return wall_clock() + self._offset

    def advance_time(self, seconds: int) -> int:
        """Move the clock forward (subscriptions renew, drafts finalize on the next request)."""
        with self._api.lock:
            self._offset += int(seconds)
            return self.now()

    def set_time(self, timestamp: int | None) -> None:
        """Freeze the clock at ``timestamp`` (``None`` goes back to the wall clock)."""
        with self._api.lock:
            self._frozen, self._offset = (None if timestamp is None else int(timestamp)), 0

    # ------------------------------------------------------------------ test hooks

    def fail_next(
        self,
        n: int = 1,
        status: int = 429,
        path_prefix: str | None = None,
        *,
        method: str | None = None,
        should_retry: bool | None = None,
        applied: bool = False,
    ) -> None:
        """Answer the next ``n`` matching requests with Stripe's error for ``status`` (429/500/503…).

        429 is Stripe's ``rate_limit`` error; 5xx an ``api_error``. ``should_retry`` sets the
        ``Stripe-Should-Retry`` header the SDK's retry logic honours. Failed requests change nothing,
        unless ``applied``: then each is carried out first and only its answer is replaced (the
        client cannot tell whether Stripe did the work, as after a timeout).
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        with self._api.lock:
            self._api.faults.append(
                Fault(n, status, path_prefix, method.upper() if method else None, should_retry, applied)
            )

    def complete_checkout_session(self, account: str, session_id: str) -> dict[str, Any]:
        """The customer pays on the hosted page: the session is ``complete`` and ``paid``; returns it
        (the ``data.object`` of the ``checkout.session.completed`` event Stripe then sends)."""
        with self._api.lock:
            return checkout.complete(self._api.accounts[account].checkout_sessions, session_id, self.now())

    def set_subscription_status(self, account: str, subscription_id: str, status: str) -> None:
        """Put a subscription in ``status``, as Stripe's dunning does when payments fail.

        The fake's payments always succeed, so ``past_due`` and ``unpaid`` come only from here;
        ``active`` ends the delinquency again.
        """
        if status not in ("active", "past_due", "unpaid"):
            raise ValueError("status must be active, past_due or unpaid")
        with self._api.lock:
            subscription = self._api.accounts[account].subscriptions[subscription_id]
            if subscription["status"] == "canceled":
                raise ValueError(f"subscription {subscription_id} is canceled")
            subscription["status"] = status

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (method, path, account, params, idempotency key, status…)."""
        with self._api.lock:
            return list(self._api.requests)

    def clear_requests(self) -> None:
        with self._api.lock:
            self._api.requests.clear()

    def meter_event_errors(self, account: str) -> list[Obj]:
        """Meter events of ``account`` refused by asynchronous validation (the v2 stream)."""
        with self._api.lock:
            return [dict(error) for error in self._api.accounts[account].meter_event_errors]

    # ------------------------------------------------------------------ webhooks

    def signed_event(
        self,
        event_type: str,
        data_object: Any,
        secret: str,
        account: str | None = None,
        timestamp: int | None = None,
        *,
        previous_attributes: dict[str, Any] | None = None,
    ) -> tuple[bytes, str]:
        """An Event in Stripe's shape and its ``Stripe-Signature`` header, as a webhook delivers them.

        ``data_object`` is a dict or a ``stripe.StripeObject``; ``account`` marks a Connect event.
        ``stripe.Webhook.construct_event(payload, header, secret)`` verifies the result.
        """
        created = self.now() if timestamp is None else int(timestamp)
        livemode = bool(account and self._api.accounts.get(account) and self._api.accounts[account].livemode)
        event = webhooks.build_event(
            event_type,
            data_object,
            created=created,
            api_version=self._api.api_version,
            livemode=livemode,
            account=account,
            previous_attributes=previous_attributes,
        )
        payload = _dumps(event)
        return payload, webhooks.sign(payload, secret, created)


def _dumps(event: Obj) -> bytes:
    return json.dumps(event, indent=2).encode()
