"""Ledger invoices' payment state: due date, payment time, who set it and why

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tollway.db.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("due_at", tollway.db.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("paid_at", tollway.db.types.UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("status_set_by", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("status_note", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("status_note")
        batch.drop_column("status_set_by")
        batch.drop_column("paid_at")
        batch.drop_column("due_at")
