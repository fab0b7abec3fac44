"""Everything a running instance shares: settings, database, keys, monetization hooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from tollway.config import Settings
from tollway.db.session import make_engine, make_session_factory
from tollway.monetization.hooks import MonetizationHooks, NoopHooks
from tollway.security.secretbox import SecretBox, load_or_create_master_key


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    secrets: SecretBox
    hooks: MonetizationHooks = field(default_factory=NoopHooks)
    # Services started with the app (scheduler, metering sink …) register themselves here.
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        settings.server.data_dir.mkdir(parents=True, exist_ok=True)
        engine = make_engine(
            settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo
        )
        box = SecretBox(load_or_create_master_key(settings.server.data_dir))
        runtime = cls(
            settings=settings, engine=engine, session_factory=make_session_factory(engine), secrets=box
        )
        from tollway.monetization.setup import install_monetization

        install_monetization(runtime)  # the configured billing engine, behind runtime.hooks
        return runtime

    def close(self) -> None:
        monetization = self.extras.get("monetization")
        if monetization is not None:
            monetization.close()
        self.engine.dispose()
