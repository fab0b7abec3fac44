"""Stripe's published example objects (``fixtures3.json``), used as the shape of every response.

Each response starts from a deep copy of the fixture for its resource, and the fake overrides the
fields with its real state. The file is a copy of Stripe's own, from Stripe's public OpenAPI
repository (MIT licence, beside it in ``data/LICENSE``); ``STRIPE_FAKE_FIXTURES`` may point to
another copy (e.g. a newer one) to check the fake against it.
"""

from __future__ import annotations

import copy
import json
import os
from functools import cache
from pathlib import Path
from typing import Any

BUNDLED = Path(__file__).parent / "data" / "fixtures3.json"


def fixtures_path() -> Path:
    override = os.environ.get("STRIPE_FAKE_FIXTURES")
    return Path(override) if override else BUNDLED


@cache
def _resources() -> dict[str, Any]:
    with fixtures_path().open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)["resources"]
    return data


def template(resource: str) -> dict[str, Any]:
    """A fresh deep copy of Stripe's example object for ``resource`` (e.g. ``"billing.meter"``)."""
    value: dict[str, Any] = copy.deepcopy(_resources()[resource])
    return value
