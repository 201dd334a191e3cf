"""Raw event segments: every reader finds exactly the events it asks for, by seq."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from metered.ingest.segments import (
    KeysCache,
    SegmentBuilder,
    SegmentData,
    SegmentKeys,
    data_blob,
    decode_customers,
    decode_keys,
    decode_rest,
    encode_data_parts,
    encode_keys,
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


@given(rows=st.lists(st.tuples(st.integers(1, 10**6), st.integers(0, 10**6),
                               st.integers(-(2**63), 2**63 - 1), st.text(max_size=5),
                               st.text(max_size=30)), max_size=40))
def test_segment_parts_joined_are_the_segment_encoding(rows: list[tuple[Any, ...]]) -> None:
    """A parse worker encodes a segment's columns but dims_pk; the joined bytes must be exactly
    what encoding the whole SegmentData gives (the stored format does not depend on the path)."""
    columns = [[row[i] for row in rows] for i in range(5)]
    customer_pk, dims_pk, ts, value, payload = columns
    customers, rest = encode_data_parts(customer_pk, ts, value, payload)
    whole = msgspec.msgpack.encode(SegmentData(customer_pk, dims_pk, ts, value, payload))
    assert data_blob(customers, dims_pk, rest) == whole
    assert decode_rest(rest) == (ts, value, payload)
    assert decode_customers(customers) == customer_pk
    identifiers = [str(i) for i in range(len(rows))]
    assert decode_keys(encode_keys(customer_pk, identifiers)) == SegmentKeys(customer_pk,
                                                                             identifiers)
