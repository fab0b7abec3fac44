"""Everything a running instance shares: settings, database, keys, the billing engine, hooks.

Built by :func:`tollway.wiring.create_runtime`, which also installs the monetization hooks (the
domain services below monetization reach it only through :class:`MonetizationHooks`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tollway.billing.contract import BillingEngine, EngineSetup
from tollway.billing.hooks import MonetizationHooks, NoopHooks
from tollway.billing.registry import load_engine
from tollway.config import Settings
from tollway.db.session import make_engine, make_session_factory
from tollway.security.secretbox import SecretBox, load_or_create_master_key


def _nothing() -> None:
    return None


def _ignore(_ids: Sequence[str]) -> None:
    return None


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    secrets: SecretBox
    billing: BillingEngine
    hooks: MonetizationHooks = field(default_factory=NoopHooks)
    # Set by the scheduler while it runs: asks for a billing maintenance run soon (thread-safe).
    wake_scheduler: Callable[[], None] = _nothing
    # Called after the commit that ended these monetized subscriptions (ids of MonSubscription):
    # publishes their last usage and cancels them in the engine (set by tollway.wiring, since
    # that work belongs to invoicing, above the domain services that end subscriptions).
    subscriptions_ended: Callable[[Sequence[str]], None] = _ignore

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        """Database, master key and the configured billing engine; hooks are not installed."""
        settings.server.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        engine = make_engine(
            settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo
        )
        factory = make_session_factory(engine)
        return cls(
            settings=settings,
            engine=engine,
            session_factory=factory,
            secrets=SecretBox(load_or_create_master_key(settings.server.data_dir)),
            billing=load_engine(EngineSetup(settings=settings, session_factory=factory)),
        )

    def close(self) -> None:
        self.billing.close()
        self.engine.dispose()
