"""The in-memory dedupe index: every committed id is found again, across merges and collisions."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from metered.ingest import seen_index
from metered.ingest.seen_index import SeenIndex


def test_finds_every_id_across_merges(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(seen_index, "RECENT_LIMIT", 64)
    rng = random.Random(1)
    index = SeenIndex()
    fps = [rng.getrandbits(63) for _ in range(5000)]
    for start in range(0, len(fps), 37):
        index.add([(fp, seq) for seq, fp in enumerate(fps[start : start + 37], start=start)])
    assert len(index) == 5000
    assert 1 <= len(index._runs) <= 8  # noqa: SLF001 - 78 flushes merged into log2(78) runs
    found = index.candidates(fps)
    assert all(found[i] == [i] for i in range(len(fps)))
    assert index.candidates([rng.getrandbits(63) for _ in range(100)]) == {}


def test_fingerprint_collisions_keep_every_seq() -> None:
    index = SeenIndex()
    index.add([(42, 1), (42, 2)])
    index.load(np.array([42, 7], dtype=np.int64), np.array([3, 4], dtype=np.int64))
    assert sorted(index.candidates([42])[0]) == [1, 2, 3]


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(1, 10**6)),
                max_size=300), st.integers(0, 10**6))
def test_expiry_keeps_exactly_the_window(items: list[tuple[int, int]], cutoff: int) -> None:
    seen_index.RECENT_LIMIT, old = 16, seen_index.RECENT_LIMIT
    try:
        index = SeenIndex()
        index.add(items)
        index.expire_before(cutoff)
        kept = [(fp, seq) for fp, seq in items if seq >= cutoff]
        assert len(index) == len(kept)
        found = index.candidates([fp for fp, _ in kept])
        for i, (_fp, seq) in enumerate(kept):
            assert seq in found[i]
    finally:
        seen_index.RECENT_LIMIT = old
