"""Raw event segments: every reader finds exactly the events it asks for, by seq."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from metered.ingest.segments import (
    KeysCache,
    SegmentBuilder,
    fingerprints_since,
    iter_events,
    max_seq,
    seq_ingested_since,
    stored_event,
)
from metered.store import open_database

SIZES = (3, 5, 1, 4)  # four segments: seqs 1-3, 4-8, 9, 10-13
LAST = sum(SIZES)


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    db = open_database(tmp_path)
    conn = db.writer_connection()
    seq = 1
    for number, size in enumerate(SIZES):
        segment = SegmentBuilder(seq)
        for s in range(seq, seq + size):
            segment.fps.append(-s)
            segment.meter_pk.append(1 + s % 2)
            segment.identifier.append(f"e{s}")
            segment.customer_pk.append(7)
            segment.dims_pk.append(0)
            segment.ts.append(1_000 + s)
            segment.value.append(str(s))
            segment.payload.append(f'{{"n":{s}}}')
        segment.write(conn, ingested_ms=number * 1_000)
        seq += size
    yield conn
    conn.close()
    db.close()


def test_iter_events_from_any_seq(conn: sqlite3.Connection) -> None:
    for after in range(LAST + 2):
        assert [e.seq for e in iter_events(conn, after_seq=after)] == list(
            range(after + 1, LAST + 1))
        assert [e.seq for e in iter_events(conn, after_seq=after, meter_pk=2)] == [
            s for s in range(after + 1, LAST + 1) if s % 2 == 1]


def test_fingerprints_from_any_seq(conn: sqlite3.Connection) -> None:
    for first in range(1, LAST + 2):
        pairs = [(int(f), int(s)) for fps, seqs in fingerprints_since(conn, first, chunk=2)
                 for f, s in zip(fps, seqs, strict=True)]
        assert pairs == [(-s, s) for s in range(first, LAST + 1)]


def test_point_reads(conn: sqlite3.Connection) -> None:
    assert max_seq(conn) == LAST
    event = stored_event(conn, 6)
    assert event is not None
    assert (event.meter_pk, event.identifier, event.ts, event.value, event.payload) == (
        1, "e6", 1_006, "6", '{"n":6}')
    assert stored_event(conn, LAST + 1) is None
    cache = KeysCache(size=2)
    for _ in range(2):
        assert [cache.key_of(conn, s) for s in (1, 9, 13, 14)] == [
            (2, "e1"), (2, "e9"), (2, "e13"), None]
    assert seq_ingested_since(conn, 1_000) == 4  # the second segment was ingested at 1,000 ms
    assert seq_ingested_since(conn, 10_000) == LAST + 1
