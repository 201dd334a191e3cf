"""Large batches are decoded and validated in worker processes, off the server's GIL.

Decoding JSON, checking every event against its meter and hashing its dedupe key is most of the
Python work per event. In one process it competes for the GIL with the group-commit writer; a
parse worker does it on another core and hands back compact columns. The answers are the same
as in-process validation (ingest.batches), which still serves small requests (lower latency)
and takes over if a worker dies.

A worker reads meters and customers from the store (read-only) and caches them. The server
bumps a generation when a meter changes or a customer is deleted, and sends it with every
task: a worker that sees a new generation drops its caches, so it never validates against a
state older than the server's at the time of the request.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from metered.accounts import Caller
from metered.billing.customers import CustomerDirectory
from metered.errors import MeteredError
from metered.ingest.batches import NDJSON_TYPES, decode_batch, validate_events
from metered.ingest.events import EventResult, ValidatedEvent, WireResult
from metered.ingest.native_batch import NativeColumns, native_columns
from metered.ingest.parse_channel import ParseChannel, WorkerGone
from metered.ingest.segments import (
    decode_customers,
    decode_keys,
    decode_rest,
    encode_data_parts,
    encode_keys,
)
from metered.ingest.validation import IngestContext
from metered.ingest.wire_batch import Columns, decode_columns
from metered.metering.cells import SAFE_HI, hi_bound, minute_block
from metered.metering.meters import Meter, MeterRegistry, load_all_meters
from metered.metering.quantity import LO_BITS

log = logging.getLogger("metered.parse")
MIN_POOL_BYTES = 16_384  # smaller bodies are validated in-process: a round trip costs ~0.2 ms


class ParsedBatch(msgspec.Struct, array_like=True):
    """A worker's answer: a whole-request error, or the rejections and the valid events as
    columns (integer columns as little-endian int64 arrays), ready for the columnar writer."""

    error: tuple[str, str | None, str | None] | None = None  # message, code, param
    total: int = 0
    positions: list[int] = []
    rejected: list[tuple[int, str | None, str | None, str | None, str | None]] = []
    keys: list[bytes] = []
    dims_idx: bytes = b""  # index into dims_table
    dims_table: list[tuple[int, str]] = []  # (meter_pk, canonical dimension values)
    scaled_hi: bytes = b""  # value * 10**12 = hi * 2**40 + lo
    scaled_lo: bytes = b""
    # The segment's columns, encoded (ingest.segments; the writer adds the dims_pk column).
    seg_keys: bytes = b""
    seg_customers: bytes = b""
    seg_rest: bytes = b""
    # The events' minute cells (metering.cells), grouped, with dims_idx where dims_pk goes;
    # empty if int64 sums could overflow (the writer then takes its general path).
    cells: bytes = b""
    answer: bytes = b""  # the batch answer for when every valid event is accepted

    def column(self, name: str) -> np.ndarray:
        return np.frombuffer(getattr(self, name), dtype="<i8")

    def minute_cells(self) -> np.ndarray:
        return np.frombuffer(self.cells, dtype="<i8").reshape(-1, 8)

    def fingerprints(self) -> np.ndarray:
        """SeenIndex fingerprints: each key's first 8 bytes as a signed little-endian int."""
        return np.frombuffer(b"".join(self.keys), dtype="<i8")[::2]


_encode = msgspec.msgpack.Encoder().encode
_encode_json = msgspec.json.Encoder().encode
_decode = msgspec.msgpack.Decoder(ParsedBatch).decode


# --- in the worker process ---------------------------------------------------------------

class _WorkerState:
    def __init__(self, db_path: str):
        self.conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA busy_timeout=30000")
        self.generation = -1
        self.ctx: IngestContext | None = None

    def context(self, generation: int) -> IngestContext:
        if self.ctx is None or generation != self.generation:
            self.ctx = IngestContext(MeterRegistry(load_all_meters(self.conn)),
                                     CustomerDirectory(), self.conn)
            self.generation = generation
        return self.ctx


_state: _WorkerState | None = None


def init_worker(db_path: str) -> None:
    """In a worker process (ingest.parse_channel), before its first task."""
    global _state
    _state = _WorkerState(db_path)


def parse_in_worker(body: bytes, content_type: str, account_pk: int, livemode: bool, now: int,
                    generation: int, request_id: str) -> bytes:
    assert _state is not None, "parse worker not initialised"
    return _encode(parse_to_columns(body, content_type, Caller(account_pk, livemode), now,
                                    _state.context(generation), request_id))


def parse_to_columns(body: bytes, content_type: str, caller: Caller, now: int,
                     ctx: IngestContext, request_id: str) -> ParsedBatch:
    columns = None
    if content_type not in NDJSON_TYPES:
        native = native_columns(body, caller, ctx, now)
        if native is not None:
            return _from_native(native)
        columns = decode_columns(body, caller, ctx, now, request_id)
    if columns is None:
        try:
            raw_events = decode_batch(body, content_type)
        except MeteredError as exc:
            return ParsedBatch(error=(exc.message, exc.code, exc.param))
        columns = Columns.of(*validate_events(raw_events, caller, ctx, now, request_id))
    results = columns.results
    meter_pk, customer_pk, ts, dims_idx, hi, lo = (
        np.array(c, dtype=np.int64) for c in (columns.meter_pk, columns.customer_pk, columns.ts,
                                              columns.dims_idx, columns.scaled_hi,
                                              columns.scaled_lo))
    cells = _minute_cells(meter_pk, customer_pk, ts, dims_idx, hi, lo)
    seg_customers, seg_rest = encode_data_parts(columns.customer_pk, columns.ts, columns.value,
                                                columns.payload)
    return ParsedBatch(
        total=len(results),
        positions=columns.positions,
        rejected=[(i, r.identifier, r.code, r.message, r.param)
                  for i, r in enumerate(results) if r is not None],
        keys=columns.keys,
        dims_idx=dims_idx.tobytes(),
        dims_table=list(columns.dims_table),
        scaled_hi=hi.tobytes(),
        scaled_lo=lo.tobytes(),
        seg_keys=encode_keys(columns.meter_pk, columns.identifier),
        seg_customers=seg_customers,
        seg_rest=seg_rest,
        cells=cells,
        answer=_encode_json(accepted_answer(results, columns.positions, columns.identifier)),
    )


def _minute_cells(meter_pk: np.ndarray, customer_pk: np.ndarray, ts: np.ndarray,
                  dims_idx: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> bytes:
    """The events' minute cells, grouped (dims_idx where the writer puts dims_pk); empty when
    int64 sums could overflow (the writer then takes its general path)."""
    if not len(hi) or hi_bound(hi) >= SAFE_HI:
        return b""
    return minute_block(meter_pk, customer_pk, ts // 60, dims_idx,
                        np.ones(len(hi), dtype=np.int64), hi, lo).tobytes()


def _from_native(native: NativeColumns) -> ParsedBatch:
    cells = _minute_cells(*(np.frombuffer(c, "<i8") for c in (
        native.meter_pk, native.customer_pk, native.ts, native.dims_idx, native.scaled_hi,
        native.scaled_lo)))
    return ParsedBatch(
        total=len(native.keys), positions=list(range(len(native.keys))), keys=native.keys,
        dims_idx=native.dims_idx, dims_table=native.dims_table, scaled_hi=native.scaled_hi,
        scaled_lo=native.scaled_lo, seg_keys=native.seg_keys, seg_customers=native.seg_customers,
        seg_rest=native.seg_rest, cells=cells, answer=native.answer,
    )


def accepted_answer(results: list[EventResult | None], positions: list[int],
                    identifiers: list[str]) -> dict[str, Any]:
    """batch_body for when every valid event is accepted, without an EventResult per event."""
    wire: list[Any] = [None] * len(results)
    for position, identifier in zip(positions, identifiers, strict=True):
        wire[position] = WireResult(position, identifier, "accepted")
    for i, result in enumerate(results):
        if result is not None:
            wire[i] = result.to_wire(i)
    rejected = len(results) - len(positions)
    return {"object": "metered.event_batch", "accepted": len(positions), "duplicate": 0,
            "rejected": rejected, "results": wire}


# --- in the server -----------------------------------------------------------------------

def meters_of(parsed: ParsedBatch, meters: MeterRegistry) -> dict[int, Meter] | None:
    """The batch's meters by pk, as the server knows them now; None if one is gone or inactive
    (it changed after the worker validated: validate again in-process)."""
    by_pk: dict[int, Meter] = {}
    for pk, _ in parsed.dims_table:
        if pk not in by_pk:
            meter = meters.by_pk(pk)
            if meter is None or not meter.active:
                return None
            by_pk[pk] = meter
    return by_pk


def events_of(parsed: ParsedBatch, by_pk: dict[int, Meter]) -> list[ValidatedEvent]:
    """The valid events as objects again (for the writer's general path)."""
    if not parsed.keys:
        return []
    dims = [parsed.dims_table[i][1] for i in parsed.column("dims_idx").tolist()]
    keys = decode_keys(parsed.seg_keys)
    customers = decode_customers(parsed.seg_customers)
    ts_column, values, payloads = decode_rest(parsed.seg_rest)
    return [
        ValidatedEvent(key, by_pk[meter_pk], customer_pk, dims_text, ts, identifier, value,
                       (hi << LO_BITS) + lo, payload)
        for key, meter_pk, customer_pk, dims_text, ts, identifier, value, hi, lo, payload in zip(
            parsed.keys, keys.meter_pk, customers, dims, ts_column, keys.identifier, values,
            parsed.column("scaled_hi").tolist(),
            parsed.column("scaled_lo").tolist(), payloads, strict=True,
        )
    ]


def default_workers() -> int:
    """One fewer than the cores (the event loop and the writer need one), at least 1, at most 4."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class ParsePool:
    """Worker processes for large batches; `workers=0` validates everything in-process."""

    def __init__(self, db_path: Path, workers: int):
        self.db_path = db_path
        self.workers = workers
        self._channels: list[ParseChannel] = []

    def start(self) -> None:
        self._channels = [ParseChannel(self.db_path) for _ in range(self.workers)]

    def stop(self) -> None:
        channels, self._channels = self._channels, []
        for channel in channels:
            channel.stop()

    def wants(self, body: bytes) -> bool:
        return bool(self._channels) and len(body) >= MIN_POOL_BYTES

    async def parse(self, body: bytes, content_type: str, caller: Caller, now: int,
                    generation: int, request_id: str) -> ParsedBatch | None:
        """The worker's answer, or None if no worker could take it (validate in-process)."""
        if not self._channels:
            return None
        channel = min(self._channels, key=lambda c: c.load)
        try:
            raw = await channel.call((content_type, caller.account_pk, caller.livemode, now,
                                      generation, request_id), body)
        except WorkerGone:
            log.error("a parse worker died; starting another")
            self._replace(channel)
            return None
        return _decode(raw) if raw else None  # empty: the worker failed on it

    def _replace(self, channel: ParseChannel) -> None:
        if channel in self._channels:
            self._channels[self._channels.index(channel)] = ParseChannel(self.db_path)
            channel.stop(timeout=1.0)
