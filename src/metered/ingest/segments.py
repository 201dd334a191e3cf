"""Raw events, immutable, in segments: one row per writer step, its columns packed.

A segment holds the events one step of the group-commit writer accepted, with the consecutive
seqs first_seq .. first_seq + count - 1. It is written in the transaction that counts its events,
and never changed afterwards. Three packed columns, so that each reader touches only what it needs:

- `fps`: the dedupe fingerprints (int64, little-endian). With the seqs they are the durable
  seen-set; the in-memory SeenIndex is rebuilt from this column alone at start-up.
- `keys`: each event's meter and identifier: what confirming a suspected duplicate reads.
- `data`: customer, dimension set, event timestamp, value and payload (the JSON text of
  the object: as sent in a JSON batch, msgspec's encoding from the other paths).

One row per thousands of events, instead of a row (and index entries) per event, is what makes
durable ingest cheap: see docs/benchmarks.md.
"""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import msgspec
import numpy as np

SEGMENT_MAX_EVENTS = 16_384  # bounds what confirming one duplicate has to decode
_KEYS_CACHE = 64


class SegmentKeys(msgspec.Struct, array_like=True):
    meter_pk: list[int]
    identifier: list[str]


class SegmentData(msgspec.Struct, array_like=True):
    customer_pk: list[int]
    dims_pk: list[int]
    ts: list[int]
    value: list[str]
    payload: list[str]


_encode = msgspec.msgpack.Encoder().encode
_decode_keys = msgspec.msgpack.Decoder(SegmentKeys).decode
_decode_data = msgspec.msgpack.Decoder(SegmentData).decode


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    meter_pk: int
    customer_pk: int
    dims_pk: int
    ts: int
    identifier: str
    value: str
    payload: str
    ingested_ms: int


class SegmentBuilder:
    """The columns of one segment being built by the writer, in seq order."""

    __slots__ = ("first_seq", "fps", "meter_pk", "identifier", "customer_pk", "dims_pk", "ts",
                 "value", "payload")

    def __init__(self, first_seq: int):
        self.first_seq = first_seq
        self.fps: list[int] = []
        self.meter_pk: list[int] = []
        self.identifier: list[str] = []
        self.customer_pk: list[int] = []
        self.dims_pk: list[int] = []
        self.ts: list[int] = []
        self.value: list[str] = []
        self.payload: list[str] = []

    def __len__(self) -> int:
        return len(self.fps)

    def write(self, conn: sqlite3.Connection, ingested_ms: int) -> None:
        if not self.fps:
            return
        write_segment(
            conn, self.first_seq, ingested_ms, np.array(self.fps, dtype="<i8").tobytes(),
            SegmentKeys(self.meter_pk, self.identifier),
            SegmentData(self.customer_pk, self.dims_pk, self.ts, self.value, self.payload),
        )


def write_segment(conn: sqlite3.Connection, first_seq: int, ingested_ms: int, fps: bytes,
                  keys: SegmentKeys, data: SegmentData) -> None:
    """Store events first_seq .. first_seq + len(fps) / 8 - 1; `fps` as little-endian int64."""
    write_segment_blobs(conn, first_seq, ingested_ms, fps, _encode(keys), _encode(data))


def write_segment_blobs(conn: sqlite3.Connection, first_seq: int, ingested_ms: int, fps: bytes,
                        keys: bytes, data: bytes) -> None:
    """write_segment, with the columns already encoded (encode_keys, data_blob)."""
    conn.execute(
        "INSERT INTO event_segments (first_seq, count, ingested_ms, fps, keys, data)"
        " VALUES (?,?,?,?,?,?)",
        (first_seq, len(fps) // 8, ingested_ms, fps, keys, data),
    )


# A parse worker encodes what it knows of a segment; the writer only adds the dimension-set
# pks, which it alone assigns. SegmentData is a msgpack array of five values; an array is its
# header byte followed by its values' encodings, so the parts are joined as bytes.
_DATA_HEADER = b"\x95"  # fixarray of 5: customer_pk, dims_pk, ts, value, payload
_Rest = tuple[list[int], list[str], list[str]]
_decode_rest = msgspec.msgpack.Decoder(_Rest).decode
_decode_customers = msgspec.msgpack.Decoder(list[int]).decode


def encode_keys(meter_pk: list[int], identifier: list[str]) -> bytes:
    return _encode(SegmentKeys(meter_pk, identifier))


def encode_data_parts(customer_pk: list[int], ts: list[int], value: list[str],
                      payload: list[str]) -> tuple[bytes, bytes]:
    """(customers, rest): the parts of a SegmentData blob without its dims_pk column."""
    return _encode(customer_pk), _encode((ts, value, payload))


def data_blob(customers: bytes, dims_pk: list[int], rest: bytes) -> bytes:
    """The SegmentData blob of the parts encode_data_parts made, with the dims_pk column."""
    return b"".join((_DATA_HEADER, customers, _encode(dims_pk), rest[1:]))


def decode_keys(blob: bytes) -> SegmentKeys:
    return _decode_keys(blob)


def decode_customers(customers: bytes) -> list[int]:
    """The customer_pk column of encode_data_parts' `customers`."""
    return _decode_customers(customers)


def decode_rest(rest: bytes) -> _Rest:
    """(ts, value, payload) of encode_data_parts' `rest`."""
    return _decode_rest(rest)


def segment_holding(conn: sqlite3.Connection, seq: int) -> tuple[int, int] | None:
    """(first_seq, count) of the segment that holds `seq`, if any."""
    row = conn.execute(
        "SELECT first_seq, count FROM event_segments WHERE first_seq <= ?"
        " ORDER BY first_seq DESC LIMIT 1", (seq,),
    ).fetchone()
    if row is None or seq >= row[0] + row[1]:
        return None
    return int(row[0]), int(row[1])


class KeysCache:
    """Decoded `keys` columns of recently read segments (segments never change once written).

    Only committed segments may be read through it: the writer looks up seqs it found in the
    SeenIndex, which learns them after COMMIT, so a rolled-back segment is never cached.
    """

    def __init__(self, size: int = _KEYS_CACHE):
        self._size = size
        self._cache: OrderedDict[int, SegmentKeys] = OrderedDict()

    def key_of(self, conn: sqlite3.Connection, seq: int) -> tuple[int, str] | None:
        """(meter_pk, identifier) of the stored event `seq`, if it exists."""
        found = segment_holding(conn, seq)
        if found is None:
            return None
        first_seq, _ = found
        keys = self._cache.get(first_seq)
        if keys is None:
            row = conn.execute(
                "SELECT keys FROM event_segments WHERE first_seq=?", (first_seq,)
            ).fetchone()
            keys = self._cache[first_seq] = _decode_keys(row[0])
            if len(self._cache) > self._size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(first_seq)
        i = seq - first_seq
        return keys.meter_pk[i], keys.identifier[i]

    def clear(self) -> None:
        self._cache.clear()


def stored_event(conn: sqlite3.Connection, seq: int) -> StoredEvent | None:
    found = segment_holding(conn, seq)
    if found is None:
        return None
    row = conn.execute(
        "SELECT keys, data, ingested_ms FROM event_segments WHERE first_seq=?", (found[0],)
    ).fetchone()
    return _event_at(seq, found[0], _decode_keys(row[0]), _decode_data(row[1]), row[2])


def _event_at(seq: int, first_seq: int, keys: SegmentKeys, data: SegmentData,
              ingested_ms: int) -> StoredEvent:
    i = seq - first_seq
    return StoredEvent(seq, keys.meter_pk[i], data.customer_pk[i], data.dims_pk[i], data.ts[i],
                       keys.identifier[i], data.value[i], data.payload[i], ingested_ms)


def iter_events(conn: sqlite3.Connection, *, after_seq: int = 0,
                meter_pk: int | None = None) -> Iterator[StoredEvent]:
    """Every stored event with seq > after_seq (of one meter, if given), in seq order."""
    last = after_seq
    holding = segment_holding(conn, after_seq + 1)
    start = holding[0] if holding else after_seq + 1  # the primary key's range: no scan
    while True:
        rows = conn.execute(
            "SELECT first_seq, count, keys, data, ingested_ms FROM event_segments"
            " WHERE first_seq >= ? ORDER BY first_seq LIMIT 16", (start,),
        ).fetchall()
        if not rows:
            return
        for first_seq, count, raw_keys, raw_data, ingested_ms in rows:
            keys, data = _decode_keys(raw_keys), _decode_data(raw_data)
            for i in range(max(0, last + 1 - first_seq), count):
                if meter_pk is None or keys.meter_pk[i] == meter_pk:
                    yield _event_at(first_seq + i, first_seq, keys, data, ingested_ms)
            last = max(last, first_seq + count - 1)
        start = rows[-1][0] + 1


def fingerprints_since(conn: sqlite3.Connection, first: int, chunk: int = 256
                       ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(fingerprints, seqs) of every stored event with seq >= first, a few segments at a time."""
    holding = segment_holding(conn, first)
    cur = conn.execute(
        "SELECT first_seq, count, fps FROM event_segments WHERE first_seq >= ?"
        " ORDER BY first_seq", (holding[0] if holding else first,),
    )
    while rows := cur.fetchmany(chunk):
        fps = np.concatenate([np.frombuffer(r[2], dtype="<i8") for r in rows]).astype(np.int64)
        seqs = np.concatenate([np.arange(r[0], r[0] + r[1], dtype=np.int64) for r in rows])
        if seqs[0] < first:  # the first segment straddles `first`
            keep = seqs >= first
            fps, seqs = fps[keep], seqs[keep]
        yield fps, seqs


def max_seq(conn: sqlite3.Connection) -> int:
    row = conn.execute(
        "SELECT first_seq + count - 1 FROM event_segments ORDER BY first_seq DESC LIMIT 1"
    ).fetchone()
    return int(row[0]) if row else 0


def seq_ingested_since(conn: sqlite3.Connection, ms: int) -> int:
    """The first seq ingested at or after `ms` (segments are written in seq and time order)."""
    row = conn.execute(
        "SELECT MIN(first_seq) FROM event_segments WHERE ingested_ms >= ?", (ms,)
    ).fetchone()
    if row[0] is not None:
        return int(row[0])
    return max_seq(conn) + 1
