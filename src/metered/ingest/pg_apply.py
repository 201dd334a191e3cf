"""`apply_records`: one PostgreSQL transaction that applies Kafka records exactly once.

In one transaction, for a batch of records from the partitions a worker owns:
1. lock those partitions' rows of `log_offsets` (FOR UPDATE) and drop the records before each
   stored offset: a replay after a crash, or after a rebalance that handed the partition to
   another worker mid-batch, skips what is already in;
2. drop the events whose dedupe key is in the seen-set (any day of the window) or earlier in
   the batch, and insert the others' keys; a key another worker inserted concurrently makes
   the insert do nothing, and that event is a duplicate too;
3. store the new events' raw rows (COPY) and add them to the minute, hour and day rollups;
4. advance the partitions' offsets; COMMIT.

The seen-set's partition is the transaction's day (PostgreSQL's clock, shared by all workers).
A transaction that starts in the first STRADDLE_SECONDS of a day also inserts its keys into
the day before: a worker still in a transaction of that day (statements are bounded by
STATEMENT_TIMEOUT) then conflicts on the same row instead of missing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from metered.ingest.events import DEDUPE_DAYS
from metered.log.records import LogRecord
from metered.metering.meters import Meter
from metered.store.pg_arrays import (
    bytea_array,
    copy_rows,
    copy_text,
    int_array,
    numeric_array,
    text_array,
)

STRADDLE_SECONDS = 600
STATEMENT_TIMEOUT = "60s"
SEQ_SHIFT = 65_536  # seq = offset * SEQ_SHIFT + the event's place in its record
LEVELS = (1, 60, 1440)  # minute, hour, day cells (metering.pg_usage)
_RAW_COLUMNS = ("day, partition, seq, meter_pk, customer_pk, dims_pk, ts, identifier, value,"
                " payload, ingested_ms")

Entry = tuple[int, int, LogRecord]  # (partition, offset, record)


def storable(text: str) -> str:
    """PostgreSQL's text cannot hold U+0000, which identifiers and unique_count values may
    (the dedupe key is computed from the original): it is stored as the six characters
    \\u0000."""
    return text.replace("\x00", "\\u0000") if "\x00" in text else text


class OffsetGap(RuntimeError):
    """A record after the partition's stored offset, with records missing in between: the
    consumer must seek back to the stored offset."""

    def __init__(self, partition: int, expected: int, got: int):
        super().__init__(f"partition {partition}: expected offset {expected}, got {got}")
        self.partition = partition
        self.expected = expected


@dataclass
class Applied:
    records: int = 0
    skipped: int = 0  # records already applied (a replay)
    accepted: int = 0
    duplicates: int = 0
    offsets: dict[int, int] = field(default_factory=dict)  # partition -> next offset


class Dimensions:
    """(meter_pk, dims JSON) -> dims_pk, made in dimension_sets outside the batch's
    transaction (idempotent), cached: a dimension set never changes once made."""

    def __init__(self) -> None:
        self._pks: dict[tuple[int, str], int] = {}

    def resolve(self, raw: Any, wanted: dict[tuple[int, str], None]
                ) -> dict[tuple[int, str], int]:
        """`wanted` in log order: new sets get their pks in the order they first appear (the
        order summaries list groups in, as on the embedded store)."""
        missing = [w for w in wanted if w[1] and w not in self._pks]
        if missing:
            meters = [m for m, _ in missing]
            dims = [d for _, d in missing]
            raw.execute(
                "INSERT INTO dimension_sets (meter_pk, dims)"
                " SELECT m, d FROM unnest(%s::bigint[], %s::text[]) WITH ORDINALITY AS t(m, d, n)"
                " ORDER BY n ON CONFLICT (meter_pk, dims) DO NOTHING", [meters, dims])
            for pk, meter_pk, text in raw.execute(
                    "SELECT dims_pk, meter_pk, dims FROM dimension_sets"
                    " WHERE (meter_pk, dims) IN (SELECT * FROM unnest(%s::bigint[], %s::text[]))",
                    [meters, dims]):
                self._pks[(meter_pk, text)] = pk
        return self._pks


class _Cell:
    __slots__ = ("count", "total", "max", "last_ts", "last_seq", "last")

    def __init__(self) -> None:
        self.count = 0
        self.total = Decimal(0)
        self.max: Decimal | None = None
        self.last_ts: int | None = None
        self.last_seq = 0
        self.last: Decimal | None = None


def apply_records(raw: Any, topic: str, entries: Sequence[Entry],
                  meters: dict[int, Meter], dims: Dimensions) -> Applied:
    """Apply `entries` (in offset order per partition) in one transaction; see the module doc.
    `meters` must hold every meter the records name. `raw`: a psycopg connection."""
    dim_pks = dims.resolve(raw, dict.fromkeys(
        (e.meter_pk, e.dims) for _, _, r in entries for e in r.events))
    applied = Applied()
    with raw.transaction():
        raw.execute(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT}'")
        now_s, today, since_midnight = raw.execute(
            "SELECT floor(extract(epoch FROM now()))::bigint,"
            " floor(extract(epoch FROM now()) / 86400)::int,"
            " floor(extract(epoch FROM now()))::bigint % 86400").fetchone()
        kept = _fence(raw, topic, entries, applied)
        events = _new_events(raw, kept, today, since_midnight < STRADDLE_SECONDS, applied)
        if events:
            _store_raw(raw, events, today, dim_pks)
            _add_rollups(raw, events, meters, dim_pks)
        raw.cursor().executemany(
            "INSERT INTO log_offsets (topic, partition, next_offset, updated_ms)"
            " VALUES (%s, %s, %s, %s) ON CONFLICT (topic, partition) DO UPDATE"
            " SET next_offset = excluded.next_offset, updated_ms = excluded.updated_ms",
            [(topic, p, o, now_s * 1000) for p, o in sorted(applied.offsets.items())])
    return applied


def _fence(raw: Any, topic: str, entries: Sequence[Entry], applied: Applied) -> list[Entry]:
    partitions = sorted({p for p, _, _ in entries})
    stored = dict(raw.execute(
        "SELECT partition, next_offset FROM log_offsets WHERE topic = %s"
        " AND partition = ANY(%s) ORDER BY partition FOR UPDATE", [topic, partitions]))
    kept = []
    for partition, offset, record in entries:
        expected = stored.get(partition)
        if expected is not None and offset < expected:
            applied.skipped += 1
            continue
        if expected is not None and offset > expected:
            raise OffsetGap(partition, expected, offset)
        kept.append((partition, offset, record))
        stored[partition] = offset + 1
        applied.offsets[partition] = offset + 1
        applied.records += 1
    return kept


# (partition, seq, record, event index) of each new event
NewEvent = tuple[int, int, LogRecord, int]


def _new_events(raw: Any, entries: list[Entry], today: int, straddle: bool,
                applied: Applied) -> list[NewEvent]:
    candidates: dict[bytes, NewEvent] = {}
    total = 0
    for partition, offset, record in entries:
        for i, event in enumerate(record.events):
            total += 1
            if event.key not in candidates:
                candidates[event.key] = (partition, offset * SEQ_SHIFT + i, record, i)
    if not candidates:
        applied.duplicates += total
        return []
    keys = list(candidates)
    for (key,) in raw.execute(
            "SELECT key FROM seen_ids WHERE key = ANY(%s::bytea[]) AND day >= %s",
            [bytea_array(keys), today - DEDUPE_DAYS - 1]):
        candidates.pop(bytes(key), None)
    new = set(candidates)
    for day in ((today, today - 1) if straddle else (today,)):
        if not new:
            break
        ordered = [k for k in keys if k in new]
        rows = [candidates[k] for k in ordered]
        inserted = raw.execute(
            "INSERT INTO seen_ids (key, day, raw_day, partition, seq)"
            " SELECT k, %s, %s, p, s FROM unnest(%s::bytea[], %s::int[], %s::bigint[])"
            " AS t(k, p, s) ON CONFLICT DO NOTHING RETURNING key",
            [day, today, bytea_array(ordered), int_array([r[0] for r in rows]),
             int_array([r[1] for r in rows])]).fetchall()
        new = {bytes(k) for (k,) in inserted}
    events = [candidates[k] for k in keys if k in new]
    applied.accepted += len(events)
    applied.duplicates += total - len(events)
    return events


def _store_raw(raw: Any, events: list[NewEvent], today: int,
               dim_pks: dict[tuple[int, str], int]) -> None:
    rows = []
    for partition, seq, record, i in events:
        e = record.events[i]
        rows.append(f"{today}\t{partition}\t{seq}\t{e.meter_pk}\t{record.customer_pk}\t"
                    f"{dim_pks.get((e.meter_pk, e.dims), 0)}\t{e.ts}\t"
                    f"{copy_text(storable(e.identifier))}\t{copy_text(storable(e.value))}\t"
                    f"{copy_text(storable(e.payload))}\t{record.ingested_ms}")
    with raw.cursor() as cur, cur.copy(f"COPY raw_events ({_RAW_COLUMNS}) FROM STDIN") as copy:
        copy.write(copy_rows(rows))


def _add_rollups(raw: Any, events: list[NewEvent], meters: dict[int, Meter],
                 dim_pks: dict[tuple[int, str], int]) -> None:
    cells: dict[tuple[int, int, int, int, int], _Cell] = {}
    uniques: dict[tuple[int, int, int, int, int, str], int] = {}
    for _, seq, record, i in events:
        e = record.events[i]
        formula = meters[e.meter_pk].formula
        minute = e.ts // 60
        dims_pk = dim_pks.get((e.meter_pk, e.dims), 0)
        value = None if formula in ("count", "unique_count") else Decimal(e.value)
        for level in LEVELS:
            bucket = minute - minute % level
            if formula == "unique_count":
                ukey = (e.meter_pk, record.customer_pk, level, bucket, dims_pk,
                        storable(e.value))
                uniques[ukey] = uniques.get(ukey, 0) + 1
            key = (e.meter_pk, record.customer_pk, level, bucket, dims_pk)
            cell = cells.get(key)
            if cell is None:
                cell = cells[key] = _Cell()
            cell.count += 1
            if formula == "sum":
                cell.total += value  # type: ignore[operator]
            elif formula == "max" and (cell.max is None or value > cell.max):  # type: ignore[operator]
                cell.max = value
            elif formula == "last" and (cell.last_ts is None
                                        or (e.ts, seq) > (cell.last_ts, cell.last_seq)):
                cell.last_ts, cell.last_seq, cell.last = e.ts, seq, value
    ordered = sorted(cells)  # one lock order for every writer: no deadlock between them
    columns = list(zip(*ordered, strict=True))
    raw.execute(
        "INSERT INTO usage_rollups (meter_pk, customer_pk, level, bucket, dims_pk, count, total,"
        " max_value, last_ts, last_seq, last_value)"
        " SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::int[], %s::bigint[],"
        " %s::bigint[], %s::bigint[], %s::numeric[], %s::numeric[], %s::bigint[], %s::bigint[],"
        " %s::numeric[])"
        " ON CONFLICT (meter_pk, customer_pk, level, bucket, dims_pk) DO UPDATE SET"
        " count = usage_rollups.count + excluded.count,"
        " total = usage_rollups.total + excluded.total,"
        " max_value = GREATEST(usage_rollups.max_value, excluded.max_value),"
        " last_ts = CASE WHEN usage_rollups.last_ts IS NULL OR (excluded.last_ts IS NOT NULL AND"
        " (excluded.last_ts, excluded.last_seq) > (usage_rollups.last_ts, usage_rollups.last_seq))"
        " THEN excluded.last_ts ELSE usage_rollups.last_ts END,"
        " last_value = CASE WHEN usage_rollups.last_ts IS NULL OR (excluded.last_ts IS NOT NULL"
        " AND (excluded.last_ts, excluded.last_seq) > (usage_rollups.last_ts,"
        " usage_rollups.last_seq)) THEN excluded.last_value ELSE usage_rollups.last_value END,"
        " last_seq = CASE WHEN usage_rollups.last_ts IS NULL OR (excluded.last_ts IS NOT NULL AND"
        " (excluded.last_ts, excluded.last_seq) > (usage_rollups.last_ts, usage_rollups.last_seq))"
        " THEN excluded.last_seq ELSE usage_rollups.last_seq END",
        [int_array(c) for c in columns] + [
            int_array([cells[k].count for k in ordered]),
            numeric_array([cells[k].total for k in ordered]),
            numeric_array([cells[k].max for k in ordered]),
            int_array([cells[k].last_ts for k in ordered]),
            int_array([cells[k].last_seq if cells[k].last_ts is not None else None
                       for k in ordered]),
            numeric_array([cells[k].last for k in ordered])])
    if uniques:
        ukeys = sorted(uniques)
        ucolumns = list(zip(*ukeys, strict=True))
        raw.execute(
            "INSERT INTO usage_uniques (meter_pk, customer_pk, level, bucket, dims_pk, value,"
            " refs) SELECT * FROM unnest(%s::bigint[], %s::bigint[], %s::int[], %s::bigint[],"
            " %s::bigint[], %s::text[], %s::bigint[])"
            " ON CONFLICT (meter_pk, customer_pk, level, bucket, dims_pk, value)"
            " DO UPDATE SET refs = usage_uniques.refs + excluded.refs",
            [int_array(c) for c in ucolumns[:5]] + [text_array(ucolumns[5]),
                                                    int_array([uniques[k] for k in ukeys])])
