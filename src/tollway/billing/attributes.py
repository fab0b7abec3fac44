"""The properties a billing engine needs, declared by the engine itself.

* **API attributes**: what the publisher gives when enabling monetization of an API (Stripe: the
  publisher's ``ConnectedAccountKey``). ``[[monetization.additional_attributes]]`` adds to the
  engine's own, or re-describes one of them by name (the manual's configuration keeps working).
* **Tenant keys**: what the tenant admin stores in MonetizationInfo (Stripe: the platform account
  key). An engine that declares none (the ledger) asks the admin for nothing.

Engines declare them as class attributes ``api_attributes`` and ``tenant_keys`` (tuples of
:class:`EngineAttribute`); both are optional, so engines written before them keep working.
"""

from __future__ import annotations

from dataclasses import dataclass

from tollway.billing.contract import BillingEngine
from tollway.config import Settings


@dataclass(frozen=True, slots=True)
class EngineAttribute:
    name: str
    display_name: str
    required: bool = False
    description: str = ""


def api_attributes(engine: BillingEngine, settings: Settings) -> list[EngineAttribute]:
    """The engine's API attributes, then the configured ones (a configured name replaces the
    engine's description of it)."""
    found = {a.name: a for a in getattr(engine, "api_attributes", ())}
    for configured in settings.monetization.additional_attributes:
        found[configured.name] = EngineAttribute(
            name=configured.name,
            display_name=configured.display_name or configured.name,
            required=configured.required,
            description=configured.description,
        )
    return list(found.values())


def tenant_keys(engine: BillingEngine) -> list[EngineAttribute]:
    return list(getattr(engine, "tenant_keys", ()))
