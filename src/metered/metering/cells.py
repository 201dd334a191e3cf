"""Rollup cells as numpy blocks: grouping events into cells, in bulk (metering.packs stores them).

A block is an int64 array of shape (n, 8), one row per cell: meter_pk, customer_pk, level,
bucket, dims_pk, count, sum_hi, sum_lo (the scaled sum is sum_hi * 2**40 + sum_lo).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from metered.metering.quantity import LO_BITS, LO_MASK
from metered.metering.rollups import MINUTE, PACK_LEVELS
from metered.native import extension as metered_native

SAFE_HI = 1 << 62  # block sums stay below this, so int64 arithmetic never overflows
_EMPTY = np.empty((0, 8), dtype=np.int64)


def group(keys: list[np.ndarray], values: list[np.ndarray]
          ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Rows with equal keys summed: (distinct keys in order, their sums)."""
    if not len(keys[0]):
        return keys, values
    order = np.lexsort(keys[::-1])
    keys = [k[order] for k in keys]
    change = np.zeros(len(order), dtype=bool)
    change[0] = True
    for k in keys:
        change[1:] |= k[1:] != k[:-1]
    starts = np.flatnonzero(change)
    return [k[starts] for k in keys], [np.add.reduceat(v[order], starts) for v in values]


def _block(meter_pk: np.ndarray, customer_pk: np.ndarray, level: int, bucket: np.ndarray,
           dims_pk: np.ndarray, count: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    hi, lo = hi + (lo >> LO_BITS), lo & LO_MASK
    levels = np.full(len(bucket), level, dtype=np.int64)
    return np.column_stack([meter_pk, customer_pk, levels, bucket, dims_pk, count, hi, lo])


def minute_block(meter_pk: np.ndarray, customer_pk: np.ndarray, minute: np.ndarray,
                 dims_pk: np.ndarray, count: np.ndarray, hi: np.ndarray, lo: np.ndarray
                 ) -> np.ndarray:
    """The minute cells of events or minute deltas (a row each), sorted by key."""
    keys, sums = group([meter_pk, customer_pk, minute, dims_pk], [count, hi, lo])
    return _block(keys[0], keys[1], MINUTE, keys[2], keys[3], *sums)


def level_block(minutes: np.ndarray, levels: Sequence[tuple[int, int]]) -> np.ndarray:
    """The pack cells at `levels` ((level, size in minutes) pairs) a block of minute cells rolls
    up into."""
    meter_pk, customer_pk, minute, dims_pk = (minutes[:, i] for i in (0, 1, 3, 4))
    count, hi, lo = minutes[:, 5], minutes[:, 6], minutes[:, 7]
    coarse = []
    for level, size in levels:
        k, v = group([meter_pk, customer_pk, minute - minute % size, dims_pk], [count, hi, lo])
        coarse.append(_block(k[0], k[1], level, k[2], k[3], *v))
    return np.concatenate(coarse) if coarse else _EMPTY


SMALL_ROWS = 128  # below this, grouping in Python beats numpy's fixed cost per call


def minute_block_of_rows(rows: list[tuple[int, ...]]) -> np.ndarray:
    """minute_block of (meter_pk, customer_pk, minute, dims_pk, count, sum_hi, sum_lo) rows."""
    if len(rows) < SMALL_ROWS:
        return _small_minute_block(rows)
    a = np.array(rows, dtype=np.int64).reshape(-1, 7)
    return minute_block(*(a[:, i] for i in range(7)))


def _small_minute_block(rows: list[tuple[int, ...]]) -> np.ndarray:
    """minute_block_of_rows for a few rows (a group of single events: ~25), in Python: the
    numpy path's dozen calls (lexsort, reduceat, column_stack) cost ~100 µs whatever the size."""
    cells: list[list[int]] = []
    for meter_pk, customer_pk, minute, dims_pk, count, hi, lo in sorted(rows):
        last = cells[-1] if cells else None
        if (last is not None and last[3] == minute and last[4] == dims_pk
                and last[1] == customer_pk and last[0] == meter_pk):
            last[5] += count
            last[6] += hi
            last[7] += lo
        else:
            cells.append([meter_pk, customer_pk, MINUTE, minute, dims_pk, count, hi, lo])
    for cell in cells:
        cell[6] += cell[7] >> LO_BITS
        cell[7] &= LO_MASK
    return np.array(cells, dtype=np.int64).reshape(-1, 8)


LATE_MINUTES = 60  # an event this far behind its ingestion is "late" (see split_late)


def late_before(ingested_ms: int) -> int:
    """Minute cells before this minute hold late events: their packs (every level) are written
    in the ingest transaction rather than deferred (metering.pending), so that the flush only
    rewrites the few packs of the current buckets (cached, cheap) instead of paying, in one
    commit, for every late event since the last one (tried: the paced p99 doubled)."""
    return ingested_ms // 60_000 - LATE_MINUTES


def split_late(minutes: np.ndarray, before: int) -> tuple[np.ndarray, np.ndarray]:
    """(the minute cells before minute `before`, the others)."""
    late = minutes[:, 3] < before
    return minutes[late], minutes[~late]


def merge(blocks: list[np.ndarray]) -> np.ndarray:
    """Several blocks as one, equal cells summed."""
    if not blocks:
        return _EMPTY
    rows = np.concatenate(blocks)
    keys, sums = group([rows[:, i] for i in range(5)], [rows[:, 5], rows[:, 6], rows[:, 7]])
    hi, lo = sums[1] + (sums[2] >> LO_BITS), sums[2] & LO_MASK
    return np.column_stack([*keys, sums[0], hi, lo])


def pending_rollup(blocks: list[np.ndarray]) -> np.ndarray:
    """The cells at every pack level, the minute included, of blocks of minute cells, merged and
    sorted: what a flush writes, and a late event's step. Natively when the extension is
    installed (a few times faster)."""
    if not blocks:
        return _EMPTY
    if metered_native is not None:
        data = metered_native.rollup([np.ascontiguousarray(b, dtype=np.int64) for b in blocks],
                                     list(PACK_LEVELS))
        return np.frombuffer(data, dtype="<i8").reshape(-1, 8)
    return merge([level_block(merge(blocks), PACK_LEVELS)])


def bound(block: np.ndarray) -> int:
    """An upper bound of |sum_hi| over the block's rows (to keep merged sums in int64)."""
    return hi_bound(block[:, 6])


def hi_bound(hi: np.ndarray) -> int:
    """An upper bound of |sum| over these sum_hi values: merged, they stay in int64 while it is
    below SAFE_HI."""
    return int(np.abs(hi).max()) * len(hi) if len(hi) else 0
