"""The in-memory dedupe index: every committed id is found again, across merges and collisions."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metered.ingest import seen_index
from metered.ingest.seen_index import SeenIndex


def _add(index: SeenIndex, items: list[tuple[int, int]]) -> None:
    index.add(np.array([fp for fp, _ in items], dtype=np.int64),
              np.array([seq for _, seq in items], dtype=np.int64))


def test_finds_every_id_across_merges() -> None:
    rng = random.Random(1)
    index = SeenIndex()
    fps = [rng.getrandbits(63) for _ in range(5000)]
    for start in range(0, len(fps), 37):
        size = 37 - start % 29  # commits of varying sizes
        _add(index, [(fp, seq) for seq, fp in enumerate(fps[start : start + size], start=start)])
        # Geometric runs: each at least twice the next, so at most log2(ids) + 1 of them.
        runs = [len(r) for r in index._runs]  # noqa: SLF001
        assert all(a > 2 * b for a, b in zip(runs, runs[1:], strict=False)), runs
    assert len(index) == sum(min(37 - s % 29, 5000 - s) for s in range(0, 5000, 37))
    assert 1 <= len(index._runs) <= 13  # noqa: SLF001
    added = [i for s in range(0, 5000, 37) for i in range(s, min(s + 37 - s % 29, 5000))]
    found = index.candidates([fps[i] for i in added])
    assert all(found[n] == [i] for n, i in enumerate(added))
    assert index.candidates([rng.getrandbits(63) for _ in range(100)]) == {}


def test_fingerprint_collisions_keep_every_seq() -> None:
    index = SeenIndex()
    _add(index, [(42, 1), (42, 2)])
    index.add(np.array([42, 7], dtype=np.int64), np.array([3, 4], dtype=np.int64))
    assert sorted(index.candidates([42])[0]) == [1, 2, 3]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(1, 10**6)),
                max_size=300), st.integers(0, 10**6))
def test_expiry_keeps_exactly_the_window(items: list[tuple[int, int]], cutoff: int) -> None:
    index = SeenIndex()
    for start in range(0, len(items), 16):  # several commits, several runs
        _add(index, items[start : start + 16])
    index.expire_before(cutoff)
    kept = [(fp, seq) for fp, seq in items if seq >= cutoff]
    assert len(index) == len(kept)
    found = index.candidates([fp for fp, _ in kept])
    for i, (_fp, seq) in enumerate(kept):
        assert seq in found[i]


runs = st.lists(st.tuples(st.integers(-5, 5), st.integers(0, 30)), max_size=30)


@settings(max_examples=200, deadline=None)
@given(a=runs, b=runs, min_seq=st.integers(0, 12))
def test_the_native_merge_is_numpy_s(a: list[tuple[int, int]], b: list[tuple[int, int]],
                                     min_seq: int) -> None:
    assert seen_index.metered_native is not None  # `make install-test` builds it
    ra, rb = (seen_index._sorted_run(np.array([f for f, _ in r], dtype=np.int64),
                                     np.array([s for _, s in r], dtype=np.int64), 0)
              for r in (a, b))
    native = seen_index._merge(ra, rb, min_seq)
    module, seen_index.metered_native = seen_index.metered_native, None
    try:
        python = seen_index._merge(ra, rb, min_seq)
    finally:
        seen_index.metered_native = module
    assert native.fps.tolist() == python.fps.tolist()
    assert native.seqs.tolist() == python.seqs.tolist()


@settings(max_examples=100, deadline=None)
@given(items=st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(1, 50)),
                      max_size=40),
       probes=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=10), reuse=st.booleans())
def test_any_known_agrees_with_candidates(items: list[tuple[int, int]], probes: list[int],
                                          reuse: bool) -> None:
    index = SeenIndex()
    for start in range(0, len(items), 7):  # several runs
        _add(index, items[start : start + 7])
    if reuse and items:
        probes = probes + [items[len(items) // 2][0]]
    fps = np.array(probes, dtype=np.int64)
    assert index.any_known(fps) == bool(index.candidates(probes))


@settings(max_examples=50, deadline=None)
@given(marked=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=60),
       probes=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=60))
def test_the_native_filter_is_numpy_s(marked: list[int], probes: list[int]) -> None:
    assert seen_index.metered_native is not None  # `make install-test` builds it
    fps, others = (np.array(v, dtype=np.int64) for v in (marked, probes))
    native = SeenIndex()
    native._mark(fps)
    module, seen_index.metered_native = seen_index.metered_native, None
    try:
        python = SeenIndex()
        python._mark(fps)
        expected = python._maybe(others).tolist(), python._maybe(fps).tolist()
    finally:
        seen_index.metered_native = module
    assert np.array_equal(native._bits, python._bits)
    assert (native._maybe(others).tolist(), native._maybe(fps).tolist()) == expected
    assert all(expected[1])  # every marked fingerprint may be in the index


def test_the_compactor_thread_merges_big_runs_while_ids_come_and_expire(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Merges above MAX_INLINE_MERGE happen on the index's thread, concurrently with adds and
    expiry: every id inside the window is found with its seq, none outside it, and the runs
    stay few."""
    monkeypatch.setattr(seen_index, "MAX_INLINE_MERGE", 64)
    monkeypatch.setattr(seen_index, "MAX_MERGED", 4096)
    rng = random.Random(7)
    index = SeenIndex()
    index.start_compacting()
    try:
        fps = [rng.getrandbits(63) for _ in range(20_000)]
        for start in range(0, len(fps), 25):
            _add(index, [(fp, seq) for seq, fp in enumerate(fps[start : start + 25], start=start)])
            if start % 2_500 == 0:
                index.expire_before(start // 8)  # below 3,000 throughout
        index.expire_before(3_000)
        assert index.wait_compacted()
        runs = [len(r) for r in index._runs]  # noqa: SLF001
        assert sum(runs) == len(fps) - 3_000 and len(runs) <= 40, runs
        assert all(n <= 4096 for n in runs)
        found = index.candidates(fps)
        assert all(found.get(i) == [i] for i in range(3_000, len(fps)))
        assert not any(i in found for i in range(3_000))
    finally:
        index.stop_compacting()
    assert index._compactor is not None and not index._compactor.is_alive()  # noqa: SLF001
