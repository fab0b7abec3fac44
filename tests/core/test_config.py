"""Settings: file, environment overrides, validation messages, masking."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tollway.cli import main
from tollway.config import load_settings, masked_dump
from tollway.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tollway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_use_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    settings = load_settings(None, environ={}, overrides={"server": {"data_dir": str(tmp_path)}})
    assert settings.server.port == 9443
    assert settings.server.gateway_port == 8280
    assert settings.monetization.engine == "ledger"
    assert settings.database_url == f"sqlite:///{(tmp_path / 'tollway.db').resolve()}"


def test_file_values_and_manual_style_attributes(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[gateway]
workers = 2
[monetization]
engine = "stripe"
publish_interval = 600
[[monetization.additional_attributes]]
name = "ConnectedAccountKey"
display_name = "ConnectedAccountKey"
required = "true"
description = "connected account of the publisher"
""",
    )
    settings = load_settings(path, environ={})
    assert settings.gateway.workers == 2
    attr = settings.monetization.additional_attributes[0]
    assert (attr.name, attr.required) == ("ConnectedAccountKey", True)


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[gateway]\nworkers = 2\n")
    env = {
        "TOLLWAY_GATEWAY__WORKERS": "3",
        "TOLLWAY_DATABASE__URL": "postgresql+psycopg://u:pw@db/tollway",
        "TOLLWAY_MONETIZATION__STRIPE__API_BASE": "http://127.0.0.1:12111",
        "TOLLWAY_MONETIZATION__ADDITIONAL_ATTRIBUTES": (
            '[{"name": "ConnectedAccountKey", "required": "false"}]'
        ),
    }
    settings = load_settings(path, environ=env)
    assert settings.gateway.workers == 3
    assert settings.database_url == "postgresql+psycopg://u:pw@db/tollway"
    assert settings.monetization.stripe.api_base == "http://127.0.0.1:12111"
    assert settings.monetization.additional_attributes[0].required is False


def test_bad_file_value_names_key_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[gateway]\nworkers = 'many'\n")
    with pytest.raises(ConfigError) as err:
        load_settings(path, environ={})
    message = str(err.value)
    assert str(path) in message and "[gateway] workers" in message
    assert "\n" not in message


def test_unknown_key_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nprot = 1\n")
    with pytest.raises(ConfigError, match=r"\[server\] prot: unknown key"):
        load_settings(path, environ={})


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="environment variable TOLLWAY_SERVER__PORT: \\[server\\] port"):
        load_settings(None, environ={"TOLLWAY_SERVER__PORT": "99999"})


def test_bad_database_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[database\] url"):
        load_settings(None, environ={"TOLLWAY_DATABASE__URL": "not a url"})


def test_invalid_toml_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, "[server\nport=1\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, environ={})


def test_masked_dump_hides_secrets() -> None:
    settings = load_settings(
        None, environ={"TOLLWAY_DATABASE__URL": "postgresql+psycopg://u:s3cret@db/tollway"}
    )
    dumped = masked_dump(settings)
    assert "s3cret" not in repr(dumped)
    assert dumped["database"]["url"] == "postgresql+psycopg://u:***@db/tollway"


def test_config_check_command_prints_one_line_on_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[metering]\nbatch_size = -1\n")
    result = CliRunner().invoke(main, ["config", "check", "--config", str(path)])
    assert result.exit_code != 0
    assert "[metering] batch_size" in result.output
    assert "Traceback" not in result.output


def test_config_check_command_prints_effective_config(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 9555\n")
    result = CliRunner().invoke(
        main, ["config", "check", "--config", str(path)], env={"TOLLWAY_GATEWAY__WORKERS": "2"}
    )
    assert result.exit_code == 0, result.output
    assert '"port": 9555' in result.output and '"workers": 2' in result.output
