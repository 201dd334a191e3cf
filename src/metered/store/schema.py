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
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

SCHEMA_VERSION = 3  # 3: rollup_packs replaced rollups (a version 2 store is upgraded at start)

accounts = Table(
    "accounts",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("name", Text),
    Column("created", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_hash", LargeBinary, primary_key=True),
    Column("account_pk", Integer, nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("last4", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

customers = Table(
    "customers",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Integer, nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("email", Text),
    Column("name", Text),
    Column("description", Text),
    Column("metadata", Text, nullable=False, default="{}"),
    Column("created", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Index("customers_by_account", "account_pk", "livemode", "pk"),
)

meters = Table(
    "meters",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Integer, nullable=False),
    Column("livemode", Boolean, nullable=False),
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
    Column("dims_pk", Integer, primary_key=True),
    Column("meter_pk", Integer, nullable=False),
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
    Column("first_seq", Integer, primary_key=True),
    Column("count", Integer, nullable=False),
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
    Column("meter_pk", Integer, primary_key=True),
    Column("customer_pk", Integer, primary_key=True),
    Column("dims_pk", Integer, primary_key=True),
    Column("ts", BigInteger, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("value_hi", BigInteger, nullable=False),
    Column("value_lo", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

meter_event_adjustments = Table(
    "meter_event_adjustments",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("id", Text, nullable=False, unique=True),
    Column("account_pk", Integer, nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("event_name", Text, nullable=False),
    Column("identifier", Text, nullable=False),
    Column("seq", Integer, nullable=False, unique=True),
    Column("created_ms", BigInteger, nullable=False),
)

# Count and sum cells per (meter, customer, dimension set) at every level (minute to 4 days),
# packed: one row per (meter, customer, level, bucket) holding all its dimension sets
# (metering.packs). Sums are exact: value * 10**12 as hi * 2**40 + lo in int64 columns.
rollup_packs = Table(
    "rollup_packs",
    metadata,
    Column("meter_pk", Integer, primary_key=True),
    Column("customer_pk", Integer, primary_key=True),
    Column("level", Integer, primary_key=True),
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
    Column("meter_pk", Integer, primary_key=True),
    Column("customer_pk", Integer, primary_key=True),
    Column("level", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("dims_pk", Integer, primary_key=True),
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
    Column("meter_pk", Integer, primary_key=True),
    Column("customer_pk", Integer, primary_key=True),
    Column("level", Integer, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("dims_pk", Integer, primary_key=True),
    Column("value", Text, primary_key=True),
    Column("refs", Integer, nullable=False),
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
    Column("account_pk", Integer, primary_key=True),
    Column("livemode", Boolean, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("fingerprint", LargeBinary, nullable=False),
    Column("status", Integer, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

meter_event_sessions = Table(
    "meter_event_sessions",
    metadata,
    Column("token_hash", LargeBinary, primary_key=True),
    Column("id", Text, nullable=False),
    Column("account_pk", Integer, nullable=False),
    Column("livemode", Boolean, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
