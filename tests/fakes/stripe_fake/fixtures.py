"""Stripe's published example objects (``fixtures3.json``), used as the shape of every response.

Each response starts from a deep copy of the fixture for its resource, and the fake overrides the
fields with its real state. The file lives in the project's ``shared/stripe/`` folder beside the
repository; ``STRIPE_FAKE_FIXTURES`` may point elsewhere.
"""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

_RELATIVE = Path("shared") / "stripe" / "fixtures3.json"


def fixtures_path() -> Path:
    override = os.environ.get("STRIPE_FAKE_FIXTURES")
    if override:
        return Path(override)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / _RELATIVE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"Stripe's fixtures3.json was not found in any parent folder's {_RELATIVE}; "
        "set STRIPE_FAKE_FIXTURES to its path"
    )


@cache
def _resources() -> dict[str, Any]:
    with fixtures_path().open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)["resources"]
    return data


def template(resource: str) -> dict[str, Any]:
    """A fresh deep copy of Stripe's example object for ``resource`` (e.g. ``"billing.meter"``)."""
    value: dict[str, Any] = copy.deepcopy(_resources()[resource])
    return value
