"""The fake's request pipeline, independent of the HTTP server that feeds it.

route -> injected fault -> authentication -> Stripe-Account -> catch up with the clock ->
idempotent replay -> parameter validation against the SDK's TypedDict -> handler -> ``expand``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import stripe
import stripe.params as p
import stripe.params.billing as pb
import stripe.params.checkout as pc
from stripe.params.v2.billing import (
    MeterEventCreateParams as V2MeterEventCreateParams,
)
from stripe.params.v2.billing import (
    MeterEventSessionCreateParams,
    MeterEventStreamCreateParams,
)

from . import accounts, billing, catalog, checkout, customers, metering
from .encoding import parse_form
from .errors import StripeError, mask_key
from .ids import new_id
from .rendering import expand
from .schema import validate
from .state import AccountState, Ctx, IdempotencyRecord, MeterEventSession, Obj

Handler = Callable[..., Obj]
IDEMPOTENCY_TTL = 24 * 3600


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    params: type | None
    handler: Handler
    v2: bool = False
    session_auth: bool = False  # the v2 meter event stream authenticates with a session token


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received, for assertions in tests."""

    method: str
    path: str
    account: str | None
    params: dict[str, Any]
    idempotency_key: str | None
    status: int
    api_key: str | None = None
    stripe_version: str | None = None
    replayed: bool = False


@dataclass
class Fault:
    remaining: int
    status: int
    path_prefix: str | None
    method: str | None
    should_retry: bool | None
    applied: bool = False  # carried out, then the answer is lost (a timeout or a reset connection)


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def _route(method: str, path: str, params: type | None, handler: Handler, **flags: bool) -> Route:
    pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")
    return Route(method, pattern, params, handler, **flags)


class StripeApi:
    """All accounts, keys and sessions of one fake, and the pipeline that serves requests."""

    def __init__(self, clock: Callable[[], int], api_version: str) -> None:
        self.clock = clock
        self.api_version = api_version
        self.lock = threading.RLock()
        self.accounts: dict[str, AccountState] = {}
        self.keys: dict[str, str] = {}  # secret key -> account id
        self.sessions: dict[str, MeterEventSession] = {}
        self.faults: list[Fault] = []
        self.requests: list[RecordedRequest] = []
        self.routes = self._routes()

    # ------------------------------------------------------------------ routes

    def _routes(self) -> list[Route]:
        a, c, m, cu, b = accounts, catalog, metering, customers, billing
        return [
            _route("POST", "/v1/products", p.ProductCreateParams, c.create_product),
            _route("GET", "/v1/products", p.ProductListParams, c.list_products),
            _route("GET", "/v1/products/{id}", p.ProductRetrieveParams, c.retrieve_product),
            _route("POST", "/v1/products/{id}", p.ProductUpdateParams, c.update_product),
            _route("DELETE", "/v1/products/{id}", p.ProductDeleteParams, c.delete_product),
            _route("POST", "/v1/prices", p.PriceCreateParams, c.create_price),
            _route("GET", "/v1/prices", p.PriceListParams, c.list_prices),
            _route("GET", "/v1/prices/{id}", p.PriceRetrieveParams, c.retrieve_price),
            _route("POST", "/v1/prices/{id}", p.PriceUpdateParams, c.update_price),
            _route("POST", "/v1/billing/meters", pb.MeterCreateParams, m.create_meter),
            _route("GET", "/v1/billing/meters", pb.MeterListParams, m.list_meters),
            _route("GET", "/v1/billing/meters/{id}", pb.MeterRetrieveParams, m.retrieve_meter),
            _route("POST", "/v1/billing/meters/{id}", pb.MeterUpdateParams, m.update_meter),
            _route(
                "POST", "/v1/billing/meters/{id}/deactivate", pb.MeterDeactivateParams, m.deactivate_meter
            ),
            _route(
                "POST", "/v1/billing/meters/{id}/reactivate", pb.MeterReactivateParams, m.reactivate_meter
            ),
            _route(
                "GET",
                "/v1/billing/meters/{id}/event_summaries",
                pb.MeterEventSummaryListParams,
                m.list_event_summaries,
            ),
            _route("POST", "/v1/billing/meter_events", pb.MeterEventCreateParams, m.create_meter_event),
            _route(
                "POST",
                "/v1/billing/meter_event_adjustments",
                pb.MeterEventAdjustmentCreateParams,
                m.create_meter_event_adjustment,
            ),
            _route(
                "POST", "/v2/billing/meter_events", V2MeterEventCreateParams, m.create_v2_meter_event, v2=True
            ),
            _route(
                "POST",
                "/v2/billing/meter_event_session",
                MeterEventSessionCreateParams,
                m.create_meter_event_session,
                v2=True,
            ),
            _route(
                "POST",
                "/v2/billing/meter_event_stream",
                MeterEventStreamCreateParams,
                m.create_meter_event_stream,
                v2=True,
                session_auth=True,
            ),
            _route("POST", "/v1/customers", p.CustomerCreateParams, cu.create_customer),
            _route("GET", "/v1/customers", p.CustomerListParams, cu.list_customers),
            _route("GET", "/v1/customers/search", p.CustomerSearchParams, cu.search_customers),
            _route("GET", "/v1/customers/{id}", p.CustomerRetrieveParams, cu.retrieve_customer),
            _route("POST", "/v1/customers/{id}", p.CustomerUpdateParams, cu.update_customer),
            _route("DELETE", "/v1/customers/{id}", p.CustomerDeleteParams, cu.delete_customer),
            _route("POST", "/v1/subscriptions", p.SubscriptionCreateParams, b.create_subscription),
            _route("GET", "/v1/subscriptions", p.SubscriptionListParams, b.list_subscriptions),
            _route("GET", "/v1/subscriptions/{id}", p.SubscriptionRetrieveParams, b.retrieve_subscription),
            _route("POST", "/v1/subscriptions/{id}", p.SubscriptionUpdateParams, b.update_subscription),
            _route("DELETE", "/v1/subscriptions/{id}", p.SubscriptionCancelParams, b.cancel_subscription),
            _route("GET", "/v1/subscription_items", p.SubscriptionItemListParams, b.list_subscription_items),
            _route(
                "GET",
                "/v1/subscription_items/{id}",
                p.SubscriptionItemRetrieveParams,
                b.retrieve_subscription_item,
            ),
            _route("POST", "/v1/invoices/create_preview", p.InvoiceCreatePreviewParams, b.create_preview),
            _route("GET", "/v1/invoices", p.InvoiceListParams, b.list_invoices),
            _route("GET", "/v1/invoices/{id}", p.InvoiceRetrieveParams, b.retrieve_invoice),
            _route("GET", "/v1/invoices/{id}/lines", p.InvoiceLineItemListParams, b.list_invoice_lines),
            _route(
                "POST",
                "/v1/invoices/{id}/finalize",
                p.InvoiceFinalizeInvoiceParams,
                b.finalize_invoice_endpoint,
            ),
            _route("POST", "/v1/invoices/{id}/pay", p.InvoicePayParams, b.pay_invoice),
            _route("POST", "/v1/invoices/{id}/void", p.InvoiceVoidInvoiceParams, b.void_invoice),
            _route("POST", "/v1/checkout/sessions", pc.SessionCreateParams, checkout.create_session),
            _route("GET", "/v1/checkout/sessions/{id}", pc.SessionRetrieveParams, checkout.retrieve_session),
            _route("GET", "/v1/account", p.AccountRetrieveCurrentParams, a.retrieve_current),
            _route("GET", "/v1/accounts/{id}", p.AccountRetrieveParams, a.make_retrieve(self.accounts)),
        ]

    # ------------------------------------------------------------------ accounts

    def add_account(self, secret_key: str | None, *, platform: str | None, fields: dict[str, Any]) -> str:
        with self.lock:
            if secret_key is not None and secret_key in self.keys:
                raise ValueError(f"the key {mask_key(secret_key)} is already registered")
            account_id = str(fields.pop("id", None) or new_id("acct"))
            obj = accounts.account_object(
                account_id, created=self.clock(), connected=platform is not None, fields=fields
            )
            livemode = secret_key is not None and "_live_" in secret_key
            if platform is not None:
                livemode = self.accounts[platform].livemode
            self.accounts[account_id] = AccountState(
                id=account_id, platform=platform, object=obj, livemode=livemode
            )
            if secret_key is not None:
                self.keys[secret_key] = account_id
            return account_id

    # ------------------------------------------------------------------ pipeline

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        with self.lock:
            request_id = new_id("req")
            path, _, query = target.partition("?")
            record: dict[str, Any] = {
                "method": method,
                "path": path,
                "account": None,
                "params": {},
                "idempotency_key": headers.get("idempotency-key"),
                "api_key": None,
                "stripe_version": headers.get("stripe-version"),
            }
            response = self._pipeline(method, path, query, headers, body, record, request_id)
            response.headers.setdefault("Request-Id", request_id)
            response.headers["Stripe-Version"] = headers.get("stripe-version") or self.api_version
            if record["idempotency_key"]:
                response.headers["Idempotency-Key"] = record["idempotency_key"]
            self.requests.append(
                RecordedRequest(
                    status=response.status,
                    replayed=response.headers.get("Idempotent-Replayed") == "true",
                    **record,
                )
            )
            return response

    def _pipeline(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        record: dict[str, Any],
        request_id: str,
    ) -> Response:
        try:
            route, path_args = self._match(method, path)
            raw = self._raw_params(route, query, headers, body)
            record["params"] = raw
            injected = self._fault(method, path)
            if injected is None:
                return self._carry_out(route, path_args, method, path, headers, raw, record, request_id)
            fault, refusal = injected
            if fault.applied:
                self._carry_out(route, path_args, method, path, headers, raw, record, request_id)
            return refusal
        except StripeError as error:
            return self._error(error)

    def _carry_out(
        self,
        route: Route,
        path_args: dict[str, str],
        method: str,
        path: str,
        headers: Mapping[str, str],
        raw: dict[str, Any],
        record: dict[str, Any],
        request_id: str,
    ) -> Response:
        try:
            acct, api_key = self._authenticate(route, headers)
            record["api_key"] = api_key
            record["account"] = acct.id
            ctx = Ctx(account=acct, now=self.clock(), api_key=api_key, path=path, sessions=self.sessions)
            billing.tick(ctx)
            key = (
                record["idempotency_key"] if (method == "POST" or (route.v2 and method == "DELETE")) else None
            )
            fingerprint = json.dumps(raw, sort_keys=True)
            if key:
                replay = self._replay(acct, key, method, path, fingerprint, ctx.now)
                if replay is not None:
                    return replay
            try:
                params = validate(route.params, raw) if route.params is not None else raw
                ctx.expand = list(params.get("expand") or [])
                result = route.handler(ctx, params, **path_args)
                if ctx.expand:
                    result = expand(ctx, result, ctx.expand)
                elif not route.v2:
                    result = expand(ctx, result, [])
                response = Response(200, json.dumps(result).encode())
            except StripeError as error:
                response = self._error(error)
                if not error.replayable:
                    return response
            if key:
                acct.idempotency[key] = IdempotencyRecord(
                    method=method,
                    path=path,
                    fingerprint=fingerprint,
                    status=response.status,
                    body=response.body,
                    request_id=request_id,
                    created=ctx.now,
                )
            return response
        except StripeError as error:
            return self._error(error)

    def _match(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        for route in self.routes:
            match = route.pattern.match(path)
            if match is not None and route.method == method:
                return route, match.groupdict()
        raise StripeError(
            404,
            f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help "
            "at https://support.stripe.com/.",
        )

    def _raw_params(
        self, route: Route, query: str, headers: Mapping[str, str], body: bytes
    ) -> dict[str, Any]:
        params = parse_form(query) if query else {}
        if not body:
            return params
        text = body.decode("utf-8")
        if route.v2 or headers.get("content-type", "").startswith("application/json"):
            try:
                data = json.loads(text)
            except json.JSONDecodeError:
                raise StripeError(400, "Invalid JSON body.", code="invalid_json") from None
            if not isinstance(data, dict):
                raise StripeError(400, "The JSON body must be an object.", code="invalid_json")
            params.update(data)
        else:
            params.update(parse_form(text))
        return params

    def _fault(self, method: str, path: str) -> tuple[Fault, Response] | None:
        for fault in self.faults:
            if (fault.path_prefix is None or path.startswith(fault.path_prefix)) and (
                fault.method is None or fault.method == method
            ):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                if fault.status == 429:
                    error = StripeError(
                        429,
                        "Request rate limit exceeded. Learn more about rate limits here "
                        "https://stripe.com/docs/rate-limits.",
                        code="rate_limit",
                    )
                elif fault.status >= 500:
                    error = StripeError(
                        fault.status,
                        "An unknown error occurred"
                        if fault.status == 500
                        else "Stripe is temporarily unavailable.",
                        type="api_error",
                    )
                else:
                    error = StripeError(fault.status, "Injected failure.")
                response = self._error(error)
                if fault.should_retry is not None:
                    response.headers["Stripe-Should-Retry"] = "true" if fault.should_retry else "false"
                return fault, response
        return None

    def _authenticate(self, route: Route, headers: Mapping[str, str]) -> tuple[AccountState, str]:
        token = _bearer(headers.get("authorization", ""))
        if not token:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://stripe.com/docs/api#authentication for details, or we can help at "
                "https://support.stripe.com/.",
            )
        if route.session_auth:
            session = self.sessions.get(token)
            if session is None:
                if token in self.keys:
                    raise StripeError(
                        401,
                        "The meter event stream authenticates with a meter event session's "
                        "authentication_token, not with an API key.",
                    )
                raise StripeError(401, f"Invalid API Key provided: {mask_key(token)}")
            if session.expires_at <= self.clock():
                raise StripeError(
                    401,
                    "The meter event session has expired. Create a new session to get a new "
                    "authentication token.",
                    type="temporary_session_expired",
                    code="billing_meter_event_session_expired",
                )
            return self.accounts[session.account], token
        account_id = self.keys.get(token)
        if account_id is None:
            raise StripeError(401, f"Invalid API Key provided: {mask_key(token)}")
        acct = self.accounts[account_id]
        target = headers.get("stripe-account") or headers.get("stripe-context")
        if target and target != acct.id:
            connected = self.accounts.get(target)
            if connected is None or connected.platform != acct.id:
                raise accounts.no_access(token, target)
            acct = connected
        return acct, token

    def _replay(
        self, acct: AccountState, key: str, method: str, path: str, fingerprint: str, now: int
    ) -> Response | None:
        stored = acct.idempotency.get(key)
        if stored is None or stored.created + IDEMPOTENCY_TTL < now:
            return None
        if (stored.method, stored.path) != (method, path):
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used for the same endpoint they were first used "
                f"for ('{stored.method} {stored.path}' vs '{method} {path}'). Try using a key other than "
                f"'{key}' if you meant to execute a different request.",
                type="idempotency_error",
            )
        if stored.fingerprint != fingerprint:
            raise StripeError(
                400,
                "Keys for idempotent requests can only be used with the same parameters they were first used "
                f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                type="idempotency_error",
            )
        return Response(
            stored.status,
            stored.body,
            {"Idempotent-Replayed": "true", "Original-Request": stored.request_id},
        )

    @staticmethod
    def _error(error: StripeError) -> Response:
        headers = dict(error.headers)
        return Response(error.status, json.dumps(error.body()).encode(), headers)


def _bearer(header: str) -> str:
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(credentials.strip()).decode().partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


def default_api_version() -> str:
    return str(stripe.api_version)


def wall_clock() -> int:
    return int(time.time())
