"""`apply_events`: one transaction step that counts a batch of validated events exactly once.

Runs on the writer thread inside the group-commit transaction: drops events whose dedupe key is
already in seen_ids (or earlier in the same batch), stores the rest as raw events, records their
keys, and adds them to the rollups. Nothing here commits; the writer does, once per group.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence

from metered.clock import now_ms
from metered.ingest.events import DEDUPE_DAYS, EventResult, ValidatedEvent
from metered.metering.rollups import CellDeltas

_CLAIM_CHUNK = 500  # rows per multi-row INSERT (3 parameters each)
ACCEPTED = EventResult("accepted", None)


class EventApplier:
    """Writer-thread state: the next event sequence number and the dimension-set ids."""

    def __init__(self, conn: sqlite3.Connection):
        row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM meter_events").fetchone()
        self.next_seq = int(row[0]) + 1
        self._dims: dict[tuple[int, str], int] = {}
        self._pending_dims: dict[tuple[int, str], int] = {}

    def dims_pk(self, conn: sqlite3.Connection, meter_pk: int, dims: str) -> int:
        if not dims:
            return 0
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

    def mark(self) -> tuple[int, int]:
        """A point to return to if the enclosing savepoint is rolled back."""
        return self.next_seq, len(self._pending_dims)

    def restore(self, mark: tuple[int, int]) -> None:
        self.next_seq = mark[0]
        for key in list(self._pending_dims)[mark[1] :]:
            del self._pending_dims[key]

    def committed(self) -> None:
        self._dims.update(self._pending_dims)
        self._pending_dims.clear()

    def rolled_back(self, conn: sqlite3.Connection) -> None:
        self._pending_dims.clear()
        row = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM meter_events").fetchone()
        self.next_seq = int(row[0]) + 1

    def apply_events(self, conn: sqlite3.Connection, events: Sequence[ValidatedEvent]
                     ) -> list[EventResult]:
        results: list[EventResult] = [ACCEPTED] * len(events)
        ingested = now_ms()
        expires = ingested // 1000 + DEDUPE_DAYS * 86_400 + 86_400
        # Claim every key first: the seen-set insert tells which events are new (exactly once).
        batch_keys: set[bytes] = set()
        candidates: list[tuple[int, int]] = []  # (index in events, seq)
        seen_rows: list[tuple[bytes, int, int]] = []
        seq = self.next_seq
        for i, event in enumerate(events):
            if event.key in batch_keys:
                results[i] = EventResult("duplicate", event.identifier)
                continue
            batch_keys.add(event.key)
            candidates.append((i, seq))
            seen_rows.append((event.key, seq, expires))
            seq += 1
        self.next_seq = seq
        fresh = _claim_keys(conn, seen_rows)
        raw_rows = []
        deltas = CellDeltas()
        for i, event_seq in candidates:
            event = events[i]
            if event.key not in fresh:
                results[i] = EventResult("duplicate", event.identifier)
                continue
            meter = event.meter
            dims_pk = self.dims_pk(conn, meter.pk, event.dims) if event.dims else 0
            raw_rows.append((event_seq, meter.pk, event.customer_pk, dims_pk, event.ts,
                             event.identifier, event.value, event.payload, ingested))
            deltas.add_event(meter.pk, event.customer_pk, dims_pk, meter.formula, event.ts,
                             event_seq, event.scaled,
                             event.value if meter.formula == "unique_count" else None)
        if raw_rows:
            conn.executemany(
                "INSERT INTO meter_events (seq, meter_pk, customer_pk, dims_pk, ts, identifier,"
                " value, payload, ingested_ms) VALUES (?,?,?,?,?,?,?,?,?)",
                raw_rows,
            )
            deltas.write(conn)
        return [
            r if r is not ACCEPTED else EventResult("accepted", events[i].identifier)
            for i, r in enumerate(results)
        ]


def _claim_keys(conn: sqlite3.Connection, rows: list[tuple[bytes, int, int]]) -> set[bytes]:
    """Insert dedupe keys; return those that were not already there."""
    fresh: set[bytes] = set()
    for start in range(0, len(rows), _CLAIM_CHUNK):
        chunk = rows[start : start + _CLAIM_CHUNK]
        flat = [value for row in chunk for value in row]
        fresh.update(row[0] for row in conn.execute(_claim_sql(len(chunk)), flat))
    return fresh


@functools.cache
def _claim_sql(n: int) -> str:
    values = ",".join(["(?,?,?)"] * n)
    return (
        f"INSERT INTO seen_ids (key, seq, expires) VALUES {values}"
        " ON CONFLICT DO NOTHING RETURNING key"
    )
