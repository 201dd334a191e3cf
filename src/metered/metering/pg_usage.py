"""Event summaries on the PostgreSQL store, from `usage_rollups` and `usage_uniques`.

The rollups hold minute, hour and day cells (level = the cell's minutes). A range [start, end)
is read as whole days, then hours, then minutes at its edges (summaries.decompose), so that a
month for one customer reads about 30 day cells per dimension set. A windowed query reads its
window's level. Values are exact: NUMERIC sums, turned back into the embedded store's
canonical Decimals.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from metered.metering.meters import Meter
from metered.metering.quantity import SCALE, from_scaled
from metered.metering.summaries import (
    Summary,
    SummaryQuery,
    _window_of,
    _windows,
    decompose,
)

MINUTE, HOUR, DAY = 1, 60, 1440
LEVELS = ((MINUTE, MINUTE), (HOUR, HOUR), (DAY, DAY))
WINDOW_MINUTES = {"hour": HOUR, "day": DAY}


def _scaled(value: Decimal | None) -> int:
    return 0 if value is None else int(value * SCALE)


class _Acc:
    __slots__ = ("count", "total", "max", "last_key", "last", "uniques")

    def __init__(self) -> None:
        self.count = 0
        self.total = Decimal(0)
        self.max: Decimal | None = None
        self.last_key: tuple[int, int] | None = None
        self.last: Decimal | None = None
        self.uniques: set[str] = set()

    def add(self, count: int, total: Decimal, max_value: Decimal | None,
            last_key: tuple[int, int] | None, last: Decimal | None) -> None:
        self.count += count
        self.total += total
        if max_value is not None and (self.max is None or max_value > self.max):
            self.max = max_value
        if last_key is not None and (self.last_key is None or last_key > self.last_key):
            self.last_key, self.last = last_key, last

    def value(self, formula: str) -> Decimal | int:
        if formula == "count":
            return self.count
        if formula == "unique_count":
            return len(self.uniques)
        number = {"sum": self.total, "max": self.max, "last": self.last}[formula]
        return from_scaled(_scaled(number))


def _ranges(q: SummaryQuery) -> list[tuple[int, int, int]]:
    lo, hi = q.start // 60, q.end // 60
    if q.window is None:
        return decompose(lo, hi, LEVELS)
    return [(WINDOW_MINUTES[q.window], lo, hi)]


def _where(q: SummaryQuery, ranges: list[tuple[int, int, int]]) -> tuple[str, list[Any]]:
    parts, args = [], []
    for level, lo, hi in ranges:
        parts.append("(level = %s AND bucket >= %s AND bucket < %s)")
        args += [level, lo, hi]
    where = "meter_pk = %s" + (" AND customer_pk = %s" if q.customer_pk is not None else "")
    head: list[Any] = [q.meter.pk] + ([q.customer_pk] if q.customer_pk is not None else [])
    return f"{where} AND ({' OR '.join(parts)})", head + args


def summarize(raw: Any, q: SummaryQuery) -> list[Summary]:
    """Summaries ordered by window start, then group; empty windows kept when ungrouped.
    `raw` is a psycopg connection (store.postgres.PgConnection.raw)."""
    ranges = _ranges(q)
    if not ranges:
        return _empty(q)
    where, args = _where(q, ranges)
    formula = q.meter.formula
    cells: dict[tuple[int, int], _Acc] = {}
    if formula == "unique_count":
        rows = raw.execute(
            f"SELECT bucket, dims_pk, value FROM usage_uniques WHERE {where} AND refs > 0",
            args).fetchall()
        for bucket, dims_pk, value in rows:
            key = (_window_of(q, bucket), dims_pk)
            acc = cells.get(key) or cells.setdefault(key, _Acc())
            acc.uniques.add(value)
    else:
        rows = raw.execute(
            "SELECT bucket, dims_pk, count, total, max_value, last_ts, last_seq, last_value"
            f" FROM usage_rollups WHERE {where}", args).fetchall()
        for bucket, dims_pk, count, total, max_value, last_ts, last_seq, last in rows:
            key = (_window_of(q, bucket), dims_pk)
            acc = cells.get(key) or cells.setdefault(key, _Acc())
            acc.add(count, total, max_value,
                    None if last_ts is None else (last_ts, last_seq), last)
    names = _dimension_values(raw, q.meter, {dims_pk for _, dims_pk in cells})
    window_size = (q.end - q.start) if q.window is None else WINDOW_MINUTES[q.window] * 60
    groups: dict[tuple[int, tuple[str | None, ...]], tuple[dict[str, str | None] | None, _Acc]]
    groups = {}
    first_dims: dict[tuple[int, tuple[str | None, ...]], int] = {}
    for (window, dims_pk), acc in sorted(cells.items()):
        if formula not in ("unique_count",) and acc.count == 0:
            continue  # a cell emptied by cancellations
        if q.group_by:
            dims = {k: names[dims_pk].get(k) for k in q.group_by}
            label = tuple(dims.values())
        else:
            dims, label = None, ()
        entry = groups.get((window, label))
        if entry is None:
            entry = groups[(window, label)] = (dims, _Acc())
            first_dims[(window, label)] = dims_pk
        merged = entry[1]
        merged.add(acc.count, acc.total, acc.max, acc.last_key, acc.last)
        merged.uniques |= acc.uniques
    if not q.group_by:
        for start, _ in _windows(q):
            groups.setdefault((start, ()), (None, _Acc()))
    if q.group_by and q.group_by == q.meter.dimension_keys:  # as the embedded store: by
        order = sorted(groups, key=lambda g: (g[0], first_dims[g]))  # creation of the set
    else:
        order = sorted(groups, key=lambda g: (g[0], tuple(map(str, g[1]))))
    return [Summary(g[0], g[0] + window_size, groups[g][0], groups[g][1].value(formula))
            for g in order]


def _empty(q: SummaryQuery) -> list[Summary]:
    size = (q.end - q.start) if q.window is None else WINDOW_MINUTES[q.window] * 60
    if q.group_by:
        return []
    return [Summary(s, s + size, None, _Acc().value(q.meter.formula)) for s, _ in _windows(q)]


def _dimension_values(raw: Any, meter: Meter, dims_pks: set[int]
                      ) -> dict[int, dict[str, str | None]]:
    keys = meter.dimension_keys
    out: dict[int, dict[str, str | None]] = {0: dict.fromkeys(keys)}
    wanted = [pk for pk in dims_pks if pk]
    if wanted:
        for pk, dims in raw.execute(
                "SELECT dims_pk, dims FROM dimension_sets WHERE dims_pk = ANY(%s)", [wanted]):
            out[pk] = dict(zip(keys, json.loads(dims), strict=True))
    return out
