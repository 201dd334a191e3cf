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

import asyncio
import logging
import multiprocessing
import os
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import msgspec

from metered.accounts import Caller
from metered.billing.customers import CustomerDirectory
from metered.errors import InvalidRequestError, MeteredError
from metered.ingest.batches import Validated, decode_batch, validate_events
from metered.ingest.events import EventResult, ValidatedEvent
from metered.ingest.validation import IngestContext
from metered.metering.meters import MeterRegistry, load_all_meters
from metered.metering.quantity import LO_BITS, LO_MASK

log = logging.getLogger("metered.parse")
MIN_POOL_BYTES = 16_384  # smaller bodies are validated in-process: a round trip costs ~0.2 ms


class ParsedBatch(msgspec.Struct, array_like=True):
    """A worker's answer: a whole-request error, or the valid events as columns and rejections."""

    error: tuple[str, str | None, str | None] | None = None  # message, code, param
    positions: list[int] = []
    keys: list[bytes] = []
    meter_pk: list[int] = []
    customer_pk: list[int] = []
    dims: list[str] = []
    ts: list[int] = []
    identifier: list[str] = []
    value: list[str] = []
    scaled_hi: list[int] = []  # value * 10**12 = hi * 2**40 + lo (msgpack integers are 64-bit)
    scaled_lo: list[int] = []
    payload: list[str] = []
    total: int = 0
    rejected: list[tuple[int, str | None, str | None, str | None, str | None]] = []


_encode = msgspec.msgpack.Encoder().encode
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


def _init_worker(db_path: str) -> None:
    global _state
    _state = _WorkerState(db_path)


def parse_in_worker(body: bytes, content_type: str, account_pk: int, livemode: bool, now: int,
                    generation: int, request_id: str) -> bytes:
    assert _state is not None, "parse worker not initialised"
    return _encode(parse_to_columns(body, content_type, Caller(account_pk, livemode), now,
                                    _state.context(generation), request_id))


def parse_to_columns(body: bytes, content_type: str, caller: Caller, now: int,
                     ctx: IngestContext, request_id: str) -> ParsedBatch:
    try:
        raw_events = decode_batch(body, content_type)
    except MeteredError as exc:
        return ParsedBatch(error=(exc.message, exc.code, exc.param))
    valid, positions, results = validate_events(raw_events, caller, ctx, now, request_id)
    out = ParsedBatch(positions=positions, total=len(results))
    out.keys = [e.key for e in valid]
    out.meter_pk = [e.meter.pk for e in valid]
    out.customer_pk = [e.customer_pk for e in valid]
    out.dims = [e.dims for e in valid]
    out.ts = [e.ts for e in valid]
    out.identifier = [e.identifier for e in valid]
    out.value = [e.value for e in valid]
    out.scaled_hi = [e.scaled >> LO_BITS for e in valid]
    out.scaled_lo = [e.scaled & LO_MASK for e in valid]
    out.payload = [e.payload for e in valid]
    out.rejected = [(i, r.identifier, r.code, r.message, r.param)
                    for i, r in enumerate(results) if r is not None]
    return out


# --- in the server -----------------------------------------------------------------------

def from_columns(parsed: ParsedBatch, meters: MeterRegistry) -> Validated | None:
    """The validated batch again; None if a meter changed meanwhile (then validate in-process)."""
    if parsed.error is not None:
        message, code, param = parsed.error
        raise InvalidRequestError(message, code=code, param=param)
    by_pk: dict[int, Any] = {}
    for pk in set(parsed.meter_pk):
        meter = meters.by_pk(pk)
        if meter is None or not meter.active:
            return None
        by_pk[pk] = meter
    valid = [
        ValidatedEvent(key, by_pk[meter_pk], customer_pk, dims, ts, identifier, value,
                       (hi << LO_BITS) + lo, payload)
        for key, meter_pk, customer_pk, dims, ts, identifier, value, hi, lo, payload in zip(
            parsed.keys, parsed.meter_pk, parsed.customer_pk, parsed.dims, parsed.ts,
            parsed.identifier, parsed.value, parsed.scaled_hi, parsed.scaled_lo, parsed.payload,
            strict=True,
        )
    ]
    results: list[EventResult | None] = [None] * parsed.total
    for i, identifier, code, message, param in parsed.rejected:
        results[i] = EventResult("rejected", identifier, code, message, param)
    return valid, parsed.positions, results


def default_workers() -> int:
    """One fewer than the cores (the event loop and the writer need one), at least 1, at most 4."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class ParsePool:
    """Worker processes for large batches; `workers=0` validates everything in-process."""

    def __init__(self, db_path: Path, workers: int):
        self.db_path = db_path
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        if self.workers > 0:
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(str(self.db_path),),
            )

    def stop(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def wants(self, body: bytes) -> bool:
        return self._pool is not None and len(body) >= MIN_POOL_BYTES

    async def parse(self, body: bytes, content_type: str, caller: Caller, now: int,
                    generation: int, request_id: str) -> ParsedBatch | None:
        """The worker's answer, or None if no worker could take it (validate in-process)."""
        pool = self._pool
        if pool is None:
            return None
        loop = asyncio.get_running_loop()
        try:
            raw = await loop.run_in_executor(
                pool, parse_in_worker, body, content_type, caller.account_pk, caller.livemode,
                now, generation, request_id,
            )
        except BrokenProcessPool:
            log.error("a parse worker died; restarting the pool")
            if self._pool is pool:
                pool.shutdown(wait=False, cancel_futures=True)
                self.start()
            return None
        return _decode(raw)
