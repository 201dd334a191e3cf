"""`EventApplier.apply_events`: one transaction step that counts validated events exactly once.

Runs on the writer thread inside the group-commit transaction. An event is new unless its dedupe
key is pending in this transaction or already stored (found through the in-memory SeenIndex and
confirmed against the stored event). New events are stored in an immutable raw segment, whose
fingerprints are the durable seen-set, and added to the rollups, all in the same transaction.
The index learns the new keys only once the transaction has committed.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from metered.clock import now_ms
from metered.ingest.events import DEDUPE_DAYS, EventResult, ValidatedEvent, dedupe_key
from metered.ingest.seen_index import SeenIndex, fingerprint
from metered.ingest.segments import (
    SEGMENT_MAX_EVENTS,
    KeysCache,
    SegmentBuilder,
    fingerprints_since,
    max_seq,
    seq_ingested_since,
)
from metered.metering import packs
from metered.metering.cells import (
    SAFE_HI,
    bound,
    late_before,
    minute_block_of_rows,
    pending_rollup,
    split_late,
)
from metered.metering.pending import (
    PendingPacks,
    delete_deltas,
    read_deltas,
    write_delta,
    write_watermark,
)
from metered.metering.quantity import LO_BITS, LO_MASK, split
from metered.metering.rollups import (
    PACK_LEVELS,
    CellDeltas,
    MinuteSums,
    add_minute_sums,
    rebuild_rollups,
)
from metered.native import extension as metered_native

log = logging.getLogger("metered.ingest")
ACCEPTED = EventResult("accepted", None)
WINDOW_MS = (DEDUPE_DAYS + 1) * 86_400_000
# Pending pack deltas (metering.pending) are written out in a pause of the writer once this
# old, by the next group once FLUSH_SECONDS old (no pause came), or once FLUSH_ROWS are pending.
PAUSE_FLUSH_SECONDS = 0.5
FLUSH_SECONDS = 0.75
FLUSH_ROWS = 200_000
# This long after the last flush, the committed steps' roll-up for the next one starts on a
# thread of its own (natively: without the GIL), so that the flush's commit only writes packs.
PREPARE_SECONDS = 0.35
_INSERT_EXTREME = (
    "INSERT INTO extreme_events (meter_pk, customer_pk, dims_pk, ts, seq, value_hi, value_lo)"
    " VALUES (?,?,?,?,?,?,?)"
)


class EventApplier:
    """Writer-thread state: next event seq, dimension-set ids, and the dedupe index."""

    def __init__(self, conn: sqlite3.Connection):
        self.next_seq = max_seq(conn) + 1
        self.index = SeenIndex()
        self.keys = KeysCache()
        self.unflushed = PendingPacks()  # minute cells whose coarser packs wait for the flush
        self.pack_cache = packs.PackCache()  # what this thread last wrote to the packs
        self.last_flush = time.monotonic()
        self._flushed_through: int | None = None  # a flush in the open transaction
        # The roll-up of the pending steps through a seq, under way for the next flush:
        self._prepared: tuple[int, Future[np.ndarray]] | None = None
        self._rollups = (ThreadPoolExecutor(1, thread_name_prefix="metered-rollup")
                         if metered_native is not None else None)
        self._dims: dict[tuple[int, str], int] = {}
        self._pending_dims: dict[tuple[int, str], int] = {}
        self._pending_keys: dict[bytes, int] = {}  # accepted in the open transaction
        self._pending_fps: list[tuple[np.ndarray, np.ndarray]] = []  # (fingerprints, seqs)
        self._meter_keys: dict[int, tuple[int, bool, str]] = {}
        self._load_index(conn)
        self._upgrade_cells(conn)
        self._fold_deltas(conn)

    def _load_index(self, conn: sqlite3.Connection) -> None:
        first = seq_ingested_since(conn, now_ms() - WINDOW_MS)
        for fps, seqs in fingerprints_since(conn, first):
            self.index.add(fps, seqs)
        self.index.expire_before(first)

    # --- transaction bookkeeping ---------------------------------------------------------

    def mark(self) -> tuple[int, int, int, int, int]:
        """A point to return to if the enclosing savepoint is rolled back."""
        return (self.next_seq, len(self._pending_dims), len(self._pending_keys),
                self.unflushed.mark(), len(self._pending_fps))

    def restore(self, mark: tuple[int, int, int, int, int]) -> None:
        self.next_seq = mark[0]
        self.pack_cache.clear()  # the savepoint's pack writes are undone
        self.unflushed.restore(mark[3])
        for key in list(self._pending_dims)[mark[1] :]:
            del self._pending_dims[key]
        for key in list(self._pending_keys)[mark[2] :]:
            del self._pending_keys[key]
        del self._pending_fps[mark[4] :]

    def committed(self) -> None:
        self._dims.update(self._pending_dims)
        self._pending_dims.clear()
        if self._pending_fps:
            fps, seqs = zip(*self._pending_fps, strict=True)
            self.index.add(np.concatenate(fps), np.concatenate(seqs))
        self._pending_keys.clear()
        self._pending_fps = []
        self.unflushed.committed()
        if self._flushed_through is not None:
            self.unflushed.flushed(self._flushed_through)
            self._flushed_through = None

    def close(self) -> None:
        if self._rollups is not None:
            self._rollups.shutdown(wait=True, cancel_futures=True)

    def rolled_back(self, conn: sqlite3.Connection) -> None:
        self._prepared = None
        self.pack_cache.clear()
        self._pending_dims.clear()
        self._pending_keys.clear()
        self._pending_fps = []
        self.unflushed.rolled_back()
        self._flushed_through = None
        self.next_seq = max_seq(conn) + 1

    def accept(self, keys: Sequence[bytes], fps: np.ndarray, first_seq: int) -> None:
        """Record keys accepted in the open transaction, with seqs first_seq, first_seq + 1, ...
        (`fps`: their fingerprints, int64)."""
        end = first_seq + len(keys)
        self._pending_keys.update(zip(keys, range(first_seq, end), strict=True))
        self._pending_fps.append((fps, np.arange(first_seq, end, dtype=np.int64)))

    def pending(self, keys: Sequence[bytes]) -> bool:
        """Whether any of these keys was accepted earlier in the open transaction."""
        return not self._pending_keys.keys().isdisjoint(keys)

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
        stored: dict[int, bytes | None] = {}
        confirmed: dict[int, int] = {}
        for position, found in candidates.items():
            for seq in found:
                if seq not in stored:
                    located = self.keys.key_of(conn, seq)
                    if located is None:
                        stored[seq] = None
                    else:
                        account_pk, livemode, event_name = self._meter_key(conn, located[0])
                        stored[seq] = dedupe_key(account_pk, livemode, event_name, located[1])
                if stored[seq] == keys[position]:
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

    # --- packs (metering.packs, by way of metering.pending) ------------------------------

    def add_sums(self, conn: sqlite3.Connection, first_seq: int, end_seq: int,
                 minutes: MinuteSums, ingested_ms: int) -> None:
        """Add a step's events to their packs: see add_cells (or to every level now, when the
        sums are too large for int64 arithmetic)."""
        rows = [(m, c, minute, d, n, total >> LO_BITS, total & LO_MASK)
                for (m, c, minute, d), (n, total) in minutes.items()]
        if max(abs(r[5]) for r in rows) * len(rows) >= SAFE_HI:
            add_minute_sums(conn, minutes, self.pack_cache)  # every level, in Python integers
            self.flush_packs(conn)  # the watermark must pass this step: write out the rest
            return
        self.add_cells(conn, first_seq, end_seq, minute_block_of_rows(rows), ingested_ms)

    def add_cells(self, conn: sqlite3.Connection, first_seq: int, end_seq: int,
                  minute_cells: np.ndarray, ingested_ms: int) -> None:
        """A step's late events (cells.late_before) go to their packs now, at every level; the
        others' minute cells are written as one delta row and wait for the flush, which adds
        them to their minute packs and rolls them up into the coarser ones."""
        late, live = split_late(minute_cells, late_before(ingested_ms))
        if len(late):  # most groups have none; each has a few (2% of the events in bench/)
            packs.add(conn, pending_rollup([late]), self.pack_cache)
        self.defer(conn, first_seq, end_seq, live)

    def defer(self, conn: sqlite3.Connection, first_seq: int, end_seq: int,
              minute_cells: np.ndarray) -> None:
        """Register a step's minute cells, whose packs (every level) are to be written by the
        flush: in memory for the readers (metering.pending), and as a delta row in the open
        transaction (the durable minute rollup until the flush folds it in)."""
        if not len(minute_cells):
            return
        cells_bound = bound(minute_cells)
        if self.unflushed.bound + cells_bound >= SAFE_HI:
            self.flush_packs(conn)  # merged with what is pending, sums could overflow int64
        write_delta(conn, end_seq - 1, minute_cells)
        self.unflushed.add(first_seq, end_seq, minute_cells, cells_bound)

    def flush_due(self, *, paused: bool = False) -> bool:
        """Whether to write the pending deltas out now: in a group, or (`paused`) in a commit
        of their own while nothing is on its way to the writer."""
        age = PAUSE_FLUSH_SECONDS if paused else FLUSH_SECONDS
        return self.unflushed.rows > 0 and (
            self.unflushed.rows >= FLUSH_ROWS or time.monotonic() - self.last_flush >= age
        )

    def prepare_flush(self) -> None:
        """Between groups, once the next flush is near: roll the committed steps up on the
        roll-up thread, while the writer goes on. The flush then writes their packs (and
        leaves the steps committed since pending): a commit of ~20 ms that new requests queue
        behind loses its ~8 ms roll-up (docs/benchmarks.md)."""
        if (self._rollups is None or self._prepared is not None or not self.unflushed.rows
                or time.monotonic() - self.last_flush < PREPARE_SECONDS):
            return
        through, blocks = self.unflushed.committed_steps()
        if blocks:
            self._prepared = (through, self._rollups.submit(pending_rollup, blocks))

    def flush_packs(self, conn: sqlite3.Connection, *, whole: bool = True) -> None:
        """In the open transaction: add the pending deltas to their packs (every level), delete
        their delta rows, advance the watermark; all of them, or (`whole` False) those of a
        roll-up prepare_flush prepared, if there is one. The steps flushed are forgotten once
        the transaction commits (`committed`)."""
        prepared, self._prepared = self._prepared, None
        cells = None
        if prepared is not None and not whole:
            try:
                cells, through = prepared[1].result(), prepared[0]
            except Exception:  # noqa: BLE001 - the roll-up is redone here, in the open
                log.exception("the prepared roll-up failed")  # transaction
        if cells is None:
            cells, through = pending_rollup(self.unflushed.blocks()), self.next_seq - 1
        # A few thousand cells: the current buckets.
        packs.add(conn, cells, self.pack_cache)
        delete_deltas(conn, through)
        write_watermark(conn, through)
        self._flushed_through = through
        self.last_flush = time.monotonic()

    def _upgrade_cells(self, conn: sqlite3.Connection) -> None:
        """Rebuild every meter's rollups from the raw events, once, if the store keeps its
        cells in an older layout: rows of a `rollups` table (schema version 2), packs without
        the 10-minute and 6-hour levels, or minute packs written in every commit with only the
        coarser ones deferred (version 3 before the delta rows came)."""
        marker = ("pack_layout", f"{len(PACK_LEVELS)} levels, delta rows")
        rows = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='rollups'"
                            ).fetchone() is not None
        if not rows and conn.execute("SELECT 1 FROM engine_state WHERE key=? AND value=?",
                                     marker).fetchone():
            return
        conn.execute("BEGIN IMMEDIATE")
        if rows or conn.execute("SELECT 1 FROM rollup_packs LIMIT 1").fetchone():
            for meter_pk, formula in conn.execute("SELECT pk, formula FROM meters").fetchall():
                rebuild_rollups(conn, meter_pk, formula)
            if rows:
                conn.execute("DROP TABLE rollups")
            write_watermark(conn, self.next_seq - 1)
        conn.execute("INSERT INTO engine_state (key, value) VALUES (?, ?)"
                     " ON CONFLICT DO UPDATE SET value=excluded.value", marker)
        conn.execute("COMMIT")

    def _fold_deltas(self, conn: sqlite3.Connection) -> None:
        """Start-up: add the delta rows left by steps committed after the last flush (a crash)
        to their packs, every level; late events' packs were written with them. The steps were
        pending together, so their merged sums stay in int64 (defer flushes before they could
        not)."""
        blocks = read_deltas(conn)
        if not blocks:
            return
        conn.execute("BEGIN IMMEDIATE")
        packs.add(conn, pending_rollup(blocks))
        delete_deltas(conn, self.next_seq - 1)
        write_watermark(conn, self.next_seq - 1)
        conn.execute("COMMIT")

    def rebuild(self, conn: sqlite3.Connection, meter_pk: int, formula: str) -> int:
        """rebuild_rollups, after writing out the pending pack deltas (it recounts them)."""
        self.flush_packs(conn)
        self.pack_cache.clear()  # rebuild_rollups writes packs without it
        return rebuild_rollups(conn, meter_pk, formula)

    # --- the step ------------------------------------------------------------------------

    def apply_events(self, conn: sqlite3.Connection, events: Sequence[ValidatedEvent]
                     ) -> list[EventResult]:
        results: list[EventResult] = [ACCEPTED] * len(events)
        pending = self._pending_keys
        new_fps: list[int] = []
        new_seqs: list[int] = []
        keys = [e.key for e in events]
        fps = [fingerprint(k) for k in keys]
        stored = self._confirmed(conn, keys, self.index.candidates(fps))
        ingested = now_ms()
        first_seq = seq = self.next_seq
        segment = SegmentBuilder(seq)
        sums: MinuteSums = {}
        deltas = CellDeltas()
        extremes: list[tuple[int, ...]] = []
        for i, event in enumerate(events):
            key = keys[i]
            if i in stored or key in pending:
                results[i] = EventResult("duplicate", event.identifier)
                continue
            if len(segment) >= SEGMENT_MAX_EVENTS:
                segment.write(conn, ingested)
                segment = SegmentBuilder(seq)
            pending[key] = seq
            new_fps.append(fps[i])
            new_seqs.append(seq)
            meter = event.meter
            meter_pk = meter.pk
            dims_pk = self.dims_pk(conn, meter_pk, event.dims) if event.dims else 0
            customer_pk, ts, scaled = event.customer_pk, event.ts, event.scaled
            segment.fps.append(fps[i])
            segment.meter_pk.append(meter_pk)
            segment.identifier.append(event.identifier)
            segment.customer_pk.append(customer_pk)
            segment.dims_pk.append(dims_pk)
            segment.ts.append(ts)
            segment.value.append(event.value)
            segment.payload.append(event.payload)
            cell_key = (meter_pk, customer_pk, ts // 60, dims_pk)
            cell = sums.get(cell_key)
            if cell is None:
                sums[cell_key] = [1, scaled]
            else:
                cell[0] += 1
                cell[1] += scaled
            formula = meter.formula
            if formula != "sum" and formula != "count":
                deltas.add_event(meter_pk, customer_pk, dims_pk, formula, ts, seq, scaled,
                                 event.value if formula == "unique_count" else None)
                if formula != "unique_count":
                    extremes.append((meter_pk, customer_pk, dims_pk, ts, seq, *split(scaled)))
            seq += 1
        self.next_seq = seq
        self._pending_fps.append((np.array(new_fps, dtype=np.int64),
                                  np.array(new_seqs, dtype=np.int64)))
        segment.write(conn, ingested)
        if sums:
            self.add_sums(conn, first_seq, seq, sums, ingested)
            deltas.write(conn, sums=False)
            if extremes:
                conn.executemany(_INSERT_EXTREME, extremes)
        return [
            r if r is not ACCEPTED else EventResult("accepted", events[i].identifier)
            for i, r in enumerate(results)
        ]
