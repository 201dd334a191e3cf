"""Every table, declared once with SQLAlchemy Core: one schema for SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData()
# On PostgreSQL, integers are 64-bit and flags are 0/1 integers, as they are on SQLite: domain
# SQL (`deleted = 0`, amounts in minor units past 2**31) then means the same on both stores.
Int = Integer().with_variant(BigInteger(), "postgresql")
Flag = Boolean().with_variant(SmallInteger(), "postgresql")

SCHEMA_VERSION = 4  # 4: billing tables, customers.test_clock_pk (store.database upgrades 3)
# 3: rollup_packs replaced rollups (a version 2 store is upgraded at start)

accounts = Table(
    "accounts",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("name", Text),
    Column("created", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_hash", LargeBinary, primary_key=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("last4", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

customers = Table(
    "customers",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("email", Text),
    Column("name", Text),
    Column("description", Text),
    Column("metadata", Text, nullable=False, default="{}"),
    Column("created", BigInteger, nullable=False),
    Column("deleted", Flag, nullable=False, default=False),
    Column("test_clock_pk", Int),  # the customer lives on this test clock's time
    Index("customers_by_account", "account_pk", "livemode", "pk"),
)

meters = Table(
    "meters",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("display_name", Text, nullable=False),
    Column("event_name", Text, nullable=False),
    Column("formula", Text, nullable=False),
    Column("customer_key", Text, nullable=False),
    Column("value_key", Text, nullable=False),
    Column("dimension_keys", Text, nullable=False, default="[]"),
    Column("event_time_window", Text),
    Column("status", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("deactivated_at", BigInteger),
    Index("meters_by_account", "account_pk", "livemode", "pk"),
)

dimension_sets = Table(
    "dimension_sets",
    metadata,
    Column("dims_pk", Int, primary_key=True),
    Column("meter_pk", Int, nullable=False),
    Column("dims", Text, nullable=False),
    UniqueConstraint("meter_pk", "dims"),
)

# Raw events: immutable, in ingestion order (seq), packed in segments (see ingest.segments).
# Every rollup can be rebuilt from them, and they are the durable dedupe set: `fps` holds the
# fingerprints of (account, mode, event_name, identifier), indexed in memory by
# ingest.seen_index and confirmed against `keys`.
event_segments = Table(
    "event_segments",
    metadata,
    Column("first_seq", Int, primary_key=True),
    Column("count", Int, nullable=False),
    Column("ingested_ms", BigInteger, nullable=False),
    Column("fps", LargeBinary, nullable=False),
    Column("keys", LargeBinary, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Index("event_segments_by_time", "ingested_ms"),
)

# The events of max and last meters, by cell: cancelling one of them recomputes its cells'
# maximum or latest value from the others (sum, count and unique_count cells are inverted).
extreme_events = Table(
    "extreme_events",
    metadata,
    Column("meter_pk", Int, primary_key=True),
    Column("customer_pk", Int, primary_key=True),
    Column("dims_pk", Int, primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("value_hi", BigInteger, nullable=False),
    Column("value_lo", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

meter_event_adjustments = Table(
    "meter_event_adjustments",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("event_name", Text, nullable=False),
    Column("identifier", Text, nullable=False),
    Column("seq", Int, nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
)

# Count and sum cells per (meter, customer, dimension set) at every level (minute to 4 days),
# packed: one row per (meter, customer, level, bucket) holding all its dimension sets
# (metering.packs). Sums are exact: value * 10**12 as hi * 2**40 + lo in int64 columns.
rollup_packs = Table(
    "rollup_packs",
    metadata,
    Column("meter_pk", Int, primary_key=True),
    Column("customer_pk", Int, primary_key=True),
    Column("level", Int, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("cells", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)

# The minute cells of a write step's events (all but the late ones), written in the step's
# transaction and folded into rollup_packs (every level) by the next flush, which deletes them:
# a commit appends one row here rather than rewriting a minute pack per customer. `seq` is the
# step's last event seq; `cells` its (n, 8) int64 rows (metering.cells), little-endian.
rollup_deltas = Table(
    "rollup_deltas",
    metadata,
    Column("seq", BigInteger, primary_key=True),
    Column("cells", LargeBinary, nullable=False),
)

# The cells' maximum and latest value, for max and last meters only, a row per cell.
rollup_extremes = Table(
    "rollup_extremes",
    metadata,
    Column("meter_pk", Int, primary_key=True),
    Column("customer_pk", Int, primary_key=True),
    Column("level", Int, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("dims_pk", Int, primary_key=True),
    Column("max_hi", BigInteger),
    Column("max_lo", BigInteger),
    Column("last_ts", BigInteger),
    Column("last_seq", BigInteger),
    Column("last_hi", BigInteger),
    Column("last_lo", BigInteger),
    sqlite_with_rowid=False,
)

rollup_uniques = Table(
    "rollup_uniques",
    metadata,
    Column("meter_pk", Int, primary_key=True),
    Column("customer_pk", Int, primary_key=True),
    Column("level", Int, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("dims_pk", Int, primary_key=True),
    Column("value", Text, primary_key=True),
    Column("refs", Int, nullable=False),
    sqlite_with_rowid=False,
)

# Small named counters of the engine itself, e.g. `coarse_seq` (see metering.pending).
engine_state = Table(
    "engine_state",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("account_pk", Int, primary_key=True),
    Column("livemode", Flag, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("fingerprint", LargeBinary, nullable=False),
    Column("status", Int, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

meter_event_sessions = Table(
    "meter_event_sessions",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("id", Text, nullable=False),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)


# --- billing (metered.billing) ------------------------------------------------------------
# Amounts are in the currency's minor unit. Decimal values (unit amounts with up to 12 decimal
# places, quantities) are stored as text and read back as Decimal: never a float.

products = Table(
    "products",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text),
    Column("active", Flag, nullable=False),
    Column("unit_label", Text),
    Column("default_price_pk", Int),
    Column("metadata", Text, nullable=False, default="{}"),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Column("deleted", Flag, nullable=False, default=False),
    Index("products_by_account", "account_pk", "livemode", "pk"),
)

prices = Table(
    "prices",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("product_pk", Int, nullable=False),
    Column("active", Flag, nullable=False),
    Column("currency", Text, nullable=False),
    Column("type", Text, nullable=False),  # one_time or recurring
    Column("billing_scheme", Text, nullable=False),  # per_unit or tiered
    Column("unit_amount_decimal", Text),
    Column("tiers_mode", Text),
    Column("tiers", Text, nullable=False, default="[]"),  # [{up_to, unit_amount_decimal, ...}]
    Column("transform_divide_by", BigInteger),
    Column("transform_round", Text),
    Column("recurring_interval", Text),
    Column("recurring_interval_count", Int),
    Column("recurring_usage_type", Text),
    Column("meter_pk", Int),
    Column("lookup_key", Text),
    Column("nickname", Text),
    Column("dimensional", Text),  # native: {"dimension_keys": [...], "rates": [...]}
    Column("minimum_amount", BigInteger),  # native: per period, minor units
    Column("maximum_amount", BigInteger),
    Column("metadata", Text, nullable=False, default="{}"),
    Column("created", BigInteger, nullable=False),
    Index("prices_by_account", "account_pk", "livemode", "pk"),
    Index("prices_by_lookup_key", "account_pk", "livemode", "lookup_key"),
)

test_clocks = Table(
    "test_clocks",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("name", Text),
    Column("frozen_time", BigInteger, nullable=False),
    Column("status", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("deletes_after", BigInteger, nullable=False),
    Column("deleted", Flag, nullable=False, default=False),
    Index("test_clocks_by_account", "account_pk", "livemode", "pk"),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("customer_pk", Int, nullable=False),
    Column("test_clock_pk", Int),  # the customer's, when the subscription was created
    Column("currency", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("interval", Text, nullable=False),
    Column("interval_count", Int, nullable=False),
    Column("billing_cycle_anchor", BigInteger, nullable=False),
    Column("current_period_start", BigInteger, nullable=False),
    Column("current_period_end", BigInteger, nullable=False),
    Column("start_date", BigInteger, nullable=False),
    Column("trial_start", BigInteger),
    Column("trial_end", BigInteger),
    Column("cancel_at_period_end", Flag, nullable=False, default=False),
    Column("cancel_at", BigInteger),
    Column("canceled_at", BigInteger),
    Column("ended_at", BigInteger),
    Column("days_until_due", Int),
    Column("collection_method", Text, nullable=False),
    Column("latest_invoice_pk", Int),
    Column("metadata", Text, nullable=False, default="{}"),
    Column("created", BigInteger, nullable=False),
    Index("subscriptions_by_account", "account_pk", "livemode", "pk"),
    Index("subscriptions_by_customer", "customer_pk"),
    # The billing scheduler's next period end and next cancel_at, per clock (NULL: the wall
    # clock), read every second: partial indexes on the live subscriptions only.
    Index("subscriptions_period_ends", "test_clock_pk", "current_period_end",
          sqlite_where=text("status != 'canceled'"),
          postgresql_where=text("status != 'canceled'")),
    Index("subscriptions_cancel_ats", "test_clock_pk", "cancel_at",
          sqlite_where=text("status != 'canceled' AND cancel_at IS NOT NULL"),
          postgresql_where=text("status != 'canceled' AND cancel_at IS NOT NULL")),
)

subscription_items = Table(
    "subscription_items",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("subscription_pk", Int, nullable=False),
    Column("metadata", Text, nullable=False, default="{}"),
    Column("created", BigInteger, nullable=False),
    Column("deleted_at", BigInteger),  # removed from the subscription at this time
    Index("subscription_items_by_subscription", "subscription_pk", "pk"),
)

# An item's price and quantity over time: a change mid-period closes a phase and opens one,
# so that metered usage is split at the change and licensed amounts prorate by it.
subscription_item_phases = Table(
    "subscription_item_phases",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("item_pk", Int, nullable=False),
    Column("price_pk", Int, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("start", BigInteger, nullable=False),
    Column("end", BigInteger),  # None: open
    Index("subscription_item_phases_by_item", "item_pk", "start"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("customer_pk", Int, nullable=False),
    Column("subscription_pk", Int),
    Column("test_clock_pk", Int),
    Column("number", Text),
    Column("status", Text, nullable=False),  # draft, open, paid, void, uncollectible
    Column("billing_reason", Text, nullable=False),
    Column("currency", Text, nullable=False),
    Column("period_start", BigInteger, nullable=False),
    Column("period_end", BigInteger, nullable=False),
    Column("auto_advance", Flag, nullable=False),
    Column("finalize_at", BigInteger),  # a draft is finalized at this time (grace period)
    Column("finalized_at", BigInteger),
    Column("paid_at", BigInteger),
    Column("voided_at", BigInteger),
    Column("marked_uncollectible_at", BigInteger),
    Column("subtotal", BigInteger, nullable=False, default=0),
    Column("credits_applied", BigInteger, nullable=False, default=0),
    Column("amount_paid", BigInteger, nullable=False, default=0),
    Column("description", Text),
    Column("metadata", Text, nullable=False, default="{}"),
    Column("created", BigInteger, nullable=False),
    Index("invoices_by_account", "account_pk", "livemode", "pk"),
    Index("invoices_by_customer", "customer_pk", "pk"),
    Index("invoices_due", "status", "finalize_at"),
)

# Lines of an invoice. `charge` names what a line bills: the subscription item's price over a
# service period and, for dimensional prices, one group of dimension values. A period's usage
# billed again later (a late event after finalization) becomes an adjustment line with the
# same charge on a later invoice: the charge's lines always sum to what it costs now.
invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("invoice_pk", Int, nullable=False),
    Column("kind", Text, nullable=False),  # usage, licensed, proration, adjustment, minimum...
    Column("subscription_item_pk", Int),
    Column("price_pk", Int),
    Column("charge", Text),
    Column("charge_group", Text),  # the dimension values' group, or minimum/maximum
    Column("period_start", BigInteger, nullable=False),
    Column("period_end", BigInteger, nullable=False),
    Column("quantity", Text, nullable=False),
    Column("unit_amount_decimal", Text),
    Column("amount", BigInteger, nullable=False),
    Column("proration", Flag, nullable=False, default=False),
    Column("description", Text),
    Index("invoice_lines_by_invoice", "invoice_pk", "pk"),
    Index("invoice_lines_by_charge", "charge"),
)

# Prorations of licensed items waiting for the subscription's next invoice (Stripe's pending
# invoice items): a quantity or price change mid-period credits the unused time of the old
# terms and charges the new ones.
pending_invoice_items = Table(
    "pending_invoice_items",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("subscription_pk", Int, nullable=False),
    Column("subscription_item_pk", Int, nullable=False),
    Column("price_pk", Int, nullable=False),
    Column("period_start", BigInteger, nullable=False),
    Column("period_end", BigInteger, nullable=False),
    Column("quantity", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("description", Text, nullable=False),
    Column("invoice_pk", Int),  # set once billed
    Column("created", BigInteger, nullable=False),
    Index("pending_invoice_items_by_subscription", "subscription_pk", "invoice_pk"),
)

# Prepaid billing credits (billing.credits): grants, and the append-only ledger of every
# movement of their balances (granted, applied to an invoice, expired, voided, given back
# when the invoice is voided). A grant's balance is its ledger's sum.
credit_grants = Table(
    "credit_grants",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("customer_pk", Int, nullable=False),
    Column("test_clock_pk", Int),
    Column("name", Text),
    Column("category", Text, nullable=False),  # paid or promotional
    Column("currency", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),  # minor units
    Column("price_pks", Text),  # JSON list: the prices it applies to; NULL: every metered price
    Column("priority", Int, nullable=False),
    Column("effective_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger),
    Column("expired", Flag, nullable=False, default=False),  # its expiry is in the ledger
    Column("voided_at", BigInteger),
    Column("metadata", Text, nullable=False, default="{}"),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Index("credit_grants_by_account", "account_pk", "livemode", "pk"),
    Index("credit_grants_by_customer", "customer_pk", "pk"),
)

credit_ledger = Table(
    "credit_ledger",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("grant_pk", Int, nullable=False),
    Column("customer_pk", Int, nullable=False),
    # credits_granted, credits_application_invoice_voided (credits); credits_applied,
    # credits_expired, credits_voided (debits)
    Column("kind", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),  # signed: credits > 0, debits < 0
    Column("invoice_pk", Int),
    Column("invoice_line_id", Text),
    Column("effective_at", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Index("credit_ledger_by_grant", "grant_pk", "pk"),
    Index("credit_ledger_by_customer", "customer_pk", "pk"),
)

# Native: credit held for a customer's request in flight (authorize, then capture or
# release), so that the available balance cannot be spent twice.
credit_holds = Table(
    "credit_holds",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("customer_pk", Int, nullable=False),
    Column("currency", Text, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("status", Text, nullable=False),  # authorized, captured, released, expired
    Column("captured_amount", BigInteger),
    Column("expires_at", BigInteger, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("metadata", Text, nullable=False, default="{}"),
    Index("credit_holds_by_customer", "customer_pk", "status"),
    Index("credit_holds_by_account", "account_pk", "livemode", "pk"),
)


# --- webhooks (metered.webhooks) ----------------------------------------------------------

# Stripe's event objects (evt_...), written by billing code in the transaction of the change
# each one reports: an event exists if and only if its change committed. `data` is the JSON
# text of {"object": ..., "previous_attributes": ...}, served verbatim.
events = Table(
    "events",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("type", Text, nullable=False),
    Column("api_version", Text, nullable=False),
    Column("data", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("request_id", Text),  # the API request that made the change, if one did
    Index("events_by_account", "account_pk", "livemode", "pk"),
    Index("events_by_type", "account_pk", "livemode", "type", "pk"),
)

# Where an account's events are sent (we_...), signed with `secret` (whsec_...).
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("url", Text, nullable=False),
    Column("enabled_events", Text, nullable=False),  # JSON list of types, or ["*"]
    Column("secret", Text, nullable=False),
    Column("status", Text, nullable=False),  # enabled or disabled
    Column("description", Text),
    Column("metadata", Text, nullable=False, default="{}"),
    Column("created", BigInteger, nullable=False),
    Column("deleted", Flag, nullable=False, default=False),
    Index("webhook_endpoints_by_account", "account_pk", "livemode", "pk"),
)

# The outbox: one row per (event, endpoint) to deliver, written with the event, so a committed
# event is never lost; the dispatcher (webhooks.dispatcher) sends the due ones and records each
# attempt. Times in Unix milliseconds (test set-ups retry within a second).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("event_pk", Int, nullable=False),
    Column("endpoint_pk", Int, nullable=False),
    Column("attempts", Int, nullable=False, default=0),
    Column("next_attempt_at", BigInteger, nullable=False),
    Column("status", Text, nullable=False),  # pending, delivered or failed (gave up)
    Column("last_status_code", Int),
    Column("last_error", Text),
    Column("delivered_at", BigInteger),
    Index("webhook_deliveries_due", "status", "next_attempt_at"),
    Index("webhook_deliveries_by_event", "event_pk"),
)

# Usage-threshold alerts (billing.alerts) and the (alert, customer, period) they fired for:
# an alert fires once per customer and billing period.
billing_alerts = Table(
    "billing_alerts",
    metadata,
    Column("pk", Int, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Int, nullable=False),
    Column("livemode", Flag, nullable=False),
    Column("title", Text, nullable=False),
    Column("status", Text, nullable=False),  # active, inactive, archived
    Column("meter_pk", Int, nullable=False),
    Column("customer_pk", Int),  # the filter; NULL: every customer
    Column("gte", Text, nullable=False),  # a Decimal
    Column("created", BigInteger, nullable=False),
    Index("billing_alerts_by_account", "account_pk", "livemode", "pk"),
)

alert_triggers = Table(
    "alert_triggers",
    metadata,
    Column("alert_pk", Int, primary_key=True),
    Column("customer_pk", Int, primary_key=True),
    Column("period_start", BigInteger, primary_key=True),
    Column("value", Text, nullable=False),
    Column("triggered_at", BigInteger, nullable=False),
    Column("event_id", Text),
    sqlite_with_rowid=False,
)

# --- PostgreSQL only: the distributed store's metering tables ----------------------------------
# Filled by `metered worker` from the Kafka log (ingest.pg_apply), read by metering.pg_usage.
# Kept apart from `metadata`: the embedded store meters into segments and packs instead.
postgres_metadata = MetaData()

# Per Kafka partition, the next offset to apply: advanced in the transaction that applies the
# records before it, so a replay from any crash skips what is already in.
log_offsets = Table(
    "log_offsets",
    postgres_metadata,
    Column("topic", Text, primary_key=True),
    Column("partition", Integer, primary_key=True, autoincrement=False),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

# The seen-set: one row per dedupe key, in a partition per UTC day of ingestion (days since
# 1970), so that forgetting the keys past the 35-day window is dropping a partition.
seen_ids = Table(
    "seen_ids",
    postgres_metadata,
    Column("key", LargeBinary, primary_key=True),  # first: a key is looked up in every day
    Column("day", Integer, primary_key=True, autoincrement=False),
    Column("raw_day", Integer, nullable=False),  # where its raw event is (raw_events.day)
    Column("partition", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    postgresql_partition_by="RANGE (day)",
)

# Raw events, immutable, in a partition per UTC day of ingestion; seq = offset * 65536 + the
# event's place in its record, unique within a Kafka partition.
raw_events = Table(
    "raw_events",
    postgres_metadata,
    Column("day", Integer, nullable=False),
    Column("partition", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("meter_pk", BigInteger, nullable=False),
    Column("customer_pk", BigInteger, nullable=False),
    Column("dims_pk", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("identifier", Text, nullable=False),
    Column("value", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("ingested_ms", BigInteger, nullable=False),
    Column("canceled", SmallInteger, nullable=False, server_default=text("0")),
    # BRIN: rows arrive in about seq and ts order, so block ranges find an event (a cancel)
    # or a minute's events (a max/last recomputed) at a fraction of a btree's upkeep.
    Index("raw_events_by_seq", "seq", postgresql_using="brin"),
    Index("raw_events_by_time", "ts", postgresql_using="brin"),
    postgresql_partition_by="RANGE (day)",
)

# Rollups per (meter, customer, level, bucket, dimension set): level 1 = minute, 60 = hour,
# 1440 = day, bucket = minutes since 1970 at the bucket's start. Exact: NUMERIC sums.
usage_rollups = Table(
    "usage_rollups",
    postgres_metadata,
    Column("meter_pk", BigInteger, primary_key=True, autoincrement=False),
    Column("customer_pk", BigInteger, primary_key=True),
    Column("level", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("dims_pk", BigInteger, primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("total", Numeric, nullable=False),
    Column("max_value", Numeric),
    Column("last_ts", BigInteger),
    Column("last_seq", BigInteger),
    Column("last_value", Numeric),
)

# unique_count meters: the distinct values per rollup cell, with how many live events carry
# each (a cancellation takes one away).
usage_uniques = Table(
    "usage_uniques",
    postgres_metadata,
    Column("meter_pk", BigInteger, primary_key=True, autoincrement=False),
    Column("customer_pk", BigInteger, primary_key=True),
    Column("level", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("dims_pk", BigInteger, primary_key=True),
    Column("value", Text, primary_key=True),
    Column("refs", BigInteger, nullable=False),
)
