"""Event summaries: the aggregated value of a meter over a time range, read from rollups.

A range [start, end) in minutes is cut into the fewest whole buckets (4-day, day, 6-hour, hour,
10-minute and minute for the count/sum packs), so that a month for one customer reads about 60
packs (metering.packs) whatever its number of dimension sets, summed with numpy.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from metered.metering import packs
from metered.metering.cells import SAFE_HI, group, hi_bound
from metered.metering.meters import Meter
from metered.metering.pending import Block, PendingPacks
from metered.metering.quantity import LO_BITS, SCALE, from_scaled, join
from metered.metering.rollups import DAY, HOUR, LEVEL_MINUTES, LEVELS, PACK_LEVELS

WINDOW_LEVEL = {"hour": HOUR, "day": DAY}
Range = tuple[int, int, int]  # level, first bucket, end bucket (minutes)


@dataclass(frozen=True, slots=True)
class SummaryQuery:
    meter: Meter
    customer_pk: int | None
    start: int  # seconds, minute-aligned
    end: int
    window: str | None = None  # None, "hour" or "day"
    group_by: tuple[str, ...] = ()


@dataclass(slots=True)  # not frozen: a long summary creates thousands, and frozen init is slower
class Summary:
    start: int
    end: int
    dimensions: dict[str, str | None] | None
    value: Decimal | int

    def summary_id(self, meter: Meter, customer_id: str | None) -> str:
        material = f"{meter.id}|{customer_id}|{self.start}|{self.end}|{self.dimensions}"
        return "mtrsum_" + hashlib.blake2b(material.encode(), digest_size=12).hexdigest()


def decompose(lo: int, hi: int, levels: Sequence[tuple[int, int]] = PACK_LEVELS
              ) -> list[Range]:
    """Cover [lo, hi) minutes with whole cells of `levels` (finest first, each size dividing
    the next), coarsest first where they fit."""
    parts: list[Range] = []

    def cover(lo: int, hi: int, i: int) -> None:
        if lo >= hi:
            return
        level, size = levels[i]
        if i == 0:
            parts.append((level, lo, hi))
            return
        first = -(-lo // size) * size
        last = hi // size * size
        if first >= last:
            cover(lo, hi, i - 1)
            return
        cover(lo, first, i - 1)
        parts.append((level, first, last))
        cover(last, hi, i - 1)

    cover(lo, hi, len(levels) - 1)
    return parts


class _Acc:
    """Accumulates one group in one window, for the meter's formula."""

    __slots__ = ("count", "total", "max", "last_key", "last", "uniques")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0
        self.max: int | None = None
        self.last_key: tuple[int, int] | None = None
        self.last: int | None = None
        self.uniques: set[str] = set()

    def value(self, formula: str) -> Decimal | int:
        if formula == "count":
            return self.count
        if formula == "sum":
            return from_scaled(self.total)
        if formula == "max":
            return from_scaled(self.max or 0)
        if formula == "last":
            return from_scaled(self.last or 0)
        return len(self.uniques)


def _range_sql(table: str, columns: str, q: SummaryQuery, ranges: list[Range]
               ) -> tuple[str, list[object]]:
    selects = []
    args: list[object] = []
    for level, lo, hi in ranges:
        where = "meter_pk=? AND level=? AND bucket>=? AND bucket<?"
        part_args: list[object] = [q.meter.pk, level, lo, hi]
        if q.customer_pk is not None:
            where = "meter_pk=? AND customer_pk=? AND level=? AND bucket>=? AND bucket<?"
            part_args.insert(1, q.customer_pk)
        selects.append(f"SELECT {columns} FROM {table} WHERE {where}")
        args.extend(part_args)
    return " UNION ALL ".join(selects), args


def _windows(q: SummaryQuery) -> list[tuple[int, int]]:
    if q.window is None:
        return [(q.start, q.end)]
    size = LEVEL_MINUTES[WINDOW_LEVEL[q.window]] * 60
    return [(t, t + size) for t in range(q.start, q.end, size)]


def _ranges(q: SummaryQuery, levels: Sequence[tuple[int, int]] = LEVELS) -> list[Range]:
    """The cells to read: of the row tables' levels, or of the packs' (PACK_LEVELS)."""
    lo, hi = q.start // 60, q.end // 60
    if q.window is None:
        return decompose(lo, hi, levels)
    level = WINDOW_LEVEL[q.window]
    return [(level, lo, hi)]


def _window_of(q: SummaryQuery, bucket_minutes: int) -> int:
    if q.window is None:
        return q.start
    size = LEVEL_MINUTES[WINDOW_LEVEL[q.window]]
    return (bucket_minutes - bucket_minutes % size) * 60


def _rows(conn: sqlite3.Connection, q: SummaryQuery, pending: list[Block]
          ) -> Iterator[tuple[int, int, _Acc]]:
    """(window start, dims_pk, accumulator) for every cell group the query touches."""
    ranges = _ranges(q)
    formula = q.meter.formula
    bucket_expr = "bucket" if q.window is not None else "0"
    if formula == "unique_count":
        inner, args = _range_sql(
            "rollup_uniques", f"{bucket_expr} AS b, dims_pk, value", q, ranges
        )
        accs: dict[tuple[int, int], _Acc] = {}
        for b, dims_pk, value in conn.execute(f"SELECT DISTINCT b, dims_pk, value FROM ({inner})",
                                              args):
            key = (_window_of(q, b), dims_pk)
            acc = accs.get(key) or accs.setdefault(key, _Acc())
            acc.uniques.add(value)
        for (window, dims_pk), acc in accs.items():
            yield window, dims_pk, acc
        return
    if formula in ("sum", "count"):
        sums = _pack_sums(conn, q, _ranges(q, PACK_LEVELS), pending)
        for b, dims_pk, count, total in zip(*sums, strict=True):
            if not count:  # emptied by a cancellation whose own delta is still pending
                continue
            acc = _Acc()
            acc.count, acc.total = count, total
            yield _window_of(q, b), dims_pk, acc
        return
    inner, args = _range_sql(
        "rollup_extremes",
        f"{bucket_expr} AS b, dims_pk, max_hi, max_lo, last_ts, last_seq, last_hi, last_lo",
        q, ranges,
    )
    accs = {}
    for b, dims_pk, max_hi, max_lo, last_ts, last_seq, last_hi, last_lo in conn.execute(
        inner, args
    ):
        key = (_window_of(q, b), dims_pk)
        acc = accs.get(key) or accs.setdefault(key, _Acc())
        if max_hi is not None:
            candidate = join(max_hi, max_lo)
            if acc.max is None or candidate > acc.max:
                acc.max = candidate
        if last_ts is not None and (acc.last_key is None or (last_ts, last_seq) > acc.last_key):
            acc.last_key, acc.last = (last_ts, last_seq), join(last_hi, last_lo)
    for (window, dims_pk), acc in accs.items():
        yield window, dims_pk, acc


_DENSE_MAX = 1 << 22  # groups of a dense (window x dimension set) table; beyond, sort instead


# Count and scaled sum per (bucket or 0, dims_pk or 0): four lists in (bucket, dims_pk) order.
Sums = tuple[list[int], list[int], list[int], list[int]]


def _pack_sums(conn: sqlite3.Connection, q: SummaryQuery, ranges: list[Range],
               pending: list[Block]) -> Sums:
    """Cells of the packs and the pending deltas summed per (bucket or 0, dims_pk or 0)."""
    key_window, key_dims = q.window is not None, bool(q.group_by)
    cells: list[np.ndarray] = []
    buckets: list[np.ndarray] = []
    wide: list[tuple[int, dict[int, list[int]]]] = []
    for bucket, pack in packs.read(conn, q.meter.pk, q.customer_pk, ranges):
        if pack.totals is not None:
            wide.append((bucket, pack.totals))
        elif len(pack.cells):
            cells.append(pack.cells)
            if key_window:
                buckets.append(np.full(len(pack.cells), bucket, dtype=np.int64))
    if pending:  # minute cells in delta rows, not yet in their packs (any level)
        rows = np.concatenate(pending)
        keep = rows[:, 0] == q.meter.pk
        if q.customer_pk is not None:
            keep &= rows[:, 1] == q.customer_pk
        minute = rows[:, 3]
        in_range = np.zeros(len(rows), dtype=bool)
        for _, lo, hi in ranges:
            in_range |= (minute >= lo) & (minute < hi)
        rows = rows[keep & in_range]
        cells.append(rows[:, 4:])
        if key_window:
            size = LEVEL_MINUTES[WINDOW_LEVEL[q.window]]  # type: ignore[index]
            buckets.append(rows[:, 3] - rows[:, 3] % size)
    out: Sums = ([], [], [], [])
    if cells:
        all_cells = np.concatenate(cells)
        window = np.concatenate(buckets) if key_window else np.zeros(len(all_cells), np.int64)
        dims = all_cells[:, 0] if key_dims else np.zeros(len(all_cells), np.int64)
        out = _group_sums(window, dims, all_cells[:, 1], all_cells[:, 2], all_cells[:, 3])
    if not wide:
        return out
    merged = {(w, d): [c, t] for w, d, c, t in zip(*out, strict=True)}
    for bucket, totals in wide:
        for dims_pk, (n, total) in totals.items():
            cell = merged.setdefault((bucket if key_window else 0, dims_pk if key_dims else 0),
                                     [0, 0])
            cell[0] += n
            cell[1] += total
    return _sums_of(merged)


def _sums_of(cells: dict[tuple[int, int], list[int]]) -> Sums:
    keys = sorted(cells)
    return ([w for w, _ in keys], [d for _, d in keys], [cells[k][0] for k in keys],
            [cells[k][1] for k in keys])


def _group_sums(window: np.ndarray, dims: np.ndarray, count: np.ndarray, hi: np.ndarray,
                lo: np.ndarray) -> Sums:
    """Count and scaled sum per (window, dims): in int64 when that is exact, else in Python."""
    n = len(count)
    if not n:
        return ([], [], [], [])
    if hi_bound(hi) >= SAFE_HI or n >= 1 << 22:  # lo sums stay below 2**62 too
        out: dict[tuple[int, int], list[int]] = {}
        for w, d, c, h, low in zip(window.tolist(), dims.tolist(), count.tolist(), hi.tolist(),
                                   lo.tolist(), strict=True):
            cell = out.setdefault((w, d), [0, 0])
            cell[0] += c
            cell[1] += join(h, low)
        return _sums_of(out)
    w0, d0 = int(window.min()), int(dims.min())
    w_span, d_span = int(window.max()) - w0 + 1, int(dims.max()) - d0 + 1
    if w_span * d_span <= _DENSE_MAX:  # add into a dense table: no sort, keys come in order
        index = (window - w0) * d_span + (dims - d0)
        sums = np.zeros((3, w_span * d_span), dtype=np.int64)
        for row, column in zip(sums, (count, hi, lo), strict=True):
            np.add.at(row, index, column)
        found = np.flatnonzero(np.any(sums != 0, axis=0))
        wk, dk = found // d_span + w0, found % d_span + d0
        c, h, low = sums[:, found]
    else:
        (wk, dk), (c, h, low) = group([window, dims], [count, hi, lo])
    if not len(h) or int(np.abs(h).max()) < 1 << 22:  # the scaled sums fit int64
        totals = ((h << LO_BITS) + low).tolist()
    else:
        totals = [join(x, y) for x, y in zip(h.tolist(), low.tolist(), strict=True)]
    return wk.tolist(), dk.tolist(), c.tolist(), totals


def _merge(into: _Acc, acc: _Acc) -> None:
    into.count += acc.count
    into.total += acc.total
    if acc.max is not None and (into.max is None or acc.max > into.max):
        into.max = acc.max
    if acc.last_key is not None and (into.last_key is None or acc.last_key > into.last_key):
        into.last_key, into.last = acc.last_key, acc.last
    into.uniques |= acc.uniques


# (database file, dims_pk) -> the dimension values by key; a dimension set never changes once
# created, so this cache can't go stale. Bounded: cleared when it outgrows _DIMENSION_CACHE_MAX.
# The dicts are shared by every summary that names them: read them, never change them.
_dimension_cache: dict[tuple[str, int], dict[str, str | None]] = {}
_DIMENSION_CACHE_MAX = 1_000_000


def _dimension_values(conn: sqlite3.Connection, meter: Meter, dims_pks: set[int]
                      ) -> dict[int, dict[str, str | None]]:
    keys = meter.dimension_keys
    out: dict[int, dict[str, str | None]] = {0: dict.fromkeys(keys)}
    database = conn.execute("PRAGMA database_list").fetchone()[2]
    cache = _dimension_cache
    missing = []
    for pk in dims_pks:
        if pk:
            values = cache.get((database, pk))
            if values is None:
                missing.append(pk)
            else:
                out[pk] = values
    if len(cache) + len(missing) > _DIMENSION_CACHE_MAX:
        cache.clear()
    for start in range(0, len(missing), 500):
        chunk = missing[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for pk, dims in conn.execute(
            f"SELECT dims_pk, dims FROM dimension_sets WHERE dims_pk IN ({marks})", chunk
        ):
            out[pk] = cache[(database, pk)] = dict(zip(keys, json.loads(dims), strict=True))
    return out


def _sum_summaries(conn: sqlite3.Connection, q: SummaryQuery, pending: list[Block],
                   window_size: int) -> list[Summary]:
    """The common shapes of sum and count meters: no grouping, or one group per dimension set."""
    buckets, dims, counts, totals = _pack_sums(conn, q, _ranges(q, PACK_LEVELS), pending)
    values: list[int] | list[Decimal | int]
    values = counts if q.meter.formula == "count" else [
        t // SCALE if t % SCALE == 0 else from_scaled(t) for t in totals]
    if not q.group_by:
        by_window = {_window_of(q, b): v for b, n, v in zip(buckets, counts, values, strict=True)
                     if n}
        return [Summary(start, start + window_size, None, by_window.get(start, 0))
                for start, _ in _windows(q)]
    names = _dimension_values(conn, q.meter, set(dims))
    # `if n`: a count of 0 is a cell emptied by a cancellation whose own delta is still pending
    if q.window is None:
        start, end = q.start, q.end
        return [Summary(start, end, names[d], v)
                for d, n, v in zip(dims, counts, values, strict=True) if n]
    return [Summary(b * 60, b * 60 + window_size, names[d], v)
            for b, d, n, v in zip(buckets, dims, counts, values, strict=True) if n]


def summarize(conn: sqlite3.Connection, q: SummaryQuery, pending: PendingPacks
              ) -> list[Summary]:
    """Summaries ordered by window start, then by group; empty windows are kept when ungrouped.

    Reads one snapshot of the rollups plus the writer's pending pack deltas: exact totals.
    On the PostgreSQL store, reads its rollups (metering.pg_usage; nothing is pending there).
    """
    if getattr(conn, "dialect", None) == "postgresql":
        from metered.metering import pg_usage  # noqa: PLC0415

        return pg_usage.summarize(conn.raw, q)  # type: ignore[attr-defined]
    with pending.snapshot(conn) as blocks:
        return _summarize(conn, q, blocks)


def _summarize(conn: sqlite3.Connection, q: SummaryQuery, pending: list[Block]
               ) -> list[Summary]:
    window_size = q.end - q.start if q.window is None else (
        LEVEL_MINUTES[WINDOW_LEVEL[q.window]] * 60
    )
    formula = q.meter.formula
    if formula in ("sum", "count") and q.group_by in ((), q.meter.dimension_keys):
        return _sum_summaries(conn, q, pending, window_size)
    rows = list(_rows(conn, q, pending))
    if q.group_by:
        names = _dimension_values(conn, q.meter, {dims_pk for _, dims_pk, _ in rows})
        if q.group_by == q.meter.dimension_keys:  # one group per dimension set: nothing to merge
            ordered = sorted(rows, key=lambda r: (r[0], r[1]))  # window, then creation order
            return [
                Summary(start, start + window_size, names[dims_pk], acc.value(formula))
                for start, dims_pk, acc in ordered
            ]
    groups: dict[tuple[int, tuple[str | None, ...]], tuple[dict[str, str | None] | None, _Acc]] = {}
    for window, dims_pk, acc in rows:
        if q.group_by:
            dims = {k: names[dims_pk].get(k) for k in q.group_by}
            label = tuple(dims.values())
        else:
            dims, label = None, ()
        entry = groups.get((window, label))
        if entry is None:
            entry = groups[(window, label)] = (dims, _Acc())
        _merge(entry[1], acc)
    if not q.group_by:
        for start, _ in _windows(q):
            groups.setdefault((start, ()), (None, _Acc()))
    return [
        Summary(start=start, end=start + window_size, dimensions=dims, value=acc.value(formula))
        for (start, _), (dims, acc) in sorted(
            groups.items(), key=lambda item: (item[0][0], tuple(map(str, item[0][1])))
        )
    ]
