"""baseline: the schema of metered 0.1 (embedded store version 4), every table

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_table(
        "alert_triggers",
        sa.Column("alert_pk", sa.Integer(), nullable=False),
        sa.Column("customer_pk", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("triggered_at", sa.BigInteger(), nullable=False),
        sa.Column("event_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("alert_pk", "customer_pk", "period_start"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "api_keys",
        sa.Column("key_hash", sa.LargeBinary(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("last4", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key_hash"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "billing_alerts",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("meter_pk", sa.Integer(), nullable=False),
        sa.Column("customer_pk", sa.Integer(), nullable=True),
        sa.Column("gte", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "billing_alerts_by_account",
        "billing_alerts",
        ["account_pk", "livemode", "pk"],
        unique=False,
    )
    op.create_table(
        "credit_grants",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("customer_pk", sa.Integer(), nullable=False),
        sa.Column("test_clock_pk", sa.Integer(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("price_pks", sa.Text(), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("effective_at", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=True),
        sa.Column("expired", sa.Boolean(), nullable=False),
        sa.Column("voided_at", sa.BigInteger(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "credit_grants_by_account", "credit_grants", ["account_pk", "livemode", "pk"], unique=False
    )
    op.create_index(
        "credit_grants_by_customer", "credit_grants", ["customer_pk", "pk"], unique=False
    )
    op.create_table(
        "credit_holds",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("customer_pk", sa.Integer(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("captured_amount", sa.BigInteger(), nullable=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "credit_holds_by_account", "credit_holds", ["account_pk", "livemode", "pk"], unique=False
    )
    op.create_index(
        "credit_holds_by_customer", "credit_holds", ["customer_pk", "status"], unique=False
    )
    op.create_table(
        "credit_ledger",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("grant_pk", sa.Integer(), nullable=False),
        sa.Column("customer_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("invoice_pk", sa.Integer(), nullable=True),
        sa.Column("invoice_line_id", sa.Text(), nullable=True),
        sa.Column("effective_at", sa.BigInteger(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "credit_ledger_by_customer", "credit_ledger", ["customer_pk", "pk"], unique=False
    )
    op.create_index("credit_ledger_by_grant", "credit_ledger", ["grant_pk", "pk"], unique=False)
    op.create_table(
        "customers",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("email", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("test_clock_pk", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "customers_by_account", "customers", ["account_pk", "livemode", "pk"], unique=False
    )
    op.create_table(
        "dimension_sets",
        sa.Column("dims_pk", sa.Integer(), nullable=False),
        sa.Column("meter_pk", sa.Integer(), nullable=False),
        sa.Column("dims", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("dims_pk"),
        sa.UniqueConstraint("meter_pk", "dims"),
    )
    op.create_table(
        "engine_state",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "event_segments",
        sa.Column("first_seq", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("ingested_ms", sa.BigInteger(), nullable=False),
        sa.Column("fps", sa.LargeBinary(), nullable=False),
        sa.Column("keys", sa.LargeBinary(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("first_seq"),
    )
    op.create_index("event_segments_by_time", "event_segments", ["ingested_ms"], unique=False)
    op.create_table(
        "events",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("api_version", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("request_id", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("events_by_account", "events", ["account_pk", "livemode", "pk"], unique=False)
    op.create_index(
        "events_by_type", "events", ["account_pk", "livemode", "type", "pk"], unique=False
    )
    op.create_table(
        "extreme_events",
        sa.Column("meter_pk", sa.Integer(), nullable=False),
        sa.Column("customer_pk", sa.Integer(), nullable=False),
        sa.Column("dims_pk", sa.Integer(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("value_hi", sa.BigInteger(), nullable=False),
        sa.Column("value_lo", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("meter_pk", "customer_pk", "dims_pk", "ts", "seq"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("account_pk", "livemode", "key"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "invoice_lines",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("invoice_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("subscription_item_pk", sa.Integer(), nullable=True),
        sa.Column("price_pk", sa.Integer(), nullable=True),
        sa.Column("charge", sa.Text(), nullable=True),
        sa.Column("charge_group", sa.Text(), nullable=True),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Text(), nullable=False),
        sa.Column("unit_amount_decimal", sa.Text(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("proration", sa.Boolean(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("invoice_lines_by_charge", "invoice_lines", ["charge"], unique=False)
    op.create_index("invoice_lines_by_invoice", "invoice_lines", ["invoice_pk", "pk"], unique=False)
    op.create_table(
        "invoices",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("customer_pk", sa.Integer(), nullable=False),
        sa.Column("subscription_pk", sa.Integer(), nullable=True),
        sa.Column("test_clock_pk", sa.Integer(), nullable=True),
        sa.Column("number", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("billing_reason", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("auto_advance", sa.Boolean(), nullable=False),
        sa.Column("finalize_at", sa.BigInteger(), nullable=True),
        sa.Column("finalized_at", sa.BigInteger(), nullable=True),
        sa.Column("paid_at", sa.BigInteger(), nullable=True),
        sa.Column("voided_at", sa.BigInteger(), nullable=True),
        sa.Column("marked_uncollectible_at", sa.BigInteger(), nullable=True),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("credits_applied", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "invoices_by_account", "invoices", ["account_pk", "livemode", "pk"], unique=False
    )
    op.create_index("invoices_by_customer", "invoices", ["customer_pk", "pk"], unique=False)
    op.create_index("invoices_due", "invoices", ["status", "finalize_at"], unique=False)
    op.create_table(
        "meter_event_adjustments",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("event_name", sa.Text(), nullable=False),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint("seq"),
    )
    op.create_table(
        "meter_event_sessions",
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "meters",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=False),
        sa.Column("event_name", sa.Text(), nullable=False),
        sa.Column("formula", sa.Text(), nullable=False),
        sa.Column("customer_key", sa.Text(), nullable=False),
        sa.Column("value_key", sa.Text(), nullable=False),
        sa.Column("dimension_keys", sa.Text(), nullable=False),
        sa.Column("event_time_window", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("deactivated_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("meters_by_account", "meters", ["account_pk", "livemode", "pk"], unique=False)
    op.create_table(
        "pending_invoice_items",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("subscription_pk", sa.Integer(), nullable=False),
        sa.Column("subscription_item_pk", sa.Integer(), nullable=False),
        sa.Column("price_pk", sa.Integer(), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("period_end", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Text(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("invoice_pk", sa.Integer(), nullable=True),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "pending_invoice_items_by_subscription",
        "pending_invoice_items",
        ["subscription_pk", "invoice_pk"],
        unique=False,
    )
    op.create_table(
        "prices",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("product_pk", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("type", sa.Text(), nullable=False),
        sa.Column("billing_scheme", sa.Text(), nullable=False),
        sa.Column("unit_amount_decimal", sa.Text(), nullable=True),
        sa.Column("tiers_mode", sa.Text(), nullable=True),
        sa.Column("tiers", sa.Text(), nullable=False),
        sa.Column("transform_divide_by", sa.BigInteger(), nullable=True),
        sa.Column("transform_round", sa.Text(), nullable=True),
        sa.Column("recurring_interval", sa.Text(), nullable=True),
        sa.Column("recurring_interval_count", sa.Integer(), nullable=True),
        sa.Column("recurring_usage_type", sa.Text(), nullable=True),
        sa.Column("meter_pk", sa.Integer(), nullable=True),
        sa.Column("lookup_key", sa.Text(), nullable=True),
        sa.Column("nickname", sa.Text(), nullable=True),
        sa.Column("dimensional", sa.Text(), nullable=True),
        sa.Column("minimum_amount", sa.BigInteger(), nullable=True),
        sa.Column("maximum_amount", sa.BigInteger(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("prices_by_account", "prices", ["account_pk", "livemode", "pk"], unique=False)
    op.create_index(
        "prices_by_lookup_key", "prices", ["account_pk", "livemode", "lookup_key"], unique=False
    )
    op.create_table(
        "products",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("unit_label", sa.Text(), nullable=True),
        sa.Column("default_price_pk", sa.Integer(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("updated", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "products_by_account", "products", ["account_pk", "livemode", "pk"], unique=False
    )
    op.create_table(
        "rollup_deltas",
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("cells", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.create_table(
        "rollup_extremes",
        sa.Column("meter_pk", sa.Integer(), nullable=False),
        sa.Column("customer_pk", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("dims_pk", sa.Integer(), nullable=False),
        sa.Column("max_hi", sa.BigInteger(), nullable=True),
        sa.Column("max_lo", sa.BigInteger(), nullable=True),
        sa.Column("last_ts", sa.BigInteger(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("last_hi", sa.BigInteger(), nullable=True),
        sa.Column("last_lo", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("meter_pk", "customer_pk", "level", "bucket", "dims_pk"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_packs",
        sa.Column("meter_pk", sa.Integer(), nullable=False),
        sa.Column("customer_pk", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("cells", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("meter_pk", "customer_pk", "level", "bucket"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_uniques",
        sa.Column("meter_pk", sa.Integer(), nullable=False),
        sa.Column("customer_pk", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("dims_pk", sa.Integer(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("refs", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("meter_pk", "customer_pk", "level", "bucket", "dims_pk", "value"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "subscription_item_phases",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("item_pk", sa.Integer(), nullable=False),
        sa.Column("price_pk", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("start", sa.BigInteger(), nullable=False),
        sa.Column("end", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("pk"),
    )
    op.create_index(
        "subscription_item_phases_by_item",
        "subscription_item_phases",
        ["item_pk", "start"],
        unique=False,
    )
    op.create_table(
        "subscription_items",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("subscription_pk", sa.Integer(), nullable=False),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "subscription_items_by_subscription",
        "subscription_items",
        ["subscription_pk", "pk"],
        unique=False,
    )
    op.create_table(
        "subscriptions",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("customer_pk", sa.Integer(), nullable=False),
        sa.Column("test_clock_pk", sa.Integer(), nullable=True),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("interval", sa.Text(), nullable=False),
        sa.Column("interval_count", sa.Integer(), nullable=False),
        sa.Column("billing_cycle_anchor", sa.BigInteger(), nullable=False),
        sa.Column("current_period_start", sa.BigInteger(), nullable=False),
        sa.Column("current_period_end", sa.BigInteger(), nullable=False),
        sa.Column("start_date", sa.BigInteger(), nullable=False),
        sa.Column("trial_start", sa.BigInteger(), nullable=True),
        sa.Column("trial_end", sa.BigInteger(), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("cancel_at", sa.BigInteger(), nullable=True),
        sa.Column("canceled_at", sa.BigInteger(), nullable=True),
        sa.Column("ended_at", sa.BigInteger(), nullable=True),
        sa.Column("days_until_due", sa.Integer(), nullable=True),
        sa.Column("collection_method", sa.Text(), nullable=False),
        sa.Column("latest_invoice_pk", sa.Integer(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "subscriptions_by_account", "subscriptions", ["account_pk", "livemode", "pk"], unique=False
    )
    op.create_index("subscriptions_by_customer", "subscriptions", ["customer_pk"], unique=False)
    op.create_index(
        "subscriptions_due", "subscriptions", ["status", "current_period_end"], unique=False
    )
    op.create_table(
        "test_clocks",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("frozen_time", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("deletes_after", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "test_clocks_by_account", "test_clocks", ["account_pk", "livemode", "pk"], unique=False
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("event_pk", sa.Integer(), nullable=False),
        sa.Column("endpoint_pk", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("pk"),
    )
    op.create_index("webhook_deliveries_by_event", "webhook_deliveries", ["event_pk"], unique=False)
    op.create_index(
        "webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"], unique=False
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("account_pk", sa.Integer(), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("enabled_events", sa.Text(), nullable=False),
        sa.Column("secret", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=False),
        sa.Column("created", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("id"),
    )
    op.create_index(
        "webhook_endpoints_by_account",
        "webhook_endpoints",
        ["account_pk", "livemode", "pk"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("webhook_endpoints_by_account", table_name="webhook_endpoints")
    op.drop_table("webhook_endpoints")
    op.drop_index("webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_index("webhook_deliveries_by_event", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("test_clocks_by_account", table_name="test_clocks")
    op.drop_table("test_clocks")
    op.drop_index("subscriptions_due", table_name="subscriptions")
    op.drop_index("subscriptions_by_customer", table_name="subscriptions")
    op.drop_index("subscriptions_by_account", table_name="subscriptions")
    op.drop_table("subscriptions")
    op.drop_index("subscription_items_by_subscription", table_name="subscription_items")
    op.drop_table("subscription_items")
    op.drop_index("subscription_item_phases_by_item", table_name="subscription_item_phases")
    op.drop_table("subscription_item_phases")
    op.drop_table("rollup_uniques")
    op.drop_table("rollup_packs")
    op.drop_table("rollup_extremes")
    op.drop_table("rollup_deltas")
    op.drop_index("products_by_account", table_name="products")
    op.drop_table("products")
    op.drop_index("prices_by_lookup_key", table_name="prices")
    op.drop_index("prices_by_account", table_name="prices")
    op.drop_table("prices")
    op.drop_index("pending_invoice_items_by_subscription", table_name="pending_invoice_items")
    op.drop_table("pending_invoice_items")
    op.drop_index("meters_by_account", table_name="meters")
    op.drop_table("meters")
    op.drop_table("meter_event_sessions")
    op.drop_table("meter_event_adjustments")
    op.drop_index("invoices_due", table_name="invoices")
    op.drop_index("invoices_by_customer", table_name="invoices")
    op.drop_index("invoices_by_account", table_name="invoices")
    op.drop_table("invoices")
    op.drop_index("invoice_lines_by_invoice", table_name="invoice_lines")
    op.drop_index("invoice_lines_by_charge", table_name="invoice_lines")
    op.drop_table("invoice_lines")
    op.drop_table("idempotency_keys")
    op.drop_table("extreme_events")
    op.drop_index("events_by_type", table_name="events")
    op.drop_index("events_by_account", table_name="events")
    op.drop_table("events")
    op.drop_index("event_segments_by_time", table_name="event_segments")
    op.drop_table("event_segments")
    op.drop_table("engine_state")
    op.drop_table("dimension_sets")
    op.drop_index("customers_by_account", table_name="customers")
    op.drop_table("customers")
    op.drop_index("credit_ledger_by_grant", table_name="credit_ledger")
    op.drop_index("credit_ledger_by_customer", table_name="credit_ledger")
    op.drop_table("credit_ledger")
    op.drop_index("credit_holds_by_customer", table_name="credit_holds")
    op.drop_index("credit_holds_by_account", table_name="credit_holds")
    op.drop_table("credit_holds")
    op.drop_index("credit_grants_by_customer", table_name="credit_grants")
    op.drop_index("credit_grants_by_account", table_name="credit_grants")
    op.drop_table("credit_grants")
    op.drop_index("billing_alerts_by_account", table_name="billing_alerts")
    op.drop_table("billing_alerts")
    op.drop_table("api_keys")
    op.drop_table("alert_triggers")
    op.drop_table("accounts")
