"""Settings: ``tollway.toml`` plus ``TOLLWAY_<SECTION>__<KEY>`` environment overrides.

Validated once at start; a bad value raises :class:`ConfigError` with one line naming the
key and where it came from, so start-up stops with a message instead of a traceback.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import make_url

from tollway.errors import ConfigError

ENV_PREFIX = "TOLLWAY_"
DEFAULT_CONFIG_FILE = "tollway.toml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    # WSO2's ports: the control plane on 9443 (HTTPS) and 9763 (HTTP), the gateway on 8280
    # (HTTP) and 8243 (HTTPS). 0 turns the second listener of each off.
    port: int = Field(9443, ge=1, le=65535, description="control plane, HTTPS")
    http_port: int = Field(9763, ge=0, le=65535, description="control plane, plain HTTP; 0 = off")
    gateway_port: int = Field(8280, ge=1, le=65535, description="gateway, plain HTTP")
    gateway_https_port: int = Field(8243, ge=0, le=65535, description="gateway, HTTPS; 0 = off")
    data_dir: Path = Path("./tollway-data")
    # Public base URL of the control plane, used in links; derived from host/port when empty.
    public_url: str = ""
    # A configured pair replaces the self-signed certificate made in data_dir at first start.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    access_token_ttl: int = Field(3600, ge=60, description="seconds")
    refresh_token_ttl: int = Field(86400, ge=60, description="seconds")

    @model_validator(mode="after")
    def _tls_pair(self) -> ServerSettings:
        if (self.tls_cert is None) != (self.tls_key is None):
            given, missing = ("tls_cert", "tls_key") if self.tls_cert is not None else ("tls_key", "tls_cert")
            raise ValueError(
                f"{given} is set but {missing} is not: set both, or neither for a self-signed one"
            )
        ports = {"port": self.port, "http_port": self.http_port}
        ports |= {"gateway_port": self.gateway_port, "gateway_https_port": self.gateway_https_port}
        used: dict[int, str] = {}
        for key, number in ports.items():
            if number and number in used:
                raise ValueError(f"{key} and {used[number]} are both {number}")
            used[number] = key
        return self


def cores() -> int:
    """The cores this process may run on (its CPU affinity: a container's or taskset's share)."""
    return max(1, min(64, len(os.sched_getaffinity(0))))


class GatewaySettings(_Section):
    enabled: bool = True
    # Gateway processes sharing the port; "auto" (the default): one per core, as nginx does.
    # Measured on 2 cores (issue 17): 1 worker 16,048 requests/s, p99 46 ms; 2: 23,832, 5.2 ms.
    workers: int = Field(default_factory=cores, ge=1, le=64)
    backend_timeout: float = Field(30.0, gt=0, description="seconds, default per API")
    connect_timeout: float = Field(5.0, gt=0)
    # Backend status classes that make a call billable.
    billable_status_classes: list[Literal["1xx", "2xx", "3xx", "4xx", "5xx"]] = ["2xx", "3xx"]
    snapshot_poll_interval: float = Field(0.1, gt=0, le=60)
    max_connections_per_backend: int = Field(100, ge=1)
    # Subscriptions whose limit counters the worker processes share (56 bytes each).
    limit_slots: int = Field(100_000, ge=64, le=100_000_000)
    # Where plan-limit counters live: "local" (this node: its process, or its workers' shared
    # memory) or "redis" (one count across every node, [redis]; tollway.gateway.redis_limits).
    limits: Literal["local", "redis"] = "local"

    @field_validator("workers", mode="before")
    @classmethod
    def _auto_workers(cls, value: object) -> object:
        if value == "auto":
            return cores()
        if isinstance(value, str) and not value.strip().isdigit():
            raise ValueError('a number of processes (1 to 64) or "auto" (one per core)')
        return value


class RedisSettings(_Section):
    url: str = "redis://127.0.0.1:6379/0"
    # What a gateway with [gateway] limits = "redis" does while Redis cannot be reached:
    # "fail_open" counts limits on each node alone, "fail_closed" answers limited calls 503.
    on_unavailable: Literal["fail_open", "fail_closed"] = "fail_open"

    @field_validator("url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("not a Redis URL (redis://host:port/db, rediss://… or unix://…)")
        return value


class DatabaseSettings(_Section):
    url: str = ""
    pool_size: int = Field(10, ge=1)
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        if value:
            try:
                make_url(value)
            except Exception as exc:  # sqlalchemy raises ArgumentError with its own text
                raise ValueError(f"not an SQLAlchemy database URL ({exc})") from None
        return value


class AdditionalAttribute(_Section):
    name: str = Field(min_length=1)
    display_name: str = ""
    required: bool = False
    description: str = ""

    @field_validator("required", mode="before")
    @classmethod
    def _bool_string(cls, value: Any) -> Any:
        # The manual writes required = "true" as a string.
        if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
            return value.strip().lower() == "true"
        return value


class StripeSettings(_Section):
    api_base: str = "https://api.stripe.com"
    meter_events_base: str = ""
    max_retry_seconds: float = Field(30.0, gt=0)


class MonetizationSettings(_Section):
    engine: str = "ledger"
    publish_interval: int = Field(3600, ge=0, description="seconds; 0 disables the schedule")
    finalize_interval: int = Field(300, ge=0, description="seconds between invoice finalization runs")
    prepaid_settle_interval: float = Field(
        5.0, gt=0, le=3600, description="seconds between settling prepaid usage and fees into wallets"
    )
    # Usage reaching the database up to this many seconds after the call is still billed, in the
    # call's own period; invoices (final ones too) wait this long past their period's end.
    late_usage_window: int = Field(3600, ge=0, description="seconds; 0 bills only usage on time")
    # Ledger invoices are due this many days after they are finalized; unpaid past the due date
    # and the grace days, their subscription is blocked (payment_failed) until they are paid.
    invoice_due_days: int = Field(30, ge=0, le=365, description="days")
    payment_grace_days: int = Field(7, ge=0, le=365, description="days")
    block_unpaid_invoices: bool = True
    additional_attributes: list[AdditionalAttribute] = []
    stripe: StripeSettings = StripeSettings()


class MeteringSettings(_Section):
    # Where each node's spool writer sends usage events: "database" stores them itself;
    # "nats" forwards them to a JetStream stream that `tollway meter` consumers store.
    sink: Literal["database", "nats"] = "database"
    # 5,000: PostgreSQL and SQLite store ~2x the events/s per transaction than with 1,000
    # (bench/billing); a batch is sent every flush_interval anyway, so light load is not delayed.
    batch_size: int = Field(5000, ge=1)
    # The most the spool writer waits between passes (while events come: 5 ms).
    flush_interval: float = Field(0.05, gt=0, description="seconds")
    # Events a gateway process may have spooled and not stored before it answers new calls 503.
    buffer_limit: int = Field(1_000_000, ge=1000)
    # The spool writer process of a gateway with workers > 1 (tollway.metering.priority): "idle"
    # reads the spool on CPU time the gateway does not want; behind for writer_max_lag seconds,
    # it takes its share like any process.
    writer_priority: Literal["idle", "normal"] = "idle"
    writer_max_lag: float = Field(30.0, ge=0, description="seconds")
    nats_url: str = "nats://127.0.0.1:4222"
    nats_stream: str = Field("TOLLWAY_USAGE", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    nats_subject: str = Field("tollway.usage", pattern=r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")
    nats_consumer: str = Field("tollway-meter", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # A message a consumer took and neither stored nor gave back (it died) goes to another after this.
    nats_ack_wait: float = Field(30.0, ge=1, description="seconds")
    # Meter consumers `tollway serve` runs in its own process when sink = "nats" (0: only the
    # separate `tollway meter` processes store usage).
    consumers: int = Field(1, ge=0, le=16)

    @field_validator("nats_url")
    @classmethod
    def _nats_url(cls, value: str) -> str:
        servers = [part.strip() for part in value.split(",")]
        if not all(s.startswith(("nats://", "tls://", "ws://", "wss://")) for s in servers):
            raise ValueError("not a NATS URL (nats://host:port, several separated by commas)")
        return value


class WebhookSettings(_Section):
    # Seconds between the dispatcher's looks for deliveries that are due.
    dispatch_interval: float = Field(1.0, gt=0, le=60, description="seconds")
    # A failed delivery is tried again after retry_base, then twice as long each time (at most an
    # hour apart), until retry_for seconds after the event; then it is FAILED (redeliver by hand).
    retry_base: float = Field(30.0, gt=0, le=3600, description="seconds")
    retry_for: float = Field(86400.0, gt=0, description="seconds")
    timeout: float = Field(10.0, gt=0, le=60, description="seconds an endpoint has to answer")
    # Subscribers' endpoints may not point at loopback, private or link-local addresses unless
    # this is true (a test bed, or every subscriber is trusted).
    allow_internal_targets: bool = False


WorkflowMode = Literal["simple", "auto", "approval"]


class WorkflowSettings(_Section):
    # "simple" (or "auto") goes through at once; "approval" waits for an admin's decision
    # (admin REST /workflows, the admin portal's Tasks page). A tenant's tenant-config
    # "Workflows" entry overrides these for that tenant.
    application_creation: WorkflowMode = "simple"
    subscription_creation: WorkflowMode = "simple"
    subscription_update: WorkflowMode = "simple"
    subscription_deletion: WorkflowMode = "simple"


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    gateway: GatewaySettings = GatewaySettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    monetization: MonetizationSettings = MonetizationSettings()
    metering: MeteringSettings = MeteringSettings()
    workflows: WorkflowSettings = WorkflowSettings()
    webhooks: WebhookSettings = WebhookSettings()

    @property
    def database_url(self) -> str:
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.server.data_dir / 'tollway.db').resolve()}"


SECRET_KEYS = ("password", "secret", "token", "key")


def _env_overrides(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """Turn TOLLWAY_SECTION__KEY[__SUB] variables into a nested dict; remember their names."""
    tree: dict[str, Any] = {}
    origins: dict[tuple[str, ...], str] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = tuple(part.lower() for part in name[len(ENV_PREFIX) :].split("__"))
        if not all(path):
            continue
        value: Any = raw
        if raw[:1] in "[{":  # lists and tables are given as JSON
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                value = raw
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                break
        else:
            node[path[-1]] = value
            origins[path] = name
    return tree, origins


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _describe(error: ValidationError, source: str, origins: dict[tuple[str, ...], str]) -> str:
    first = error.errors()[0]
    loc = tuple(str(p) for p in first["loc"])
    section, key = (loc[0], ".".join(loc[1:])) if len(loc) > 1 else ("", loc[0] if loc else "")
    where = f"[{section}] {key}" if section else key
    env_name = next((v for k, v in origins.items() if loc[: len(k)] == k), None)
    origin = f"environment variable {env_name}" if env_name else source
    got = first.get("input")
    shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
    msg = first["msg"].replace("Extra inputs are not permitted", "unknown key").replace("Value error, ", "")
    return f"{origin}: {where}: {msg}{shown}"


def load_settings(
    config_file: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Load and validate settings. ``overrides`` (from CLI flags) win over env, env over the file."""
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    source = "defaults"
    path = config_file
    if path is None and Path(DEFAULT_CONFIG_FILE).is_file():
        path = Path(DEFAULT_CONFIG_FILE)
    if path is not None:
        source = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: configuration file not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    env_tree, origins = _env_overrides(environ)
    data = _merge(data, env_tree)
    if overrides:
        data = _merge(data, overrides)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source, origins)) from None


NOT_SECRET = frozenset({"tls_key"})  # a file's path, not the key


def _mask(key: str, value: Any) -> Any:
    if key in NOT_SECRET:
        return value
    if isinstance(value, str) and value and any(s in key.lower() for s in SECRET_KEYS):
        return "********"
    return value


def masked_dump(settings: Settings) -> dict[str, Any]:
    """The effective configuration with secrets masked (for ``tollway config check``)."""

    def walk(node: Any, key: str = "") -> Any:
        if isinstance(node, dict):
            return {k: walk(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, key) for v in node]
        return _mask(key, node)

    dumped: dict[str, Any] = walk(settings.model_dump(mode="json"))
    url = make_url(settings.database_url)
    dumped["database"]["url"] = url.render_as_string(hide_password=True)
    dumped["redis"]["url"] = _hide_url_password(settings.redis.url)
    return dumped


def _hide_url_password(url: str) -> str:
    """``redis://user:secret@host/0`` -> ``redis://user:***@host/0``."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    if not (sep and at):
        return url
    user, colon, _password = userinfo.partition(":")
    return f"{scheme}://{user}:***@{host}" if colon else f"{scheme}://***@{host}"
