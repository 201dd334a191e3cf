"""`EventApplier.apply_events`: one transaction step that counts validated events exactly once.

Runs on the writer thread inside the group-commit transaction. An event is new unless its dedupe
key is pending in this transaction or already stored (found through the in-memory SeenIndex and
confirmed against the stored event). New events are stored as immutable raw rows, which carry
the key's fingerprint and so are the durable seen-set, and added to the rollups, all in the
same transaction. The index learns the new keys only once the transaction has committed.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence

import numpy as np

from metered.clock import now_ms
from metered.ingest.events import DEDUPE_DAYS, EventResult, ValidatedEvent, dedupe_key
from metered.ingest.seen_index import SeenIndex, fingerprint
from metered.metering.quantity import LO_BITS, LO_MASK
from metered.metering.rollups import CellDeltas, add_stored_events

ACCEPTED = EventResult("accepted", None)
_RAW_COLUMNS = 12
_RAW_CHUNK = 1000  # rows per INSERT: 12,000 parameters, under SQLite's 32,766


@functools.cache
def _insert_raw_sql(rows: int) -> str:
    values = ",".join(["(?,?,?,?,?,?,?,?,?,?,?,?)"] * rows)
    return (
        "INSERT INTO meter_events (seq, meter_pk, customer_pk, dims_pk, ts, identifier, fp,"
        f" value, value_hi, value_lo, payload, ingested_ms) VALUES {values}"
    )
WINDOW_MS = (DEDUPE_DAYS + 1) * 86_400_000
_LOAD_CHUNK = 200_000


class EventApplier:
    """Writer-thread state: next event seq, dimension-set ids, and the dedupe index."""

    def __init__(self, conn: sqlite3.Connection):
        row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM meter_events").fetchone()
        self.next_seq = int(row[0]) + 1
        self.index = SeenIndex()
        self._dims: dict[tuple[int, str], int] = {}
        self._pending_dims: dict[tuple[int, str], int] = {}
        self._pending_keys: dict[bytes, int] = {}  # accepted in the open transaction
        self._meter_keys: dict[int, tuple[int, bool, str]] = {}
        self._load_index(conn)

    def _load_index(self, conn: sqlite3.Connection) -> None:
        first = seq_ingested_since(conn, now_ms() - WINDOW_MS)
        cur = conn.execute("SELECT fp, seq FROM meter_events WHERE seq >= ?", (first,))
        while rows := cur.fetchmany(_LOAD_CHUNK):
            data = np.array(rows, dtype=np.int64)
            self.index.load(data[:, 0], data[:, 1])
        self.index.expire_before(first)

    # --- transaction bookkeeping ---------------------------------------------------------

    def mark(self) -> tuple[int, int, int]:
        """A point to return to if the enclosing savepoint is rolled back."""
        return self.next_seq, len(self._pending_dims), len(self._pending_keys)

    def restore(self, mark: tuple[int, int, int]) -> None:
        self.next_seq = mark[0]
        for key in list(self._pending_dims)[mark[1] :]:
            del self._pending_dims[key]
        for key in list(self._pending_keys)[mark[2] :]:
            del self._pending_keys[key]

    def committed(self) -> None:
        self._dims.update(self._pending_dims)
        self._pending_dims.clear()
        self.index.add([(fingerprint(k), seq) for k, seq in self._pending_keys.items()])
        self._pending_keys.clear()

    def rolled_back(self, conn: sqlite3.Connection) -> None:
        self._pending_dims.clear()
        self._pending_keys.clear()
        row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM meter_events").fetchone()
        self.next_seq = int(row[0]) + 1

    # --- lookups -------------------------------------------------------------------------

    def dims_pk(self, conn: sqlite3.Connection, meter_pk: int, dims: str) -> int:
        key = (meter_pk, dims)
        pk = self._dims.get(key) or self._pending_dims.get(key)
        if pk is not None:
            return pk
        row = conn.execute(
            "SELECT dims_pk FROM dimension_sets WHERE meter_pk=? AND dims=?", key
        ).fetchone()
        if row is not None:
            self._dims[key] = int(row[0])
            return int(row[0])
        cur = conn.execute("INSERT INTO dimension_sets (meter_pk, dims) VALUES (?, ?)", key)
        assert cur.lastrowid is not None
        self._pending_dims[key] = cur.lastrowid
        return cur.lastrowid

    def _meter_key(self, conn: sqlite3.Connection, meter_pk: int) -> tuple[int, bool, str]:
        found = self._meter_keys.get(meter_pk)
        if found is None:
            row = conn.execute(
                "SELECT account_pk, livemode, event_name FROM meters WHERE pk=?", (meter_pk,)
            ).fetchone()
            found = self._meter_keys[meter_pk] = (int(row[0]), bool(row[1]), row[2])
        return found

    def _confirmed(self, conn: sqlite3.Connection, keys: list[bytes],
                   candidates: dict[int, list[int]]) -> dict[int, int]:
        """Which candidate positions really are stored events: position -> seq."""
        seqs = sorted({seq for found in candidates.values() for seq in found})
        stored: dict[int, bytes] = {}
        for start in range(0, len(seqs), 500):
            chunk = seqs[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for seq, meter_pk, identifier in conn.execute(
                f"SELECT seq, meter_pk, identifier FROM meter_events WHERE seq IN ({marks})",
                chunk,
            ):
                account_pk, livemode, event_name = self._meter_key(conn, meter_pk)
                stored[seq] = dedupe_key(account_pk, livemode, event_name, identifier)
        confirmed: dict[int, int] = {}
        for position, found in candidates.items():
            for seq in found:
                if stored.get(seq) == keys[position]:
                    confirmed[position] = seq
                    break
        return confirmed

    def find_event(self, conn: sqlite3.Connection, key: bytes) -> int | None:
        """The seq of the stored (or pending) event with this dedupe key, if any."""
        pending = self._pending_keys.get(key)
        if pending is not None:
            return pending
        candidates = self.index.candidates([fingerprint(key)])
        return self._confirmed(conn, [key], candidates).get(0)

    # --- the step ------------------------------------------------------------------------

    def apply_events(self, conn: sqlite3.Connection, events: Sequence[ValidatedEvent]
                     ) -> list[EventResult]:
        results: list[EventResult] = [ACCEPTED] * len(events)
        pending = self._pending_keys
        keys = [e.key for e in events]
        fps = [fingerprint(k) for k in keys]
        stored = self._confirmed(conn, keys, self.index.candidates(fps))
        ingested = now_ms()
        raw: list[object] = []  # the raw rows, flattened for multi-row INSERTs
        deltas = CellDeltas()
        first_seq = seq = self.next_seq
        for i, event in enumerate(events):
            key = keys[i]
            if i in stored or key in pending:
                results[i] = EventResult("duplicate", event.identifier)
                continue
            pending[key] = seq
            meter = event.meter
            dims_pk = self.dims_pk(conn, meter.pk, event.dims) if event.dims else 0
            scaled = event.scaled
            raw += (seq, meter.pk, event.customer_pk, dims_pk, event.ts, event.identifier,
                    fps[i], event.value, scaled >> LO_BITS, scaled & LO_MASK, event.payload,
                    ingested)
            if meter.formula not in ("sum", "count"):
                deltas.add_event(meter.pk, event.customer_pk, dims_pk, meter.formula, event.ts,
                                 seq, scaled,
                                 event.value if meter.formula == "unique_count" else None)
            seq += 1
        self.next_seq = seq
        if raw:
            # Multi-row INSERTs: SQLite runs each chunk in one step, without Python's GIL.
            width = _RAW_COLUMNS * _RAW_CHUNK
            for start in range(0, len(raw), width):
                chunk = raw[start : start + width]
                conn.execute(_insert_raw_sql(len(chunk) // _RAW_COLUMNS), chunk)
            add_stored_events(conn, first_seq, seq)
            deltas.write(conn, sums=False)
        return [
            r if r is not ACCEPTED else EventResult("accepted", events[i].identifier)
            for i, r in enumerate(results)
        ]


def seq_ingested_since(conn: sqlite3.Connection, ms: int) -> int:
    """The first seq ingested at or after `ms` (seq grows with ingestion time): binary search."""
    lo_row = conn.execute("SELECT MIN(seq), MAX(seq) FROM meter_events").fetchone()
    if lo_row[0] is None:
        return 1
    lo, hi = int(lo_row[0]), int(lo_row[1]) + 1
    while lo < hi:
        mid = (lo + hi) // 2
        row = conn.execute(
            "SELECT seq, ingested_ms FROM meter_events WHERE seq >= ? ORDER BY seq LIMIT 1",
            (mid,),
        ).fetchone()
        if row is None or row[1] >= ms:
            hi = mid
        else:
            lo = int(row[0]) + 1
    return lo
