"""`tollway --help` and its groups' help describe every command in whole sentences."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from tollway.cli import main


def _groups() -> list[tuple[list[str], click.Group]]:
    found: list[tuple[list[str], click.Group]] = [([], main)]
    for name, command in main.commands.items():
        if isinstance(command, click.Group):
            found.append(([name], command))
    return found


@pytest.mark.parametrize(
    ("args", "group"), _groups(), ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_help_lists_each_commands_whole_description(args: list[str], group: click.Group) -> None:
    shown = CliRunner().invoke(main, [*args, "--help"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    commands = shown.output.split("Commands:", 1)[1]
    text = " ".join(commands.split())
    assert "..." not in text
    for command in group.commands.values():
        first = " ".join((command.help or "").split("\n\n")[0].split())
        assert first and first in text, f"{command.name}: {first!r}"
