"""Packs (metering.packs): merging deltas, dropping empty cells, sums beyond int64, grouping."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metered.clock import now_seconds
from metered.engine import Engine
from metered.metering import cells, packs, summaries
from metered.metering.cells import merge
from metered.metering.quantity import LO_BITS, LO_MASK, SCALE
from metered.metering.rollups import PACK_LEVELS
from metered.metering.summaries import SummaryQuery, summarize
from metered.store import open_database
from metered.store.schema import SCHEMA_VERSION

from engine_harness import Harness, pack_rows


def _conn(tmp_path: Path) -> sqlite3.Connection:
    open_database(tmp_path, cache_mb=16)
    return sqlite3.connect(tmp_path / "metered.sqlite3", isolation_level=None)


def _block(rows: list[tuple[int, int, int, int, int, int, int]]) -> np.ndarray:
    """(meter, customer, level, bucket, dims, count, scaled sum) rows as a merged delta block."""
    return merge([np.array([(*r[:6], r[6] >> LO_BITS, r[6] & LO_MASK) for r in rows],
                           dtype=np.int64).reshape(-1, 8)])


def _model_events(meter, customer, n: int, seconds_apart: int,  # type: ignore[no-untyped-def]
                  value: str | None = None) -> list[dict[str, object]]:
    """n events of `customer`, e0 .. e{n-1}, going back in time, models "a" and "b" in turn."""
    now = now_seconds()
    events = []
    for i in range(n):
        payload = {"stripe_customer_id": customer.id, "model": "ab"[i % 2]}
        if value is not None:
            payload["value"] = value
        events.append({"event_name": meter.event_name, "identifier": f"e{i}",
                       "timestamp": now - 60 - i * seconds_apart, "payload": payload})
    return events


def _restarted(tmp_path: Path, *statements: str) -> Engine:
    """The store after `statements` (run on the file, no engine open), opened again."""
    conn = sqlite3.connect(tmp_path / "metered.sqlite3", isolation_level=None)
    for statement in statements:
        conn.execute(statement)
    conn.close()
    engine = Engine.open(tmp_path, cache_mb=16)
    engine.start()
    return engine


def test_deltas_merge_and_empty_cells_and_packs_disappear(tmp_path: Path) -> None:
    conn = _conn(tmp_path)
    packs.add(conn, _block([(1, 1, 1, 60, 5, 2, 30), (1, 1, 1, 60, 7, 1, 4),
                            (1, 2, 1, 60, 5, 1, 1)]))
    packs.add(conn, _block([(1, 1, 1, 60, 5, 1, 10), (1, 1, 1, 60, 9, 1, 1)]))
    assert pack_rows(conn) == [
        (1, 1, 1, 60, [(5, [3, 40]), (7, [1, 4]), (9, [1, 1])]),
        (1, 2, 1, 60, [(5, [1, 1])]),
    ]
    # A cancellation's negative delta: the cell goes, then the pack.
    packs.add(conn, _block([(1, 1, 1, 60, 7, -1, -4), (1, 2, 1, 60, 5, -1, -1)]))
    assert pack_rows(conn) == [(1, 1, 1, 60, [(5, [3, 40]), (9, [1, 1])])]
    # Negative counts may exist for a while (the event's own delta still pending).
    packs.add(conn, _block([(1, 3, 0, 61, 2, -1, -5)]))
    packs.add(conn, _block([(1, 3, 0, 61, 2, 1, 5)]))
    assert [r[:2] for r in pack_rows(conn)] == [(1, 1)]


def test_sums_beyond_int64_keep_exact_in_the_wide_form(tmp_path: Path) -> None:
    conn = _conn(tmp_path)
    huge = 999_999_999_999_999 * SCALE  # the largest value an event may carry, scaled
    for _ in range(3):
        packs.add_totals(conn, {(1, 1, 3, 0): {4: [9_000, 9_000 * huge]}})
    blob = conn.execute("SELECT cells FROM rollup_packs").fetchone()[0]
    assert blob.startswith(packs.WIDE)
    assert pack_rows(conn) == [(1, 1, 3, 0, [(4, [27_000, 27_000 * huge])])]
    # A numpy-sized delta into a wide pack takes the Python path and stays exact.
    packs.add(conn, _block([(1, 1, 3, 0, 4, 1, 7)]))
    assert pack_rows(conn) == [(1, 1, 3, 0, [(4, [27_001, 27_000 * huge + 7])])]
    packs.add_totals(conn, {(1, 1, 3, 0): {4: [-27_000, -27_000 * huge]}})
    blob = conn.execute("SELECT cells FROM rollup_packs").fetchone()[0]
    assert blob.startswith(packs.NARROW)  # narrow again once it fits
    assert pack_rows(conn) == [(1, 1, 3, 0, [(4, [1, 7])])]


def test_a_summary_over_wide_packs_is_exact(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    try:
        customer = h.customer()
        meter = h.meter("sum", ("model",))
        now = now_seconds()
        events = _model_events(meter, customer, 40_000, 0, value="999999999999999")
        for start in range(0, len(events), 10_000):
            h.submit_all([("batch", events[start : start + 10_000])])
        h.run(h.engine.writer.applier.flush_packs)
        wide = h.engine.reader().execute(
            "SELECT COUNT(*) FROM rollup_packs WHERE substr(cells, 1, 1) = X'57'").fetchone()[0]
        assert wide > 0
        day = now // 86_400 * 86_400
        q = SummaryQuery(meter=meter, customer_pk=customer.pk, start=day - 86_400,
                         end=day + 86_400, group_by=("model",))
        got = {s.dimensions["model"]: s.value for s in summarize(  # type: ignore[index]
            h.engine.reader(), q, h.engine.writer.applier.unflushed)}
        assert got == {"a": 20_000 * 999_999_999_999_999, "b": 20_000 * 999_999_999_999_999}
    finally:
        h.close()


groups = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 30), st.integers(-3, 50),
                            st.integers(-(1 << 20), 1 << 20), st.integers(0, LO_MASK)),
                  max_size=60)


@settings(max_examples=150, deadline=None)
@given(rows=groups)
def test_grouped_sums_agree_whatever_path(rows: list[tuple[int, int, int, int, int]]) -> None:
    expected: dict[tuple[int, int], list[int]] = {}
    for w, d, c, hi, lo in rows:
        cell = expected.setdefault((w, d), [0, 0])
        cell[0] += c
        cell[1] += (hi << LO_BITS) + lo
    expected = {k: v for k, v in expected.items() if v != [0, 0]}
    cols = [np.array([r[i] for r in rows], dtype=np.int64) for i in range(5)]

    def as_dict(sums: summaries.Sums) -> dict[tuple[int, int], list[int]]:
        keys = list(zip(sums[0], sums[1], strict=True))
        assert keys == sorted(keys), "not in key order"
        return {(w, d): [c, t] for w, d, c, t in zip(*sums, strict=True)}

    dense = as_dict(summaries._group_sums(*cols))
    saved = summaries._DENSE_MAX
    summaries._DENSE_MAX = 0  # the sorting path
    try:
        sorted_ = as_dict(summaries._group_sums(*cols))
    finally:
        summaries._DENSE_MAX = saved
    big = [c.copy() for c in cols]
    if rows:
        big[3][0] = 1 << 61  # forces the Python path
    python = as_dict(summaries._group_sums(*big))
    if rows:
        w, d = rows[0][0], rows[0][1]
        python[(w, d)][1] -= ((1 << 61) - rows[0][3]) << LO_BITS
        if python[(w, d)] == [0, 0]:
            del python[(w, d)]
    assert {k: v for k, v in dense.items() if v != [0, 0]} == expected
    assert {k: v for k, v in sorted_.items() if v != [0, 0]} == expected
    assert {k: v for k, v in python.items() if v != [0, 0]} == expected


def test_a_version_2_store_is_upgraded_at_start_up(tmp_path: Path) -> None:
    """Schema version 2 kept count and sum cells as rows of a `rollups` table: at start-up every
    meter's rollups are rebuilt into packs from the raw events, and the table goes."""
    h = Harness(tmp_path)
    try:
        customer = h.customer()
        meter = h.meter("sum", ("model",))
        events = _model_events(meter, customer, 48, 3_600)
        for i, event in enumerate(events):
            event["payload"]["value"] = str(i)  # type: ignore[index]
        h.submit_all([("batch", events)])
        h.submit_all([("cancel", (meter.event_name, "e5"))])
        h.run(h.engine.writer.applier.flush_packs)
        before = pack_rows(h.engine.reader())
    finally:
        h.close()
    engine = _restarted(
        tmp_path, "DELETE FROM rollup_packs",
        "CREATE TABLE rollups (meter_pk, customer_pk, level, bucket, dims_pk, count, sum_hi,"
        " sum_lo, PRIMARY KEY (meter_pk, customer_pk, level, bucket, dims_pk))",
        "PRAGMA user_version=2",
    )
    try:
        conn = engine.reader()
        assert pack_rows(conn) == before
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "rollups" not in tables
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        engine.stop()


sums = st.one_of(st.integers(-50, 50), st.sampled_from([1 << 101, -(1 << 101), 1 << 100]))
deltas = st.lists(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 3), st.integers(1, 4),
                                     st.integers(-2, 3), sums),
                           min_size=1, max_size=8), min_size=1, max_size=8)


def _python_cache(max_cells: int) -> packs.PackCache:
    """The cache without the native extension: decoded packs, merged with numpy."""
    cache = packs.PackCache(max_cells=max_cells)
    cache.native = None
    return cache


def test_the_native_extension_keeps_the_writer_packs() -> None:
    assert packs.PackCache().native is not None  # `make install-test` builds it


@settings(max_examples=80, deadline=None)
@given(steps=deltas, rollback=st.sets(st.integers(0, 7)))
def test_the_writer_cache_never_changes_a_result(tmp_path_factory, steps, rollback) -> None:  # type: ignore[no-untyped-def]
    """The same deltas, some in rolled-back transactions, through a tiny cache (native, then
    Python) and through none; sums past int64 take the wide form on every path."""
    results = []
    for cache in (packs.PackCache(max_cells=3), _python_cache(3), None):
        conn = _conn(tmp_path_factory.mktemp("packs"))
        for i, step in enumerate(steps):
            conn.execute("BEGIN")
            packs.add(conn, _block([(1, c, 0, b, d, n, v) for c, b, d, n, v in step]), cache)
            if i in rollback:
                conn.execute("ROLLBACK")
                if cache is not None:
                    cache.clear()  # what EventApplier.rolled_back does
            else:
                conn.execute("COMMIT")
        results.append(pack_rows(conn))
        conn.close()
    assert results[0] == results[1] == results[2]


def test_packs_without_the_finer_levels_are_rebuilt_at_start_up(tmp_path: Path) -> None:
    """Stores of schema version 3 made before the 10-minute and 6-hour pack levels."""
    h = Harness(tmp_path)
    try:
        customer = h.customer()
        meter = h.meter("count", ("model",))
        h.submit_all([("batch", _model_events(meter, customer, 60, 700))])
        h.run(h.engine.writer.applier.flush_packs)
        before = pack_rows(h.engine.reader())
        assert {row[2] for row in before} == {0, 1, 2, 3, 4, 5}
    finally:
        h.close()
    engine = _restarted(tmp_path, "DELETE FROM rollup_packs WHERE level IN (4, 5)",
                        "DELETE FROM engine_state WHERE key='pack_layout'")
    try:
        assert pack_rows(engine.reader()) == before
    finally:
        engine.stop()


@pytest.mark.parametrize("make", [packs.PackCache, _python_cache])
def test_the_writer_cache_counts_what_it_holds(make) -> None:  # type: ignore[no-untyped-def]
    cache = make(max_cells=10)
    cells = np.zeros((4, 4), dtype=np.int64)
    for _ in range(100):  # rewriting the same packs never fills it
        cache.put((1, 1, 0, 0), packs.Pack(cells))
        cache.put((1, 2, 0, 0), packs.Pack(cells))
    assert cache.get((1, 1, 0, 0)) is not False and cache.get((1, 2, 0, 0)) is not False
    cache.put((1, 3, 0, 0), packs.Pack(cells))
    cache.put((1, 4, 0, 0), None)  # over the bound: it starts again
    assert cache.get((1, 1, 0, 0)) is False and cache.get((1, 4, 0, 0)) is None


minute_rows = st.lists(st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(0, 6000),
                                 st.integers(1, 3), st.integers(-3, 3),
                                 st.integers(-(10**16), 10**16)), max_size=40)


@settings(max_examples=150, deadline=None)
@given(blocks=st.lists(minute_rows, max_size=5))
def test_the_native_rollup_of_pending_minutes_is_numpy_s(blocks) -> None:  # type: ignore[no-untyped-def]
    """What a flush writes, every level: the native pass against numpy's; and the native pass
    at the coarser levels alone against numpy's."""
    pending = [_block([(m, c, 0, minute, d, n, v) for m, c, minute, d, n, v in rows])
               for rows in blocks if rows]
    native = cells.pending_rollup(pending)
    if not pending:
        assert len(native) == 0
        return
    assert cells.metered_native is not None
    expected = merge([cells.level_block(merge(pending), PACK_LEVELS)])
    assert native.tolist() == expected.tolist()
    coarse = np.frombuffer(cells.metered_native.rollup(pending, list(PACK_LEVELS[1:])),
                           dtype="<i8").reshape(-1, 8)
    expected = merge([cells.level_block(merge(pending), PACK_LEVELS[1:])])
    assert coarse.tolist() == expected.tolist()


event_rows = st.lists(st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(0, 50),
                                st.integers(0, 2), st.integers(0, 3),
                                st.integers(-(10**6), 10**6), st.integers(0, LO_MASK)),
                      max_size=cells.SMALL_ROWS - 1)


@settings(max_examples=150, deadline=None)
@given(rows=event_rows)
def test_a_few_rows_group_as_numpy_groups_many(rows) -> None:  # type: ignore[no-untyped-def]
    """minute_block_of_rows's small path (Python) against minute_block (numpy)."""
    small = cells.minute_block_of_rows(rows)
    a = np.array(rows, dtype=np.int64).reshape(-1, 7)
    expected = cells.minute_block(*(a[:, i] for i in range(7)))
    assert small.dtype == expected.dtype and small.shape == expected.shape
    assert small.tolist() == expected.tolist()
