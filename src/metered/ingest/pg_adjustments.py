"""Meter event adjustments on the PostgreSQL store: cancelling an applied event, exactly once.

The event is found through the seen-set, marked `canceled` in raw_events (once: a second
cancel finds it marked and answers the first adjustment), and taken out of its minute, hour and
day cells in the same transaction. Sums and counts are subtracted; a max or last is computed
again from the cell's remaining raw events. The cells are locked first (FOR UPDATE, in the
workers' key order), so a worker applying events to the same cells waits for this transaction
or this one for it, and the recomputation reads every committed event.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from metered.accounts import Caller
from metered.clock import now_ms
from metered.errors import NotFoundError
from metered.ids import new_id
from metered.ingest.events import dedupe_key
from metered.ingest.pg_apply import LEVELS, storable
from metered.metering.meters import get_meter_by_pk


def cancel_event(conn: Any, caller: Caller, event_name: str, identifier: str) -> Any:
    """As ingest.adjustments.cancel_event, on a store.postgres.PgConnection in a transaction."""
    from metered.ingest.adjustments import Adjustment  # noqa: PLC0415 - it dispatches here

    raw = conn.raw
    key = dedupe_key(caller.account_pk, caller.livemode, event_name, identifier)
    found = raw.execute("SELECT raw_day, partition, seq FROM seen_ids WHERE key = %s"
                        " ORDER BY day DESC LIMIT 1", [key]).fetchone()
    if found is None:
        raise NotFoundError(
            f"No meter event with identifier '{identifier}' for event_name '{event_name}'.",
            param="cancel[identifier]")
    day, partition, seq = found
    event_ref = int.from_bytes(key[:8], "big", signed=True)  # the event's identity
    event = raw.execute(
        "UPDATE raw_events SET canceled = 1 WHERE day = %s AND partition = %s AND seq = %s"
        " AND canceled = 0 RETURNING meter_pk, customer_pk, dims_pk, ts, value",
        [day, partition, seq]).fetchone()
    if event is None:  # cancelled before: the same answer
        row = raw.execute("SELECT id, created_ms FROM meter_event_adjustments WHERE seq = %s",
                          [event_ref]).fetchone()
        assert row is not None, "a cancelled event without its adjustment"
        return Adjustment(row[0], event_name, identifier, caller.livemode, row[1])
    meter_pk, customer_pk, dims_pk, ts, value = event
    meter = get_meter_by_pk(conn, meter_pk)
    adjustment = Adjustment(new_id("mtrea"), event_name, identifier, caller.livemode, now_ms())
    raw.execute(
        "INSERT INTO meter_event_adjustments (id, account_pk, livemode, event_name, identifier,"
        " seq, created_ms) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        [adjustment.id, caller.account_pk, int(caller.livemode), event_name,
         storable(identifier), event_ref, adjustment.created_ms])
    _retract(raw, meter.formula, meter_pk, customer_pk, dims_pk, ts, value)
    return adjustment


def _retract(raw: Any, formula: str, meter_pk: int, customer_pk: int, dims_pk: int, ts: int,
             value: str) -> None:
    minute = ts // 60
    for level in LEVELS:
        bucket = minute - minute % level
        cell = [meter_pk, customer_pk, level, bucket, dims_pk]
        raw.execute("SELECT 1 FROM usage_rollups WHERE meter_pk = %s AND customer_pk = %s"
                    " AND level = %s AND bucket = %s AND dims_pk = %s FOR UPDATE", cell)
        total = Decimal(value) if formula == "sum" else Decimal(0)
        raw.execute("UPDATE usage_rollups SET count = count - 1, total = total - %s"
                    " WHERE meter_pk = %s AND customer_pk = %s AND level = %s AND bucket = %s"
                    " AND dims_pk = %s", [total, *cell])
        if formula == "unique_count":
            raw.execute("UPDATE usage_uniques SET refs = refs - 1 WHERE meter_pk = %s"
                        " AND customer_pk = %s AND level = %s AND bucket = %s AND dims_pk = %s"
                        " AND value = %s", [*cell, value])
        elif formula in ("max", "last"):
            _recompute(raw, cell, bucket * 60, (bucket + level) * 60)


def _recompute(raw: Any, cell: list[int], start: int, end: int) -> None:
    meter_pk, customer_pk, _, _, dims_pk = cell
    where = ("meter_pk = %s AND customer_pk = %s AND dims_pk = %s AND ts >= %s AND ts < %s"
             " AND canceled = 0")
    args = [meter_pk, customer_pk, dims_pk, start, end]
    (max_value,) = raw.execute(f"SELECT max(value::numeric) FROM raw_events WHERE {where}",
                               args).fetchone()
    last = raw.execute(f"SELECT ts, seq, value::numeric FROM raw_events WHERE {where}"
                       " ORDER BY ts DESC, seq DESC LIMIT 1", args).fetchone()
    last_ts, last_seq, last_value = last if last is not None else (None, None, None)
    raw.execute("UPDATE usage_rollups SET max_value = %s, last_ts = %s, last_seq = %s,"
                " last_value = %s WHERE meter_pk = %s AND customer_pk = %s AND level = %s"
                " AND bucket = %s AND dims_pk = %s",
                [max_value, last_ts, last_seq, last_value, *cell])
