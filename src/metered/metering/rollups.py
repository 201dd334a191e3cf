"""Rollup cells: per (meter, customer, dimension set) at minute to 4-day resolution.

Count and sum cells live in packs (metering.packs: written shortly after the events, whose
minute cells their transaction stores as a delta row, see metering.pending); max/last and
unique values in their own tables, at every level, written with the events. Cells are built
from events after dedupe and can be rebuilt from the raw events at any time
(`rebuild_rollups`); both paths use `CellDeltas`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from metered.metering import packs
from metered.metering.quantity import join, parse_quantity, split, to_scaled

MINUTE, HOUR, DAY, DAYS4 = 0, 1, 2, 3
MINUTES10, HOURS6 = 4, 5  # packs only (numbered after the others: stored level numbers stay)
# Minutes per cell at each level. Each size divides the next, so cells nest; the 4-day level
# halves to thirds the cells a month-long summary reads (see summaries.decompose).
LEVEL_MINUTES = {MINUTE: 1, MINUTES10: 10, HOUR: 60, HOURS6: 360, DAY: 1440, DAYS4: 5760}
# Levels of the max/last and unique-value tables (a row per cell and level), finest first:
LEVELS = tuple((level, LEVEL_MINUTES[level]) for level in (MINUTE, HOUR, DAY, DAYS4))
# Levels of the count/sum packs: 10-minute and 6-hour buckets too, which halve the cells a
# month-long summary reads (a pack holds every dimension set, so a level costs a row, not
# a row per dimension set):
PACK_LEVELS = tuple((level, LEVEL_MINUTES[level])
                    for level in (MINUTE, MINUTES10, HOUR, HOURS6, DAY, DAYS4))
CellKey = tuple[int, int, int, int, int]  # meter_pk, customer_pk, level, bucket (minutes), dims_pk


def buckets_of(ts: int) -> tuple[int, ...]:
    """The start (in minutes) of the cell holding `ts`, at each level."""
    minute = ts // 60
    return tuple(minute - minute % size for _, size in LEVELS)


@dataclass(slots=True)
class Cell:
    count: int = 0
    total: int = 0  # scaled sum
    max: int | None = None
    last_ts: int | None = None
    last_seq: int | None = None
    last: int | None = None

    def add(self, scaled: int, ts: int, seq: int, track_max: bool, track_last: bool) -> None:
        self.count += 1
        self.total += scaled
        if track_max and (self.max is None or scaled > self.max):
            self.max = scaled
        if track_last and (self.last_ts is None or (ts, seq) > (self.last_ts, self.last_seq or 0)):
            self.last_ts, self.last_seq, self.last = ts, seq, scaled

    def fold(self, other: Cell) -> None:
        self.count += other.count
        self.total += other.total
        if other.max is not None and (self.max is None or other.max > self.max):
            self.max = other.max
        if other.last_ts is not None and (
            self.last_ts is None
            or (other.last_ts, other.last_seq or 0) > (self.last_ts, self.last_seq or 0)
        ):
            self.last_ts, self.last_seq, self.last = other.last_ts, other.last_seq, other.last


class CellDeltas:
    """Accumulates changes to cells for one transaction, then writes them in two statements."""

    def __init__(self) -> None:
        self.minutes: dict[CellKey, Cell] = {}
        self.uniques: dict[tuple[int, int, int, int, int, str], int] = {}

    def add_event(self, meter_pk: int, customer_pk: int, dims_pk: int, formula: str, ts: int,
                  seq: int, scaled: int, unique_value: str | None) -> None:
        buckets = buckets_of(ts)
        key = (meter_pk, customer_pk, MINUTE, buckets[0], dims_pk)
        cell = self.minutes.get(key)
        if cell is None:
            cell = self.minutes[key] = Cell()
        cell.add(scaled, ts, seq, formula == "max", formula == "last")
        if unique_value is not None:
            for level, bucket in enumerate(buckets):
                ukey = (meter_pk, customer_pk, level, bucket, dims_pk, unique_value)
                self.uniques[ukey] = self.uniques.get(ukey, 0) + 1

    def cells(self, levels: tuple[tuple[int, int], ...] = LEVELS) -> dict[CellKey, Cell]:
        """Minute cells plus the coarser cells they roll up into."""
        out: dict[CellKey, Cell] = dict(self.minutes)
        for (meter_pk, customer_pk, _, minute, dims_pk), cell in self.minutes.items():
            for level, size in levels[1:]:
                key = (meter_pk, customer_pk, level, minute - minute % size, dims_pk)
                parent = out.get(key)
                if parent is None:
                    parent = out[key] = Cell()
                parent.fold(cell)
        return out

    def write(self, conn: sqlite3.Connection, *, sums: bool = True,
              cache: packs.PackCache | None = None) -> None:
        """Upsert the cells; `sums=False` when `add_minute_sums` already counted them."""
        if self.minutes:
            if sums:
                packs.add_totals(conn, packs.totals_by_pack(
                    (*key, cell.count, cell.total)
                    for key, cell in self.cells(PACK_LEVELS).items()), cache)
            if any(c.max is not None or c.last_ts is not None for c in self.minutes.values()):
                conn.executemany(_UPSERT_EXTREMES, [
                    _extremes_row(k, c) for k, c in self.cells().items()
                    if c.max is not None or c.last_ts is not None
                ])
        if self.uniques:
            conn.executemany(_UPSERT_UNIQUE, [(*k, n) for k, n in self.uniques.items()])
            if any(n < 0 for n in self.uniques.values()):
                conn.execute("DELETE FROM rollup_uniques WHERE refs <= 0")


def _extremes_row(key: CellKey, cell: Cell) -> tuple[object, ...]:
    max_hi, max_lo = split(cell.max) if cell.max is not None else (None, None)
    last_hi, last_lo = split(cell.last) if cell.last is not None else (None, None)
    return (*key, max_hi, max_lo, cell.last_ts, cell.last_seq, last_hi, last_lo)


_BIGGER = "max_hi IS NULL OR (excluded.max_hi, excluded.max_lo) > (max_hi, max_lo)"
_NEWER = "last_ts IS NULL OR (excluded.last_ts, excluded.last_seq) > (last_ts, last_seq)"
_UPSERT_EXTREMES = f"""
INSERT INTO rollup_extremes (meter_pk, customer_pk, level, bucket, dims_pk,
                             max_hi, max_lo, last_ts, last_seq, last_hi, last_lo)
VALUES (?,?,?,?,?,?,?,?,?,?,?)
ON CONFLICT DO UPDATE SET
  max_hi = CASE WHEN {_BIGGER} THEN excluded.max_hi ELSE max_hi END,
  max_lo = CASE WHEN {_BIGGER} THEN excluded.max_lo ELSE max_lo END,
  last_hi = CASE WHEN {_NEWER} THEN excluded.last_hi ELSE last_hi END,
  last_lo = CASE WHEN {_NEWER} THEN excluded.last_lo ELSE last_lo END,
  last_seq = CASE WHEN {_NEWER} THEN excluded.last_seq ELSE last_seq END,
  last_ts = CASE WHEN {_NEWER} THEN excluded.last_ts ELSE last_ts END
"""

# (meter_pk, customer_pk, minute, dims_pk) -> [count, scaled sum]: one transaction's events.
MinuteSums = dict[tuple[int, int, int, int], list[int]]


def add_minute_sums(conn: sqlite3.Connection, minutes: MinuteSums,
                    cache: packs.PackCache | None = None) -> None:
    """Add the count and sum of new events to their packs of every level, in Python integers.

    What the writer falls back to when a step's sums are too large for the int64 arithmetic of
    metering.cells (the usual path, EventApplier.add_sums, writes a delta row now and the packs
    at the next flush). Max, last and unique values are kept by CellDeltas.
    """
    packs.add_totals(conn, packs.totals_by_pack(
        (meter_pk, customer_pk, level, minute - minute % size, dims_pk, n, total)
        for level, size in PACK_LEVELS
        for (meter_pk, customer_pk, minute, dims_pk), (n, total) in minutes.items()
    ), cache)


_UPSERT_UNIQUE = """
INSERT INTO rollup_uniques (meter_pk, customer_pk, level, bucket, dims_pk, value, refs)
VALUES (?,?,?,?,?,?,?)
ON CONFLICT DO UPDATE SET refs = refs + excluded.refs
"""


def retract_event(conn: sqlite3.Connection, meter_pk: int, customer_pk: int, dims_pk: int,
                  formula: str, ts: int, scaled: int, unique_value: str | None,
                  cache: packs.PackCache | None = None) -> None:
    """Take one (cancelled) event out of its cells. Max and last are recomputed, not inverted.

    Its packs get a negative delta now, whether or not the event's own delta is still pending
    (metering.pending): deltas add up in any order, and a cell is dropped once it nets to zero.
    """
    deltas = CellDeltas()
    buckets = buckets_of(ts)
    key = (meter_pk, customer_pk, MINUTE, buckets[0], dims_pk)
    deltas.minutes[key] = Cell(count=-1, total=-scaled)
    if unique_value is not None:
        for level, bucket in enumerate(buckets):
            deltas.uniques[(meter_pk, customer_pk, level, bucket, dims_pk, unique_value)] = -1
    deltas.write(conn, cache=cache)
    if formula in ("max", "last"):
        _recompute_extremes(conn, meter_pk, customer_pk, dims_pk, ts, formula)
        for level, bucket in enumerate(buckets):  # cells with no event left go
            conn.execute(
                "DELETE FROM rollup_extremes WHERE meter_pk=? AND customer_pk=? AND level=?"
                " AND bucket=? AND dims_pk=? AND max_hi IS NULL AND last_ts IS NULL",
                (meter_pk, customer_pk, level, bucket, dims_pk),
            )


def _recompute_extremes(conn: sqlite3.Connection, meter_pk: int, customer_pk: int,
                        dims_pk: int, ts: int, formula: str) -> None:
    buckets = buckets_of(ts)
    minute = buckets[0]
    cell = Cell()
    rows = conn.execute(
        "SELECT e.seq, e.ts, e.value_hi, e.value_lo FROM extreme_events e"
        " WHERE e.meter_pk=? AND e.customer_pk=? AND e.dims_pk=? AND e.ts>=? AND e.ts<?"
        " AND NOT EXISTS (SELECT 1 FROM meter_event_adjustments a WHERE a.seq=e.seq)",
        (meter_pk, customer_pk, dims_pk, minute * 60, minute * 60 + 60),
    )
    for seq, event_ts, hi, lo in rows:
        cell.add(join(hi, lo), event_ts, seq, formula == "max", formula == "last")
    _store_extremes(conn, (meter_pk, customer_pk, MINUTE, minute, dims_pk), cell)
    for level, size in LEVELS[1:]:
        bucket = buckets[level]
        parent = Cell()
        for child in _cells_in(conn, meter_pk, customer_pk, level - 1, bucket, bucket + size,
                               dims_pk):
            parent.fold(child)
        _store_extremes(conn, (meter_pk, customer_pk, level, bucket, dims_pk), parent)


def _cells_in(conn: sqlite3.Connection, meter_pk: int, customer_pk: int, level: int, lo: int,
              hi: int, dims_pk: int) -> Iterable[Cell]:
    for row in conn.execute(
        "SELECT max_hi, max_lo, last_ts, last_seq, last_hi, last_lo FROM rollup_extremes"
        " WHERE meter_pk=? AND customer_pk=? AND level=? AND bucket>=? AND bucket<? AND dims_pk=?",
        (meter_pk, customer_pk, level, lo, hi, dims_pk),
    ):
        yield Cell(
            max=join(row[0], row[1]) if row[0] is not None else None,
            last_ts=row[2], last_seq=row[3],
            last=join(row[4], row[5]) if row[4] is not None else None,
        )


def _store_extremes(conn: sqlite3.Connection, key: CellKey, cell: Cell) -> None:
    max_hi, max_lo = split(cell.max) if cell.max is not None else (None, None)
    last_hi, last_lo = split(cell.last) if cell.last is not None else (None, None)
    conn.execute(
        "UPDATE rollup_extremes SET max_hi=?, max_lo=?, last_ts=?, last_seq=?, last_hi=?,"
        " last_lo=?"
        " WHERE meter_pk=? AND customer_pk=? AND level=? AND bucket=? AND dims_pk=?",
        (max_hi, max_lo, cell.last_ts, cell.last_seq, last_hi, last_lo, *key),
    )


def rebuild_rollups(conn: sqlite3.Connection, meter_pk: int, formula: str,
                    chunk: int = 50_000) -> int:
    """Drop a meter's cells and build them again from its raw, uncancelled events.

    Returns the number of events replayed. The result must equal the incrementally built cells
    (tests/metering/test_rollup_properties.py holds this as a property).
    """
    from metered.ingest.segments import iter_events

    conn.execute("DELETE FROM rollup_packs WHERE meter_pk=?", (meter_pk,))
    conn.execute("DELETE FROM rollup_extremes WHERE meter_pk=?", (meter_pk,))
    conn.execute("DELETE FROM rollup_uniques WHERE meter_pk=?", (meter_pk,))
    cancelled = {row[0] for row in conn.execute("SELECT seq FROM meter_event_adjustments")}
    numeric = formula in ("sum", "max", "last")
    replayed = 0
    deltas = CellDeltas()
    for event in iter_events(conn, meter_pk=meter_pk):
        if event.seq in cancelled:
            continue
        scaled = to_scaled(parse_quantity(event.value)) if numeric else 0
        unique = event.value if formula == "unique_count" else None
        deltas.add_event(meter_pk, event.customer_pk, event.dims_pk, formula, event.ts,
                         event.seq, scaled, unique)
        replayed += 1
        if replayed % chunk == 0:
            deltas.write(conn)
            deltas = CellDeltas()
    deltas.write(conn)
    return replayed
