"""PostgreSQL: 64-bit integers and 0/1 flags as on SQLite; the distributed metering tables

On PostgreSQL, every INTEGER column (and the sequence behind a generated key) becomes BIGINT and
every BOOLEAN a SMALLINT, so that the domain SQL both stores share means the same on both
(store.postgres). Then the tables `metered worker` fills from the Kafka log: log offsets, the
seen-set and raw events (partitioned by day; store.partitions makes the days), and rollups.
SQLite is left as it is.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _widen(bind)
    op.create_table(
        "log_offsets",
        sa.Column("topic", sa.Text(), nullable=False),
        sa.Column("partition", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("next_offset", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("topic", "partition"),
    )
    op.create_table(
        "seen_ids",
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("day", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("raw_day", sa.Integer(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", "day"),
        postgresql_partition_by="RANGE (day)",
    )
    op.create_table(
        "raw_events",
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("meter_pk", sa.BigInteger(), nullable=False),
        sa.Column("customer_pk", sa.BigInteger(), nullable=False),
        sa.Column("dims_pk", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("identifier", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("ingested_ms", sa.BigInteger(), nullable=False),
        sa.Column("canceled", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        postgresql_partition_by="RANGE (day)",
    )
    op.create_index("raw_events_by_seq", "raw_events", ["seq"], postgresql_using="brin")
    op.create_index("raw_events_by_time", "raw_events", ["ts"], postgresql_using="brin")
    for name, extra in (("usage_rollups", _rollup_columns()), ("usage_uniques", [
            sa.Column("value", sa.Text(), nullable=False),
            sa.Column("refs", sa.BigInteger(), nullable=False)])):
        keys = ["meter_pk", "customer_pk", "level", "bucket", "dims_pk"]
        if name == "usage_uniques":
            keys.append("value")
        op.create_table(
            name,
            sa.Column("meter_pk", sa.BigInteger(), autoincrement=False, nullable=False),
            sa.Column("customer_pk", sa.BigInteger(), nullable=False),
            sa.Column("level", sa.Integer(), nullable=False),
            sa.Column("bucket", sa.BigInteger(), nullable=False),
            sa.Column("dims_pk", sa.BigInteger(), nullable=False),
            *extra,
            sa.PrimaryKeyConstraint(*keys),
        )


def _rollup_columns() -> list[sa.Column]:
    return [
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("total", sa.Numeric(), nullable=False),
        sa.Column("max_value", sa.Numeric(), nullable=True),
        sa.Column("last_ts", sa.BigInteger(), nullable=True),
        sa.Column("last_seq", sa.BigInteger(), nullable=True),
        sa.Column("last_value", sa.Numeric(), nullable=True),
    ]


def _widen(bind: sa.engine.Connection) -> None:
    """INTEGER -> BIGINT (with their sequences), BOOLEAN -> SMALLINT, in the current schema."""
    columns = bind.execute(sa.text(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND data_type IN ('integer', 'boolean')"
        " AND table_name <> 'alembic_version'")).all()
    for table, column, data_type in columns:
        if data_type == "integer":
            op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE BIGINT')
        else:
            op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" DROP DEFAULT')
            op.execute(f'ALTER TABLE "{table}" ALTER COLUMN "{column}" TYPE SMALLINT'
                       f' USING "{column}"::int')
    sequences = bind.execute(sa.text(
        "SELECT sequence_name FROM information_schema.sequences"
        " WHERE sequence_schema = current_schema() AND data_type <> 'bigint'")).all()
    for (sequence,) in sequences:
        op.execute(f'ALTER SEQUENCE "{sequence}" AS BIGINT')


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for name in ("usage_uniques", "usage_rollups", "raw_events", "seen_ids", "log_offsets"):
        op.drop_table(name)
