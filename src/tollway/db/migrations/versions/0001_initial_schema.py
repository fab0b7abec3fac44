"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import tollway.db.types

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "config_versions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_config_versions")),
    )
    op.create_table(
        "job_locks",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=190), nullable=True),
        sa.Column("acquired_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("expires_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_job_locks")),
    )
    op.create_table(
        "tenants",
        sa.Column("domain", sa.String(length=190), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("config", tollway.db.types.JSONText(), nullable=False),
        sa.Column("monetization_secrets", sa.Text(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("domain", name=op.f("uq_tenants_domain")),
    )
    op.create_table(
        "usage_events",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("time", tollway.db.types.UTCDateTime(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("api_id", sa.String(length=36), nullable=True),
        sa.Column("application_id", sa.String(length=36), nullable=True),
        sa.Column("subscription_id", sa.String(length=36), nullable=True),
        sa.Column("tier", sa.String(length=190), nullable=True),
        sa.Column("status_code", sa.SmallInteger(), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("latency_us", sa.Integer(), nullable=False),
        sa.Column("request_bytes", sa.BigInteger(), nullable=False),
        sa.Column("response_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
    )
    with op.batch_alter_table("usage_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_usage_events_subscription_id_time"), ["subscription_id", "time"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_usage_events_time"), ["time"], unique=False)

    op.create_table(
        "usage_publish_jobs",
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("started_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.Column("finished_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("published_until", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_publish_jobs")),
    )
    op.create_table(
        "usage_rollups",
        sa.Column("subscription_id", sa.String(length=36), nullable=False),
        sa.Column("hour", tollway.db.types.UTCDateTime(), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("api_id", sa.String(length=36), nullable=False),
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("billable_count", sa.BigInteger(), nullable=False),
        sa.Column("total_count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("subscription_id", "hour", name=op.f("pk_usage_rollups")),
    )
    with op.batch_alter_table("usage_rollups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_usage_rollups_api_id_hour"), ["api_id", "hour"], unique=False)

    op.create_table(
        "ledger_customers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("parent_id", sa.String(length=64), nullable=True),
        sa.Column("account", sa.String(length=255), nullable=True),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_customers_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_customers")),
    )
    op.create_table(
        "ledger_plans",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("policy_id", sa.String(length=36), nullable=True),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("pricing", tollway.db.types.JSONText(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_plans_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_plans")),
    )
    with op.batch_alter_table("ledger_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_plans_policy_id"), ["policy_id"], unique=False)

    op.create_table(
        "subscription_policies",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=190), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("limit_type", sa.String(length=32), nullable=False),
        sa.Column("request_count", sa.BigInteger(), nullable=True),
        sa.Column("data_amount", sa.BigInteger(), nullable=True),
        sa.Column("data_unit", sa.String(length=8), nullable=True),
        sa.Column("time_unit", sa.String(length=16), nullable=False),
        sa.Column("unit_time", sa.Integer(), nullable=False),
        sa.Column("rate_limit_count", sa.Integer(), nullable=False),
        sa.Column("rate_limit_time_unit", sa.String(length=16), nullable=True),
        sa.Column("stop_on_quota_reach", sa.Boolean(), nullable=False),
        sa.Column("billing_plan", sa.String(length=16), nullable=False),
        sa.Column("monetization_plan", sa.String(length=16), nullable=True),
        sa.Column("fixed_price", tollway.db.types.Money(precision=38, scale=12), nullable=True),
        sa.Column("price_per_request", tollway.db.types.Money(precision=38, scale=12), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("billing_cycle", sa.String(length=8), nullable=True),
        sa.Column("included_requests", sa.BigInteger(), nullable=False),
        sa.Column("tier_mode", sa.String(length=16), nullable=True),
        sa.Column("extra_properties", tollway.db.types.JSONText(), nullable=False),
        sa.Column("custom_attributes", tollway.db.types.JSONText(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("updated_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_subscription_policies_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_policies")),
        sa.UniqueConstraint("tenant_id", "name", name=op.f("uq_subscription_policies_tenant_id_name")),
    )
    op.create_table(
        "users",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("username", sa.String(length=190), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("given_name", sa.String(length=190), nullable=True),
        sa.Column("family_name", sa.String(length=190), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_users_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("tenant_id", "username", name=op.f("uq_users_tenant_id_username")),
    )
    op.create_table(
        "apis",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("context", sa.String(length=190), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=190), nullable=False),
        sa.Column("provider_id", sa.String(length=36), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("lifecycle_status", sa.String(length=16), nullable=False),
        sa.Column("endpoint_config", tollway.db.types.JSONText(), nullable=False),
        sa.Column("backend_timeout_ms", sa.Integer(), nullable=True),
        sa.Column("monetization_enabled", sa.Boolean(), nullable=False),
        sa.Column("monetization_properties", tollway.db.types.JSONText(), nullable=False),
        sa.Column("extra", tollway.db.types.JSONText(), nullable=False),
        sa.Column("updated_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["users.id"], name=op.f("fk_apis_provider_id"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_apis_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_apis")),
        sa.UniqueConstraint(
            "tenant_id", "context", "version", name=op.f("uq_apis_tenant_id_context_version")
        ),
        sa.UniqueConstraint("tenant_id", "name", "version", name=op.f("uq_apis_tenant_id_name_version")),
    )
    op.create_table(
        "applications",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("throttling_policy", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("token_type", sa.String(length=16), nullable=False),
        sa.Column("attributes", tollway.db.types.JSONText(), nullable=False),
        sa.Column("updated_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_applications_owner_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_applications_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applications")),
        sa.UniqueConstraint(
            "tenant_id", "owner_id", "name", name=op.f("uq_applications_tenant_id_owner_id_name")
        ),
    )
    op.create_table(
        "ledger_subscriptions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("plan_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("anchor_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.Column("canceled_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["ledger_customers.id"], name=op.f("fk_ledger_subscriptions_customer_id")
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"], ["ledger_plans.id"], name=op.f("fk_ledger_subscriptions_plan_id")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_ledger_subscriptions_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_subscriptions")),
    )
    op.create_table(
        "mon_platform_customers",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("engine_customer_id", sa.String(length=255), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_mon_platform_customers_tenant_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_mon_platform_customers_user_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mon_platform_customers")),
        sa.UniqueConstraint("tenant_id", "user_id", name=op.f("uq_mon_platform_customers_tenant_id_user_id")),
    )
    op.create_table(
        "mon_policy_plans",
        sa.Column("policy_id", sa.String(length=36), nullable=False),
        sa.Column("engine_product_id", sa.String(length=255), nullable=False),
        sa.Column("engine_plan_id", sa.String(length=255), nullable=False),
        sa.Column("engine_meter_id", sa.String(length=255), nullable=True),
        sa.Column("updated_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["subscription_policies.id"],
            name=op.f("fk_mon_policy_plans_policy_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("policy_id", name=op.f("pk_mon_policy_plans")),
    )
    op.create_table(
        "policy_price_tiers",
        sa.Column("policy_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("up_to", sa.BigInteger(), nullable=True),
        sa.Column("unit_price", tollway.db.types.Money(precision=38, scale=12), nullable=False),
        sa.Column("flat_amount", tollway.db.types.Money(precision=38, scale=12), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["subscription_policies.id"],
            name=op.f("fk_policy_price_tiers_policy_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_policy_price_tiers")),
        sa.UniqueConstraint("policy_id", "position", name=op.f("uq_policy_price_tiers_policy_id_position")),
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_roles_user_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "role", name=op.f("pk_user_roles")),
    )
    op.create_table(
        "api_keys",
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("revoked_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_api_keys_application_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_keys_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_keys_application_id"), ["application_id"], unique=False)

    op.create_table(
        "api_policies",
        sa.Column("api_id", sa.String(length=36), nullable=False),
        sa.Column("policy_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_id"], ["apis.id"], name=op.f("fk_api_policies_api_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["subscription_policies.id"],
            name=op.f("fk_api_policies_policy_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_id", "policy_id", name=op.f("pk_api_policies")),
    )
    op.create_table(
        "ledger_usage_records",
        sa.Column("id", sa.String(length=190), nullable=False),
        sa.Column("subscription_id", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("usage_time", tollway.db.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["ledger_subscriptions.id"],
            name=op.f("fk_ledger_usage_records_subscription_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_usage_records")),
    )
    with op.batch_alter_table("ledger_usage_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ledger_usage_records_subscription_id_usage_time_quantity"),
            ["subscription_id", "usage_time", "quantity"],
            unique=False,
        )

    op.create_table(
        "mon_api_tier_plans",
        sa.Column("api_id", sa.String(length=36), nullable=False),
        sa.Column("tier_name", sa.String(length=190), nullable=False),
        sa.Column("policy_id", sa.String(length=36), nullable=True),
        sa.Column("engine_product_id", sa.String(length=255), nullable=False),
        sa.Column("engine_plan_id", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_id"], ["apis.id"], name=op.f("fk_mon_api_tier_plans_api_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["subscription_policies.id"],
            name=op.f("fk_mon_api_tier_plans_policy_id"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mon_api_tier_plans")),
        sa.UniqueConstraint("api_id", "tier_name", name=op.f("uq_mon_api_tier_plans_api_id_tier_name")),
    )
    op.create_table(
        "mon_shared_customers",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("api_provider", sa.String(length=190), nullable=False),
        sa.Column("engine_customer_id", sa.String(length=255), nullable=False),
        sa.Column("parent_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_mon_shared_customers_application_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["mon_platform_customers.id"],
            name=op.f("fk_mon_shared_customers_parent_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_mon_shared_customers_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mon_shared_customers")),
        sa.UniqueConstraint(
            "application_id", "api_provider", name=op.f("uq_mon_shared_customers_application_id_api_provider")
        ),
    )
    op.create_table(
        "oauth_clients",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=255), nullable=False),
        sa.Column("client_name", sa.String(length=190), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=True),
        sa.Column("application_id", sa.String(length=36), nullable=True),
        sa.Column("key_type", sa.String(length=16), nullable=True),
        sa.Column("grant_types", sa.String(length=255), nullable=False),
        sa.Column("callback_url", sa.String(length=1024), nullable=True),
        sa.Column("revoked_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_oauth_clients_application_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_oauth_clients_owner_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_oauth_clients_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_clients")),
        sa.UniqueConstraint("client_id", name=op.f("uq_oauth_clients_client_id")),
    )
    op.create_table(
        "subscriptions",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("api_id", sa.String(length=36), nullable=False),
        sa.Column("policy_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("status_reason", sa.String(length=64), nullable=True),
        sa.Column("updated_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_id"], ["apis.id"], name=op.f("fk_subscriptions_api_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_subscriptions_application_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"], ["subscription_policies.id"], name=op.f("fk_subscriptions_policy_id")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_subscriptions_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
        sa.UniqueConstraint("application_id", "api_id", name=op.f("uq_subscriptions_application_id_api_id")),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_subscriptions_api_id"), ["api_id"], unique=False)

    op.create_table(
        "application_keys",
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("key_type", sa.String(length=16), nullable=False),
        sa.Column("client_pk", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_application_keys_application_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_pk"],
            ["oauth_clients.id"],
            name=op.f("fk_application_keys_client_pk"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_application_keys")),
        sa.UniqueConstraint(
            "application_id", "key_type", name=op.f("uq_application_keys_application_id_key_type")
        ),
    )
    op.create_table(
        "mon_subscriptions",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=True),
        sa.Column("application_id", sa.String(length=36), nullable=False),
        sa.Column("api_id", sa.String(length=36), nullable=False),
        sa.Column("policy_id", sa.String(length=36), nullable=False),
        sa.Column("api_snapshot", tollway.db.types.JSONText(), nullable=False),
        sa.Column("billing_cycle", sa.String(length=8), nullable=False),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("engine_subscription_id", sa.String(length=255), nullable=False),
        sa.Column("shared_customer_id", sa.String(length=36), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("plan_type", sa.String(length=16), nullable=False),
        sa.Column("started_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.Column("canceled_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("usage_published_until", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shared_customer_id"],
            ["mon_shared_customers.id"],
            name=op.f("fk_mon_subscriptions_shared_customer_id"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_mon_subscriptions_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mon_subscriptions")),
        sa.UniqueConstraint(
            "engine_subscription_id", name=op.f("uq_mon_subscriptions_engine_subscription_id")
        ),
    )
    with op.batch_alter_table("mon_subscriptions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mon_subscriptions_api_id"), ["api_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mon_subscriptions_subscription_id"), ["subscription_id"], unique=False
        )

    op.create_table(
        "oauth_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("client_pk", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("application_id", sa.String(length=36), nullable=True),
        sa.Column("scopes", sa.String(length=1024), nullable=False),
        sa.Column("expires_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.Column("revoked_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("family_id", sa.String(length=36), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["applications.id"],
            name=op.f("fk_oauth_tokens_application_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_pk"], ["oauth_clients.id"], name=op.f("fk_oauth_tokens_client_pk"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_oauth_tokens_tenant_id"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_oauth_tokens_user_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_oauth_tokens_token_hash")),
    )
    with op.batch_alter_table("oauth_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oauth_tokens_application_id"), ["application_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_oauth_tokens_client_pk"), ["client_pk"], unique=False)

    op.create_table(
        "invoices",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=True),
        sa.Column("engine", sa.String(length=64), nullable=False),
        sa.Column("engine_invoice_id", sa.String(length=255), nullable=True),
        sa.Column("mon_subscription_id", sa.String(length=36), nullable=False),
        sa.Column("subscription_id", sa.String(length=36), nullable=True),
        sa.Column("api_id", sa.String(length=36), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("period_start", tollway.db.types.UTCDateTime(), nullable=False),
        sa.Column("period_end", tollway.db.types.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("subtotal", tollway.db.types.Money(precision=38, scale=12), nullable=False),
        sa.Column("tax", tollway.db.types.Money(precision=38, scale=12), nullable=False),
        sa.Column("total", tollway.db.types.Money(precision=38, scale=12), nullable=False),
        sa.Column("amount_due", tollway.db.types.Money(precision=38, scale=12), nullable=False),
        sa.Column("amount_paid", tollway.db.types.Money(precision=38, scale=12), nullable=False),
        sa.Column("finalized_at", tollway.db.types.UTCDateTime(), nullable=True),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mon_subscription_id"],
            ["mon_subscriptions.id"],
            name=op.f("fk_invoices_mon_subscription_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_invoices_tenant_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint(
            "mon_subscription_id", "period_start", name=op.f("uq_invoices_mon_subscription_id_period_start")
        ),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
    )
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invoices_api_id"), ["api_id"], unique=False)

    op.create_table(
        "usage_publish_records",
        sa.Column("idempotency_key", sa.String(length=190), nullable=False),
        sa.Column("mon_subscription_id", sa.String(length=36), nullable=False),
        sa.Column("window_start", tollway.db.types.UTCDateTime(), nullable=False),
        sa.Column("window_end", tollway.db.types.UTCDateTime(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", tollway.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mon_subscription_id"],
            ["mon_subscriptions.id"],
            name=op.f("fk_usage_publish_records_mon_subscription_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("idempotency_key", name=op.f("pk_usage_publish_records")),
    )
    with op.batch_alter_table("usage_publish_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_usage_publish_records_mon_subscription_id_window_end"),
            ["mon_subscription_id", "window_end"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_usage_publish_records_state"), ["state"], unique=False)

    op.create_table(
        "invoice_lines",
        sa.Column("invoice_id", sa.String(length=36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit_amount", tollway.db.types.Money(precision=38, scale=12), nullable=False),
        sa.Column("amount", tollway.db.types.Money(precision=38, scale=12), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["invoice_id"], ["invoices.id"], name=op.f("fk_invoice_lines_invoice_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_lines")),
        sa.UniqueConstraint("invoice_id", "position", name=op.f("uq_invoice_lines_invoice_id_position")),
    )


def downgrade() -> None:
    # Dropping a table drops its indexes (MariaDB refuses to drop an index a foreign key uses).
    op.drop_table("invoice_lines")
    op.drop_table("usage_publish_records")
    op.drop_table("invoices")
    op.drop_table("oauth_tokens")
    op.drop_table("mon_subscriptions")
    op.drop_table("application_keys")
    op.drop_table("subscriptions")
    op.drop_table("oauth_clients")
    op.drop_table("mon_shared_customers")
    op.drop_table("mon_api_tier_plans")
    op.drop_table("ledger_usage_records")
    op.drop_table("api_policies")
    op.drop_table("api_keys")
    op.drop_table("user_roles")
    op.drop_table("policy_price_tiers")
    op.drop_table("mon_policy_plans")
    op.drop_table("mon_platform_customers")
    op.drop_table("ledger_subscriptions")
    op.drop_table("applications")
    op.drop_table("apis")
    op.drop_table("users")
    op.drop_table("subscription_policies")
    op.drop_table("ledger_plans")
    op.drop_table("ledger_customers")
    op.drop_table("usage_rollups")
    op.drop_table("usage_publish_jobs")
    op.drop_table("usage_events")
    op.drop_table("tenants")
    op.drop_table("job_locks")
    op.drop_table("config_versions")
