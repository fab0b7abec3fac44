"""docs/configuration.md documents every setting there is, and nothing that is not one."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel

from tollway.config import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def settings_keys(model: type[BaseModel], section: str = "") -> set[tuple[str, str]]:
    """(section, key) of every setting; nested tables are sections of their own."""
    found: set[tuple[str, str]] = set()
    for name, info in model.model_fields.items():
        kind = info.annotation
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            found |= settings_keys(kind, f"{section}.{name}" if section else name)
        else:
            found.add((section, name))
    return found


def documented_keys() -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    section = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.fullmatch(r"### \[([a-z_.]+)\]", line.strip())
        if heading:
            section = heading.group(1)
            continue
        row = re.match(r"\| `([a-z_]+)` \|", line)
        if row and section:
            found.add((section, row.group(1)))
    return found


def test_every_setting_has_an_entry_and_every_entry_is_a_setting() -> None:
    expected, documented = settings_keys(Settings), documented_keys()
    assert sorted(expected - documented) == [], "settings without an entry in docs/configuration.md"
    assert sorted(documented - expected) == [], "entries in docs/configuration.md that are no setting"
