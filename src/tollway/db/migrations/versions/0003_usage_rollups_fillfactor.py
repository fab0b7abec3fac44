"""usage_rollups pages keep half their space free on PostgreSQL (fillfactor 50)

Every batch the metering sink stores updates each of its subscriptions' current hour row. With
room on the page the new row version is a HOT update (no index entry); a full page moves it and
adds entries to both indexes. Measured in bench/results/pipeline-2026-12-05.md. Other databases
have no such setting: nothing to do there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE usage_rollups SET (fillfactor = 50)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE usage_rollups RESET (fillfactor)")
