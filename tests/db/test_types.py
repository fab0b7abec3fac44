"""Money stays exact and time stays UTC with microseconds on every backend."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from tollway.db.session import transaction
from tollway.models import Invoice, MonSubscription, Tenant
from tollway.runtime import Runtime

AMOUNTS = [
    Decimal("0.0004"),
    Decimal("0.000000000001"),
    Decimal("12345678901234567890.123456789012"),
    Decimal(0),
]


@pytest.mark.parametrize("amount", AMOUNTS)
def test_money_round_trips_exactly(runtime: Runtime, amount: Decimal) -> None:
    stamp = datetime(2026, 11, 24, 12, 30, 45, 123456, tzinfo=UTC)
    with transaction(runtime.session_factory) as session:
        tenant = session.scalar(select(Tenant))
        assert tenant is not None
        sub = MonSubscription(
            tenant_id=tenant.id,
            application_id="app",
            api_id="api",
            policy_id="pol",
            engine="ledger",
            engine_subscription_id=f"sub_{amount}",
            plan_type="DynamicRate",
            started_at=stamp,
        )
        session.add(sub)
        session.flush()
        session.add(
            Invoice(
                tenant_id=tenant.id,
                engine="ledger",
                mon_subscription_id=sub.id,
                api_id="api",
                currency="USD",
                period_start=stamp,
                period_end=stamp,
                subtotal=amount,
                tax=Decimal(0),
                total=amount,
                amount_due=amount,
                amount_paid=Decimal(0),
            )
        )
    with transaction(runtime.session_factory) as session:
        invoice = session.scalar(select(Invoice))
        assert invoice is not None
        assert isinstance(invoice.total, Decimal)
        assert invoice.total == amount
        assert invoice.period_start == stamp
        assert invoice.period_start.tzinfo is UTC


def test_money_refuses_float(runtime: Runtime) -> None:
    with pytest.raises(Exception, match="Decimal"), transaction(runtime.session_factory) as session:
        tenant = session.scalar(select(Tenant))
        assert tenant is not None
        session.add(
            Invoice(
                tenant_id=tenant.id,
                engine="ledger",
                mon_subscription_id="x",
                api_id="api",
                currency="USD",
                period_start=datetime.now(UTC),
                period_end=datetime.now(UTC),
                subtotal=0.1,  # type: ignore[arg-type]
                tax=Decimal(0),
                total=Decimal(0),
                amount_due=Decimal(0),
                amount_paid=Decimal(0),
            )
        )
