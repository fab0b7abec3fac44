"""Finds the billing engine named by ``[monetization] engine``.

Accepted forms, tried in this order:

* ``"pkg.module:Class"`` - a dotted path, for an engine that is not installed as a package;
* a name registered in the entry-point group ``tollway.billing_engines`` - how a third-party
  package ships an engine (``ledger``, ``stripe`` and ``noop`` are registered by Tollway itself);
* ``ledger`` / ``stripe`` / ``noop`` - the built-in engines, also when Tollway runs from a source
  tree whose entry points are not installed.

The class is instantiated with an :class:`~tollway.billing.contract.EngineSetup`.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any

from tollway.billing.contract import BillingEngine, EngineSetup
from tollway.errors import ConfigError

ENTRY_POINT_GROUP = "tollway.billing_engines"
BUILT_IN = {
    "ledger": "tollway.billing.ledger.ledger_engine:LedgerEngine",
    "stripe": "tollway.billing.stripe.stripe_engine:StripeEngine",
    "noop": "tollway.billing.noop_engine:NoopEngine",
}


def _import(path: str, setting: str) -> Any:
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"[monetization] engine: {setting!r} must look like 'package.module:Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"[monetization] engine: cannot import {module_name!r} ({exc})") from None
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ConfigError(f"[monetization] engine: {module_name!r} has no {attribute!r}") from None


def engine_class(setting: str) -> Any:
    """The engine class for a setting value (see the module docs); ConfigError if there is none."""
    name = setting.strip()
    if not name:
        raise ConfigError("[monetization] engine: must not be empty")
    if ":" in name:
        return _import(name, setting)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            try:
                return entry.load()
            except ImportError as exc:
                raise ConfigError(
                    f"[monetization] engine: entry point {name!r} failed to load ({exc})"
                ) from None
    if name in BUILT_IN:
        return _import(BUILT_IN[name], setting)
    known = sorted({e.name for e in entry_points(group=ENTRY_POINT_GROUP)} | set(BUILT_IN))
    raise ConfigError(
        f"[monetization] engine: unknown engine {name!r}; use one of {', '.join(known)} "
        "or a dotted path 'package.module:Class'"
    )


_METHODS = (
    "create_plan",
    "update_plan",
    "delete_plan",
    "enable_monetization",
    "disable_monetization",
    "create_customer",
    "create_shared_customer",
    "delete_customer",
    "create_subscription",
    "cancel_subscription",
    "publish_usage",
    "preview_invoice",
    "period_invoice",
    "close",
)


def load_engine(setup: EngineSetup) -> BillingEngine:
    """Instantiate the configured engine, checking first that it has the interface."""
    setting = setup.settings.monetization.engine
    cls = engine_class(setting)
    missing = [method for method in _METHODS if not callable(getattr(cls, method, None))]
    if not isinstance(getattr(cls, "name", None), str):
        missing.append("name")
    if not isinstance(getattr(cls, "transactional", None), bool):
        missing.append("transactional")
    if missing:
        raise ConfigError(
            f"[monetization] engine: {setting!r} is not a billing engine (missing {', '.join(missing)})"
        )
    engine: BillingEngine = cls(setup)
    return engine
