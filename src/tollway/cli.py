"""The ``tollway`` command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from tollway import __version__
from tollway.config import Settings, load_settings, masked_dump
from tollway.db import migrate
from tollway.db.session import make_engine, make_session_factory, transaction
from tollway.demo import run_demo
from tollway.errors import ConfigError, TollwayError
from tollway.gateway.process import run_standalone
from tollway.logging_setup import configure_logging
from tollway.metering.meter import run_meter_process
from tollway.publishing.commands import publish_usage_now, report
from tollway.server import serve_forever
from tollway.tenants.service import create_tenant

log = logging.getLogger("tollway")
F = TypeVar("F", bound=Callable[..., Any])


def _config_options(fn: F) -> F:
    fn = click.option(
        "--config", "config_file", type=click.Path(path_type=Path), help="tollway.toml to read"
    )(fn)
    fn = click.option(
        "--data-dir", type=click.Path(path_type=Path), help="data folder (default ./tollway-data)"
    )(fn)
    return fn


def settings_from(config_file: Path | None, data_dir: Path | None, **server: Any) -> Settings:
    overrides: dict[str, Any] = {"server": {k: v for k, v in server.items() if v is not None}}
    if data_dir is not None:
        overrides["server"]["data_dir"] = str(data_dir)
    try:
        return load_settings(config_file, overrides=overrides)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


class _Commands(click.Group):
    """A group whose --help shows each command's whole first sentence (click cuts at 45 characters)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit=1000)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="tollway")
def main() -> None:
    """Tollway: API management and API monetization."""


def _require_schema(settings: Settings) -> None:
    """Nodes and meters use the control plane's database; they never create or migrate it."""
    engine = make_engine(settings.database_url)
    try:
        if migrate.current_revision(engine) is None:
            raise click.ClickException(
                "the database has no Tollway schema yet: start `tollway serve` or run `tollway db upgrade`"
            )
    finally:
        engine.dispose()


@main.command()
@click.option("--host", default=None, help="address to listen on (default 127.0.0.1)")
@click.option("--port", type=int, default=None, help="control-plane HTTPS port (default 9443)")
@click.option("--http-port", type=int, default=None, help="control-plane HTTP port (default 9763; 0 = off)")
@click.option("--gateway-port", type=int, default=None, help="gateway HTTP port (default 8280)")
@click.option(
    "--gateway-https-port", type=int, default=None, help="gateway HTTPS port (default 8243; 0 = off)"
)
@_config_options
def serve(
    host: str | None,
    port: int | None,
    http_port: int | None,
    gateway_port: int | None,
    gateway_https_port: int | None,
    config_file: Path | None,
    data_dir: Path | None,
) -> None:
    """Run the control plane and the gateway over HTTPS and HTTP (SQLite and the ledger engine by default)."""
    configure_logging()
    settings = settings_from(
        config_file,
        data_dir,
        host=host,
        port=port,
        http_port=http_port,
        gateway_port=gateway_port,
        gateway_https_port=gateway_https_port,
    )
    try:
        _run(serve_forever(settings))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass


def _run(main: Any) -> None:
    """Run a coroutine on uvloop (the gateway's hot path wants it), asyncio's loop without it."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on every supported platform
        asyncio.run(main)
    else:
        uvloop.run(main)


@main.command()
@click.option("--host", default=None, help="address to listen on (default 127.0.0.1)")
@click.option("--port", type=int, default=None, help="gateway HTTP port (default 8280)")
@click.option("--https-port", type=int, default=None, help="gateway HTTPS port (default 8243; 0 = off)")
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="worker processes sharing the port")
@_config_options
def gateway(
    host: str | None,
    port: int | None,
    https_port: int | None,
    workers: int | None,
    config_file: Path | None,
    data_dir: Path | None,
) -> None:
    """Run a gateway node alone, against the database the control plane uses."""
    configure_logging()
    settings = settings_from(
        config_file, data_dir, host=host, gateway_port=port, gateway_https_port=https_port
    )
    if workers is not None:
        settings = settings.model_copy(
            update={"gateway": settings.gateway.model_copy(update={"workers": workers})}
        )
    settings.server.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _require_schema(settings)
    try:
        _run(run_standalone(settings))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass


@main.command()
@click.option(
    "--consumers", type=click.IntRange(1, 64), default=1, show_default=True, help="consumers in this process"
)
@_config_options
def meter(consumers: int, config_file: Path | None, data_dir: Path | None) -> None:
    """Store the usage events gateway nodes send to NATS ([metering] sink = "nats").

    Run any number, on any machine, against the database the control plane uses: each message
    of the stream goes to one of them, is stored once and acknowledged after the commit.
    """
    configure_logging()
    settings = settings_from(config_file, data_dir)
    _require_schema(settings)
    with contextlib.suppress(KeyboardInterrupt):
        _run(run_meter_process(settings, consumers))


@main.group(cls=_Commands)
def db() -> None:
    """Schema migrations, for operators."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@_config_options
def db_upgrade(revision: str, config_file: Path | None, data_dir: Path | None) -> None:
    """Apply migrations up to REVISION."""
    settings = settings_from(config_file, data_dir)
    settings.server.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine)}")


@db.command("downgrade")
@click.option("--revision", default="-1", show_default=True, help="target revision, e.g. base")
@_config_options
def db_downgrade(revision: str, config_file: Path | None, data_dir: Path | None) -> None:
    """Revert migrations down to REVISION."""
    settings = settings_from(config_file, data_dir)
    engine = make_engine(settings.database_url)
    migrate.downgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine) or 'base'}")


@main.command("publish-usage")
@_config_options
def publish_usage(config_file: Path | None, data_dir: Path | None) -> None:
    """Publish billable usage to the billing engine now (exit 1 if a subscription failed)."""
    configure_logging()
    result = publish_usage_now(settings_from(config_file, data_dir))
    click.echo(report(result))
    if result.failed:
        sys.exit(1)


@main.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="keep the demo's data here (default: a temporary folder, removed afterwards)",
)
def demo(data_dir: Path | None) -> None:
    """Run the monetization manual end to end: plan, API, subscription, calls, invoice, revenue."""
    run_demo(data_dir)


@main.group(cls=_Commands)
def config() -> None:
    """Configuration."""


@config.command("check")
@_config_options
def config_check(config_file: Path | None, data_dir: Path | None) -> None:
    """Validate the configuration and print it, secrets masked."""
    settings = settings_from(config_file, data_dir)
    click.echo(json.dumps(masked_dump(settings), indent=2, sort_keys=True))


@main.group(cls=_Commands)
def tenant() -> None:
    """Tenants."""


@tenant.command("create")
@click.option("--domain", required=True, help="the tenant's domain, e.g. example.com")
@click.option("--admin-username", required=True, help="the tenant admin's name")
@click.option(
    "--admin-password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    envvar="TOLLWAY_TENANT_ADMIN_PASSWORD",
    help="asked for when not given (or set TOLLWAY_TENANT_ADMIN_PASSWORD)",
)
@_config_options
def tenant_create(
    domain: str, admin_username: str, admin_password: str, config_file: Path | None, data_dir: Path | None
) -> None:
    """Create a tenant and its admin user."""
    settings = settings_from(config_file, data_dir)
    settings.server.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    try:
        if migrate.current_revision(engine) is None:
            raise click.ClickException(
                "the database has no Tollway schema yet: start `tollway serve` or run `tollway db upgrade`"
            )
        with transaction(make_session_factory(engine)) as session:
            view = create_tenant(session, domain, admin_username, admin_password)
    except TollwayError as exc:
        raise click.ClickException(exc.description or exc.message) from None
    finally:
        engine.dispose()
    click.echo(f"created tenant {view.domain}; its admin signs in as {view.admin_username}@{view.domain}")


def run() -> None:  # pragma: no cover - console entry for `python -m tollway`
    sys.exit(main())
