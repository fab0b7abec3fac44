"""`tollway tenant create`, run in-process against the test database."""

from __future__ import annotations

from pathlib import Path

import httpx
from click.testing import CliRunner

from tests.auth.flows import password_token, register
from tollway.cli import main


def run(database_url: str, tmp_path: Path, *args: str, password_input: str | None = None) -> tuple[int, str]:
    runner = CliRunner(env={"TOLLWAY_DATABASE__URL": database_url, "TOLLWAY_TENANT_ADMIN_PASSWORD": None})
    result = runner.invoke(
        main, ["tenant", "create", *args, "--data-dir", str(tmp_path / "cli-data")], input=password_input
    )
    return result.exit_code, result.output


def test_create_with_a_prompted_password(http: httpx.Client, database_url: str, tmp_path: Path) -> None:
    code, output = run(
        database_url,
        tmp_path,
        "--domain", "cli.example", "--admin-username", "chief",
        password_input="chief-password\nchief-password\n",
    )  # fmt: skip
    assert code == 0, output
    assert "cli.example" in output
    assert "chief-password" not in output  # the prompt hides what is typed
    boss = ("chief@cli.example", "chief-password")
    assert password_token(http, register(http, boss), boss, "apim:admin")["scope"] == "apim:admin"


def test_create_with_the_password_given_and_errors(
    http: httpx.Client, database_url: str, tmp_path: Path
) -> None:
    args = ["--domain", "cli.example", "--admin-username", "chief", "--admin-password", "chief-password"]
    code, output = run(database_url, tmp_path, *args)
    assert code == 0, output
    code, output = run(database_url, tmp_path, *args)
    assert code == 1
    assert "already exists" in output
    code, output = run(database_url, tmp_path, "--domain", "UPPER.example", *args[2:])
    assert code == 1
    assert "domain" in output
    code, output = run(database_url, tmp_path, "--domain", "two.example", "--admin-username", "x2x",
                       "--admin-password", "short")  # fmt: skip
    assert code == 1
    assert "adminPassword" in output
