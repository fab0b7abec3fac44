"""The Stripe engine against the project's Stripe fake (real HTTP on loopback, the official SDK).

``settings`` is overridden so the runtime starts with ``[monetization] engine = "stripe"`` pointed
at the fake; ``stripe`` gives the fake with a platform account (the tenant's key) and a publisher's
connected account, with the tenant's MonetizationInfo stored through the tenants service.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from tests.fakes.stripe_fake import StripeFake
from tests.monetization.world import World
from tests.support.identity import OrmIdentity
from tests.support.servers import ServerThread
from tollway.billing.stripe.stripe_engine import StripeEngine
from tollway.config import Settings, load_settings
from tollway.db.session import transaction
from tollway.models import DEFAULT_TENANT, Tenant
from tollway.monetization.service import MonetizationService
from tollway.runtime import Runtime
from tollway.tenants.service import replace_tenant_config

PLATFORM_KEY = "sk_test_tollway_platform_51Hx"
WEBHOOK_SECRET = "whsec_tollway_test_secret"


@dataclass
class StripeSetup:
    fake: StripeFake
    platform: str  # the platform account id
    seller: str  # the publisher's connected account id
    runtime: Runtime

    @property
    def engine(self) -> StripeEngine:
        engine = MonetizationService(self.runtime).engine
        assert isinstance(engine, StripeEngine)
        return engine

    def client(self, account: str | None = None) -> object:
        return (
            self.fake.client(PLATFORM_KEY, stripe_account=account)
            if account
            else self.fake.client(PLATFORM_KEY)
        )


def clear_faults(fake: StripeFake) -> None:
    """Drop the fake's injected failures that are left (its API has no call for this)."""
    with fake._api.lock:
        fake._api.faults.clear()


def stripe_overrides(url: str, **stripe: object) -> dict[str, object]:
    return {
        "engine": "stripe",
        "stripe": {"api_base": url, "max_retry_seconds": 3, **stripe},
        "additional_attributes": [
            {"name": "ConnectedAccountKey", "display_name": "ConnectedAccountKey", "required": True}
        ],
    }


@pytest.fixture
def stripe_fake() -> Iterator[StripeFake]:
    with StripeFake() as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, database_url: str, stripe_fake: StripeFake) -> Settings:
    return load_settings(
        None,
        environ={},
        overrides={
            "server": {"data_dir": str(tmp_path / "data")},
            "database": {"url": database_url},
            "monetization": stripe_overrides(stripe_fake.url),
        },
    )


def set_monetization_info(runtime: Runtime, info: dict[str, str], domain: str = DEFAULT_TENANT) -> None:
    with transaction(runtime.session_factory) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.domain == domain))
        assert tenant is not None
        replace_tenant_config(session, runtime.secrets, tenant.id, {"MonetizationInfo": info})


@pytest.fixture
def stripe(runtime: Runtime, stripe_fake: StripeFake) -> StripeSetup:
    platform = stripe_fake.add_platform_account(PLATFORM_KEY)
    seller = stripe_fake.add_connected_account(PLATFORM_KEY)
    set_monetization_info(
        runtime, {"BillingEnginePlatformAccountKey": PLATFORM_KEY, "StripeWebhookSecret": WEBHOOK_SECRET}
    )
    return StripeSetup(stripe_fake, platform, seller, runtime)


@pytest.fixture
def world(runtime: Runtime, stripe: StripeSetup) -> World:
    return World(runtime)


@pytest.fixture
def identity(runtime: Runtime) -> OrmIdentity:
    return OrmIdentity(runtime)


@pytest.fixture
def http(live_server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        yield client
