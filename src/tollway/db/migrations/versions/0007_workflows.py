"""Approval workflows, and an application's status (CREATED while its creation waits)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tollway.db.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("workflow_type", sa.String(length=48), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subject_id", sa.String(length=36), nullable=False),
        sa.Column("requested_by", sa.String(length=255), nullable=False),
        sa.Column("properties", tollway.db.types.JSONText(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("updated_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_workflows_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
    )
    with op.batch_alter_table("workflows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_workflows_tenant_id_status_created_at"),
            ["tenant_id", "status", "created_at"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_workflows_subject_id"), ["subject_id"], unique=False)
    with op.batch_alter_table("applications") as batch:
        batch.add_column(sa.Column("status", sa.String(length=16), nullable=False, server_default="APPROVED"))


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("status")
    op.drop_table("workflows")
