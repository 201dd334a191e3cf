"""Packs: one row per (meter, customer, level, bucket) holding every dimension set's cell.

The count and sum rollups, every level (a minute to 4 days: rollups.PACK_LEVELS), written about
every half second from the writer's pending deltas, whose durable copy the transaction that
stores the events writes (metering.pending), or at once for late events; cancellations add
negative deltas; everything can be rebuilt from the raw events.
Summaries read packs: a month for a customer with 1,000 dimension sets is about 60 packs (the
buckets that cover it), where a row per cell meant 100,000 rows to find, sort and group; and a
flush rewrites a few hundred packs where it upserted thousands of cells.

A pack's `cells` blob is a header and then, in the narrow form, little-endian int64 columns
(dims_pk, count, sum_hi, sum_lo) by row, sorted by dims_pk; cells with nothing left in them are
dropped, and a pack with no cells is deleted. A pack whose sums no longer fit int64 (10**19 units
in one cell) is kept in the wide form instead: JSON of [dims_pk, count, scaled sum] rows.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from metered.metering.quantity import LO_BITS, LO_MASK, join
from metered.native import extension as metered_native

NARROW, WIDE = b"P0000000", b"W0000000"  # 8 bytes: the int64 columns stay aligned
PackKey = tuple[int, int, int, int]  # meter_pk, customer_pk, level, bucket
Totals = dict[int, list[int]]  # dims_pk -> [count, scaled sum]
_INT64_HI = (1 << 63) - 1
_SAFE = 1 << 62
_EMPTY = np.empty((0, 4), dtype=np.int64)
_DELETE = "DELETE FROM rollup_packs WHERE meter_pk=? AND customer_pk=? AND level=? AND bucket=?"
# Packs are read and written many per statement, in statements of these sizes (a few shapes, so
# SQLite's statement cache keeps them). Not for the round trips alone: the sqlite3 module gives
# up the GIL for every step, and under load each step then waits up to the switch interval to
# get it back (1,000 single-row upserts: 5 ms alone, 130 ms beside a busy thread; in 4
# statements, 3 ms and 10 ms). A multi-row statement is one step; a read aggregates its rows into
# one (JSON), so it is one step too.
_CHUNKS = (256, 64, 16, 4, 1)


@functools.cache
def _upsert_sql(rows: int) -> str:
    return ("INSERT INTO rollup_packs (meter_pk, customer_pk, level, bucket, cells) VALUES "
            + ",".join(["(?,?,?,?,?)"] * rows) + " ON CONFLICT DO UPDATE SET cells=excluded.cells")


@functools.cache
def _select_sql(keys: int) -> str:
    return ("SELECT json_group_array(json_array(p.meter_pk, p.customer_pk, p.level, p.bucket,"
            " hex(p.cells))) FROM (VALUES " + ",".join(["(?,?,?,?)"] * keys) + ") AS k"
            " JOIN rollup_packs AS p ON p.meter_pk=k.column1 AND p.customer_pk=k.column2"
            " AND p.level=k.column3 AND p.bucket=k.column4")


def _chunks(n: int) -> Iterator[tuple[int, int]]:
    """(start, size) of statements covering n rows, in _CHUNKS sizes."""
    start = 0
    for size in _CHUNKS:
        while n - start >= size:
            yield start, size
            start += size


def upsert(conn: sqlite3.Connection, rows: list[Any]) -> None:
    """Write packs: `rows` flat, five values a pack (meter, customer, level, bucket, blob)."""
    for start, size in _chunks(len(rows) // 5):
        conn.execute(_upsert_sql(size), rows[start * 5 : (start + size) * 5])


def fetch(conn: sqlite3.Connection, keys: list[PackKey]) -> dict[PackKey, bytes]:
    """The blobs of the packs that exist among `keys`."""
    found: dict[PackKey, bytes] = {}
    for start, size in _chunks(len(keys)):
        flat = [v for key in keys[start : start + size] for v in key]
        (text,) = conn.execute(_select_sql(size), flat).fetchone()
        for meter_pk, customer_pk, level, bucket, cells in json.loads(text):
            found[(meter_pk, customer_pk, level, bucket)] = bytes.fromhex(cells)
    return found


@dataclass(slots=True)  # not frozen: the writer makes hundreds per commit, frozen init is slower
class Pack:
    """A decoded pack: `cells` (n, 4) int64 when narrow; `totals` (Python integers) when wide.
    Treat as immutable."""

    cells: np.ndarray
    totals: Totals | None = None

    @property
    def wide(self) -> bool:
        return self.totals is not None

    def as_totals(self) -> Totals:
        """A new dict (callers add to it)."""
        if self.totals is not None:
            return {d: list(cell) for d, cell in self.totals.items()}
        return {d: [n, join(hi, lo)] for d, n, hi, lo in self.cells.tolist()}


def decode(blob: bytes) -> Pack:
    if blob[:8] == NARROW:
        return Pack(np.frombuffer(blob, dtype="<i8", offset=8).reshape(-1, 4))
    if blob[:8] == WIDE:
        return Pack(_EMPTY, {d: [n, total] for d, n, total in json.loads(blob[8:])})
    raise ValueError("not a rollup pack")


def encode_cells(cells: np.ndarray) -> bytes:
    """Narrow form of (n, 4) int64 cells, already sorted by dims_pk and without empty ones."""
    return NARROW + cells.astype("<i8", copy=False).tobytes()


def encode_totals(totals: Totals) -> bytes | None:
    """A pack of Python-integer totals, narrow when it fits; None when nothing is left."""
    rows = sorted((d, n, t) for d, (n, t) in totals.items() if n or t)
    if not rows:
        return None
    if all(abs(n) <= _INT64_HI and abs(t >> LO_BITS) <= _INT64_HI for _, n, t in rows):
        cells = np.array([(d, n, t >> LO_BITS, t & LO_MASK) for d, n, t in rows], dtype=np.int64)
        return encode_cells(cells)
    return WIDE + json.dumps(rows, separators=(",", ":")).encode()


class PackCache:
    """The writer's packs as it last wrote or read them (narrow ones), so that a flush does not
    read back from SQLite the packs the previous flush wrote. Only the writer thread
    uses it, and every pack write on that thread goes through it (or clears it): it can't go
    stale. A rolled-back transaction or savepoint clears it. Bounded by cells held.

    With the native extension the packs are kept there, as blobs, and `add` merges blocks into
    them natively (`native`); otherwise they are kept here as decoded Packs."""

    def __init__(self, max_cells: int = 2_000_000) -> None:
        self.native = metered_native.PackCache(max_cells) if metered_native is not None else None
        self._packs: dict[PackKey, Pack | None] = {}  # None: known not to exist
        self._cells = 0
        self.max_cells = max_cells

    def get(self, key: PackKey) -> Pack | None | bool:
        """The pack, None if there is none, or False when the cache doesn't know."""
        if self.native is not None:
            known, blob = self.native.get(key)
            return (decode(blob) if blob is not None else None) if known else False
        return self._packs.get(key, False)

    def put(self, key: PackKey, pack: Pack | None) -> None:
        if self.native is not None:
            self.native.put(key, None if pack is None else
                            WIDE if pack.wide else encode_cells(pack.cells))
            return
        old = self._packs.pop(key, None)
        if old is not None:
            self._cells -= len(old.cells)
        if pack is not None and pack.wide:
            return  # wide packs are rare: read them when needed
        if self._cells > self.max_cells:
            self.clear()
        self._packs[key] = pack
        self._cells += len(pack.cells) if pack is not None else 0

    def put_written(self, key: PackKey, blob: bytes, cells: np.ndarray | None) -> None:
        """A pack just written: its blob, and its cells when the caller has them."""
        if self.native is not None:
            self.native.put(key, blob)
        else:
            self.put(key, Pack(cells) if cells is not None else decode(blob))

    def clear(self) -> None:
        if self.native is not None:
            self.native.clear()
        self._packs.clear()
        self._cells = 0


def _load(conn: sqlite3.Connection, keys: list[PackKey], cache: PackCache | None = None
          ) -> list[Pack | None]:
    known = [cache.get(key) if cache is not None else False for key in keys]
    missing = [key for key, pack in zip(keys, known, strict=True) if pack is False]
    blobs = fetch(conn, missing) if missing else {}
    packs: list[Pack | None] = []
    for key, found in zip(keys, known, strict=True):
        if found is False:
            blob = blobs.get(key)
            found = decode(blob) if blob is not None else None
            if cache is not None:
                cache.put(key, found)
        packs.append(found)  # type: ignore[arg-type]
    return packs


def _write(conn: sqlite3.Connection, writes: list[tuple[PackKey, bytes, np.ndarray | None]],
           deletes: list[PackKey], cache: PackCache | None) -> None:
    """Write packs (key, blob, and the cells when the caller has them) and delete others."""
    upsert(conn, [v for key, blob, _ in writes for v in (*key, blob)])
    if deletes:
        conn.executemany(_DELETE, deletes)
    if cache is not None:
        for key, blob, cells in writes:
            cache.put_written(key, blob, cells)
        for key in deletes:
            cache.put(key, None)


def add(conn: sqlite3.Connection, block: np.ndarray, cache: PackCache | None = None) -> None:
    """Add a block of cell deltas (metering.cells: (n, 8) rows, any level, each cell at most
    once, sorted by key) to their packs."""
    if not len(block):
        return
    if cache is not None and cache.native is not None and _add_native(conn, block, cache.native):
        return
    keys = block[:, :4]
    change = np.ones(len(block), dtype=bool)
    change[1:] = (keys[1:] != keys[:-1]).any(axis=1)
    starts = np.flatnonzero(change)
    pack_keys: list[PackKey] = list(map(tuple, keys[starts].tolist()))  # type: ignore[arg-type]
    old = _load(conn, pack_keys, cache)
    old_cells = [p.cells if p is not None else _EMPTY for p in old]
    sizes = np.array([len(c) for c in old_cells], dtype=np.int64)
    new_cells = block[:, 4:]
    cells = np.concatenate([*old_cells, new_cells]) if sizes.any() else new_cells
    if any(p is not None and p.wide for p in old) or (
        int(np.abs(cells[:, 2]).max()) * 2 >= _SAFE  # old + new hi of a cell: within int64
    ):
        _add_python(conn, pack_keys, old, block, starts, cache)
        return
    ends = np.append(starts[1:], len(block))
    pack_of = np.concatenate([np.repeat(np.arange(len(pack_keys)), sizes),
                              np.repeat(np.arange(len(pack_keys)), ends - starts)])
    order = np.lexsort((cells[:, 0], pack_of))
    pack_of, cells = pack_of[order], cells[order]
    change = np.ones(len(cells), dtype=bool)
    change[1:] = (pack_of[1:] != pack_of[:-1]) | (cells[1:, 0] != cells[:-1, 0])
    first = np.flatnonzero(change)
    sums = np.add.reduceat(cells[:, 1:], first, axis=0)
    hi, lo = sums[:, 1] + (sums[:, 2] >> LO_BITS), sums[:, 2] & LO_MASK
    merged = np.column_stack([cells[first, 0], sums[:, 0], hi, lo])
    pack_of = pack_of[first]
    alive = (merged[:, 1:] != 0).any(axis=1)
    merged, pack_of = merged[alive], pack_of[alive]
    bounds_at = np.searchsorted(pack_of, np.arange(len(pack_keys) + 1))
    writes: list[tuple[PackKey, bytes, np.ndarray | None]] = []
    deletes: list[PackKey] = []
    for i, key in enumerate(pack_keys):
        lo_i, hi_i = bounds_at[i], bounds_at[i + 1]
        if hi_i > lo_i:
            cells = merged[lo_i:hi_i].copy()  # a copy: a cached view would pin all of `merged`
            writes.append((key, encode_cells(cells), cells))
        elif old[i] is not None:
            deletes.append(key)
    _write(conn, writes, deletes, cache)


def _add_native(conn: sqlite3.Connection, block: np.ndarray, native: Any) -> bool:
    """`add` by the extension, into the packs it caches; False (nothing done) when it leaves
    the block to the Python path (a wide pack, sums near the int64 limit)."""
    data = np.ascontiguousarray(block, dtype=np.int64)  # read in place by the extension
    missing = native.missing(data)
    if missing:
        blobs = fetch(conn, missing)
        for key in missing:
            native.put(key, blobs.get(key))
    merged = native.merge(data)
    if merged is None:
        return False
    writes, deletes = merged
    upsert(conn, writes)
    if deletes:
        conn.executemany(_DELETE, deletes)
    return True


def _add_python(conn: sqlite3.Connection, pack_keys: list[PackKey], old: list[Pack | None],
                block: np.ndarray, starts: np.ndarray, cache: PackCache | None) -> None:
    ends = np.append(starts[1:], len(block))
    changes = {
        key: {d: [n, join(hi, lo)] for d, n, hi, lo in block[s:e, 4:].tolist()}
        for key, s, e in zip(pack_keys, starts.tolist(), ends.tolist(), strict=True)
    }
    add_totals(conn, changes, cache, dict(zip(pack_keys, old, strict=True)))


def add_totals(conn: sqlite3.Connection, changes: Mapping[PackKey, Totals],
               cache: PackCache | None = None,
               loaded: Mapping[PackKey, Pack | None] | None = None) -> None:
    """Add deltas in Python integers (any size) to their packs."""
    writes: list[tuple[PackKey, bytes, np.ndarray | None]] = []
    deletes: list[PackKey] = []
    for key, delta in changes.items():
        pack = loaded[key] if loaded is not None else _load(conn, [key], cache)[0]
        totals = pack.as_totals() if pack is not None else {}
        for dims_pk, (n, total) in delta.items():
            cell = totals.get(dims_pk)
            if cell is None:
                totals[dims_pk] = [n, total]
            else:
                cell[0] += n
                cell[1] += total
        blob = encode_totals(totals)
        if blob is not None:
            writes.append((key, blob, None))
        elif pack is not None:
            deletes.append(key)
    _write(conn, writes, deletes, cache)


def totals_by_pack(cells: Iterable[tuple[int, int, int, int, int, int, int]]
                   ) -> dict[PackKey, Totals]:
    """(meter, customer, level, bucket, dims, count, scaled sum) rows, as add_totals wants."""
    out: dict[PackKey, Totals] = {}
    for meter_pk, customer_pk, level, bucket, dims_pk, n, total in cells:
        pack = out.setdefault((meter_pk, customer_pk, level, bucket), {})
        cell = pack.get(dims_pk)
        if cell is None:
            pack[dims_pk] = [n, total]
        else:
            cell[0] += n
            cell[1] += total
    return out


def read(conn: sqlite3.Connection, meter_pk: int, customer_pk: int | None,
         ranges: Iterable[tuple[int, int, int]]) -> Iterator[tuple[int, Pack]]:
    """(bucket, pack) of every pack in the (level, first bucket, end bucket) ranges."""
    selects, args = [], []
    for level, lo, hi in ranges:
        if customer_pk is None:
            selects.append("SELECT bucket, cells FROM rollup_packs"
                           " WHERE meter_pk=? AND level=? AND bucket>=? AND bucket<?")
            args += [meter_pk, level, lo, hi]
        else:
            selects.append("SELECT bucket, cells FROM rollup_packs WHERE meter_pk=?"
                           " AND customer_pk=? AND level=? AND bucket>=? AND bucket<?")
            args += [meter_pk, customer_pk, level, lo, hi]
    if not selects:
        return
    for bucket, blob in conn.execute(" UNION ALL ".join(selects), args):
        yield bucket, decode(blob)
