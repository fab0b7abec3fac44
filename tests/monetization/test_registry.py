"""[monetization] engine: built-in names, entry points, dotted paths, and clear refusals."""

from __future__ import annotations

import pytest

from tollway.billing.contract import BillingEngine, EngineSetup
from tollway.billing.ledger.ledger_engine import LedgerEngine
from tollway.billing.noop_engine import NoopEngine
from tollway.billing.registry import engine_class, load_engine
from tollway.config import Settings
from tollway.db.session import make_engine, make_session_factory
from tollway.errors import ConfigError


def _setup(engine: str) -> EngineSetup:
    settings = Settings.model_validate({"monetization": {"engine": engine}})
    return EngineSetup(settings=settings, session_factory=make_session_factory(make_engine("sqlite://")))


def test_ledger_is_the_default_engine() -> None:
    engine = load_engine(_setup(Settings().monetization.engine))
    assert isinstance(engine, LedgerEngine) and engine.transactional
    assert isinstance(engine, BillingEngine)


def test_entry_point_names_and_dotted_paths_load() -> None:
    assert engine_class("noop") is NoopEngine
    assert engine_class("tollway.billing.ledger.ledger_engine:LedgerEngine") is LedgerEngine
    example = load_engine(_setup("tests.billing.example_engine:InMemoryEngine"))
    assert example.name == "memory" and not example.transactional


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("nosuch", "unknown engine 'nosuch'"),
        ("no.such.module:Engine", "cannot import 'no.such.module'"),
        ("tollway.billing.ledger.ledger_engine:Nope", "has no 'Nope'"),
        ("tollway.config:Settings", "is not a billing engine"),
        ("  ", "must not be empty"),
    ],
)
def test_bad_engine_settings_say_what_is_wrong(setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"\[monetization\] engine") as refused:
        load_engine(_setup(setting))
    assert message in str(refused.value)
