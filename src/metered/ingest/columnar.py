"""The writer's fast path for batches a parse worker validated: whole columns at a time.

For a run of such requests with nothing unusual (no identifier seen before or twice, only sum
and count meters, sums that fit int64 arithmetic), the writer assigns the seqs, stores one
segment per request (its columns encoded by the worker but for the dimension-set pks) and adds
the request's minute cells (grouped by the worker) to their packs and the pending coarser ones:
no Python object per event. Anything else goes through
EventApplier.apply_events, one request after the other, with the same results
(tests/ingest/test_columnar.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

import numpy as np

from metered.clock import now_ms
from metered.ingest.apply import EventApplier
from metered.ingest.events import EventResult
from metered.ingest.parse_pool import ParsedBatch, events_of
from metered.ingest.segments import data_blob, write_segment_blobs
from metered.metering.cells import SAFE_HI, hi_bound, merge
from metered.metering.meters import Meter

ALL_ACCEPTED = "all-accepted"  # the outcome of a request whose valid events were all new
FAST_FORMULAS = frozenset(("sum", "count"))
ParsedRequest = tuple[ParsedBatch, dict[int, Meter]]


def apply_parsed(applier: EventApplier, conn: sqlite3.Connection,
                 requests: Sequence[ParsedRequest]) -> list[Any]:
    """Each request's outcome: ALL_ACCEPTED, or a list of EventResult (the general path)."""
    fingerprints = [parsed.fingerprints() for parsed, _ in requests]
    if not _fast_path_fits(applier, requests, fingerprints):
        return [applier.apply_events(conn, events_of(parsed, meters))
                for parsed, meters in requests]
    ingested = now_ms()
    first_seq = applier.next_seq
    blocks: list[np.ndarray] = []
    for (parsed, _), fps in zip(requests, fingerprints, strict=True):
        n = len(parsed.keys)
        if not n:
            continue
        first = applier.next_seq
        dims_of = np.array([applier.dims_pk(conn, meter_pk, dims) if dims else 0
                            for meter_pk, dims in parsed.dims_table], dtype=np.int64)
        dims_pk = dims_of[parsed.column("dims_idx")]
        write_segment_blobs(conn, first, ingested, fps.tobytes(), parsed.seg_keys,
                            data_blob(parsed.seg_customers, dims_pk.tolist(), parsed.seg_rest))
        applier.accept(parsed.keys, fps, first)
        applier.next_seq = first + n
        cells = parsed.minute_cells().copy()
        cells[:, 4] = dims_of[cells[:, 4]]  # the worker grouped by dims_idx
        blocks.append(cells)
    if blocks:
        applier.add_cells(conn, first_seq, applier.next_seq, merge(blocks), ingested)
    return [ALL_ACCEPTED] * len(requests)


def _fast_path_fits(applier: EventApplier, requests: Sequence[ParsedRequest],
                    fingerprints: list[np.ndarray]) -> bool:
    keys = [key for parsed, _ in requests for key in parsed.keys]
    if not keys:
        return True
    if any(m.formula not in FAST_FORMULAS for _, meters in requests for m in meters.values()):
        return False
    if len(set(keys)) != len(keys) or applier.pending(keys):
        return False  # a repeat inside the transaction: the general path sorts it out
    if any(parsed.keys and not parsed.cells for parsed, _ in requests):
        return False  # the worker found that its sums could overflow int64
    hi = np.concatenate([parsed.column("scaled_hi") for parsed, _ in requests])
    if hi_bound(hi) >= SAFE_HI:
        return False  # sums could overflow int64: the general path adds Python integers
    fps = np.concatenate(fingerprints)
    return not applier.index.any_known(fps)  # may be seen before: confirm one by one


def results_of(parsed: ParsedBatch, outcome: list[EventResult]) -> list[EventResult | None]:
    """Every event's result, rejected ones included, from the general path's outcome."""
    results: list[EventResult | None] = [None] * parsed.total
    for i, identifier, code, message, param in parsed.rejected:
        results[i] = EventResult("rejected", identifier, code, message, param)
    for position, result in zip(parsed.positions, outcome, strict=True):
        results[position] = result
    return results
