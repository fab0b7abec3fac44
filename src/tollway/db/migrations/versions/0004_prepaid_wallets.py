"""Prepaid wallets and their append-only entries; a business plan's billing mode

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tollway.db.types

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("subscription_policies") as batch:
        batch.add_column(
            sa.Column("billing_mode", sa.String(length=16), nullable=False, server_default="POSTPAID")
        )
    op.create_table(
        "wallets",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_wallets_tenant_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_wallets_owner_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallets")),
        sa.UniqueConstraint(
            "tenant_id", "owner_id", "currency", name=op.f("uq_wallets_tenant_id_owner_id_currency")
        ),
    )
    op.create_table(
        "wallet_entries",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("wallet_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("amount", tollway.db.types.Money(), nullable=False),
        sa.Column("balance_after", tollway.db.types.Money(), nullable=False),
        sa.Column("expires_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=255), nullable=True),
        sa.Column("reference", sa.String(length=190), nullable=True),
        sa.Column("subscription_id", sa.String(length=36), nullable=True),
        sa.Column("period_start", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("calls_through", sa.BigInteger(), nullable=True),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["wallet_id"], ["wallets.id"], name=op.f("fk_wallet_entries_wallet_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wallet_entries")),
        sa.UniqueConstraint("wallet_id", "sequence", name=op.f("uq_wallet_entries_wallet_id_sequence")),
        sa.UniqueConstraint("reference", name=op.f("uq_wallet_entries_reference")),
    )
    op.create_index(
        op.f("ix_wallet_entries_subscription_id_period_start"),
        "wallet_entries",
        ["subscription_id", "period_start"],
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_wallet_entries_subscription_id_period_start"), table_name="wallet_entries")
    op.drop_table("wallet_entries")
    op.drop_table("wallets")
    with op.batch_alter_table("subscription_policies") as batch:
        batch.drop_column("billing_mode")
