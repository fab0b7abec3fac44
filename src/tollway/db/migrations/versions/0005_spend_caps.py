"""Spend caps on postpaid subscriptions, and a business plan's default cap

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tollway.db.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscription_policies") as batch:
        batch.add_column(sa.Column("default_spend_cap", tollway.db.types.Money(), nullable=True))
    op.create_table(
        "spend_caps",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("amount", tollway.db.types.Money(), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("set_by", sa.String(length=255), nullable=True),
        sa.Column("updated_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["subscriptions.id"],
            name=op.f("fk_spend_caps_subscription_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("subscription_id", name=op.f("pk_spend_caps")),
    )


def downgrade() -> None:
    op.drop_table("spend_caps")
    with op.batch_alter_table("subscription_policies") as batch:
        batch.drop_column("default_spend_cap")
