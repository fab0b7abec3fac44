"""The ``tollway`` command."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from tollway import __version__
from tollway.config import Settings, load_settings, masked_dump
from tollway.errors import ConfigError

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


@click.group()
@click.version_option(__version__, prog_name="tollway")
def main() -> None:
    """Tollway: API management and API monetization."""


@main.command()
@click.option("--host", default=None, help="address to listen on (default 127.0.0.1)")
@click.option("--port", type=int, default=None, help="control-plane port (default 9443)")
@click.option("--gateway-port", type=int, default=None, help="gateway port (default 8280)")
@_config_options
def serve(
    host: str | None,
    port: int | None,
    gateway_port: int | None,
    config_file: Path | None,
    data_dir: Path | None,
) -> None:
    """Run the control plane and the gateway (SQLite and the ledger engine by default)."""
    from tollway.logging_setup import configure_logging
    from tollway.server import serve_forever

    configure_logging()
    settings = settings_from(config_file, data_dir, host=host, port=port, gateway_port=gateway_port)
    try:
        asyncio.run(serve_forever(settings))
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        pass


@main.group()
def db() -> None:
    """Schema migrations, for operators."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@_config_options
def db_upgrade(revision: str, config_file: Path | None, data_dir: Path | None) -> None:
    """Apply migrations up to REVISION."""
    from tollway.db import migrate
    from tollway.db.session import make_engine

    settings = settings_from(config_file, data_dir)
    settings.server.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.database_url)
    migrate.upgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine)}")


@db.command("downgrade")
@click.option("--revision", default="-1", show_default=True, help="target revision, e.g. base")
@_config_options
def db_downgrade(revision: str, config_file: Path | None, data_dir: Path | None) -> None:
    """Revert migrations down to REVISION."""
    from tollway.db import migrate
    from tollway.db.session import make_engine

    settings = settings_from(config_file, data_dir)
    engine = make_engine(settings.database_url)
    migrate.downgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine) or 'base'}")


@main.group()
def config() -> None:
    """Configuration."""


@config.command("check")
@_config_options
def config_check(config_file: Path | None, data_dir: Path | None) -> None:
    """Validate the configuration and print it, secrets masked."""
    settings = settings_from(config_file, data_dir)
    click.echo(json.dumps(masked_dump(settings), indent=2, sort_keys=True))


def run() -> None:  # pragma: no cover - console entry for `python -m tollway`
    sys.exit(main())
