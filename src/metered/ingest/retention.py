"""Retention: forget dedupe keys and idempotent answers once their windows have passed.

Dedupe keys are kept 35 days (+1 day of margin) after ingestion, the same as the lateness window,
so an event can never be accepted twice (ARCHITECTURE.md, invariant 2); idempotent answers are kept
24 hours, as Stripe does. Purging walks the key space in 256 slices so that no single transaction
holds the writer for long.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable

from metered.clock import now_seconds
from metered.ingest.writer import GroupCommitWriter, WriteRequest

log = logging.getLogger("metered.retention")

IDEMPOTENCY_SECONDS = 24 * 3600
SLICES = 256


def purge_slice(now: int, index: int) -> Callable[[sqlite3.Connection], int]:
    """A write job that deletes the expired dedupe keys whose first byte is `index`."""
    lo = bytes([index])
    hi = bytes([index + 1]) if index < 255 else None

    def run(conn: sqlite3.Connection) -> int:
        if hi is None:
            cur = conn.execute("DELETE FROM seen_ids WHERE key >= ? AND expires < ?", (lo, now))
        else:
            cur = conn.execute(
                "DELETE FROM seen_ids WHERE key >= ? AND key < ? AND expires < ?", (lo, hi, now)
            )
        return cur.rowcount

    return run


def purge_idempotency(now: int) -> Callable[[sqlite3.Connection], int]:
    def run(conn: sqlite3.Connection) -> int:
        cur = conn.execute(
            "DELETE FROM idempotency_keys WHERE created < ?", (now - IDEMPOTENCY_SECONDS,)
        )
        return cur.rowcount

    return run


async def run_retention(writer: GroupCommitWriter, *, interval: float = 3600.0) -> None:
    """Forever: every `interval` seconds, purge expired keys one slice per group commit."""
    while True:
        await asyncio.sleep(interval)
        await purge_all(writer)


async def purge_all(writer: GroupCommitWriter) -> int:
    now = now_seconds()
    removed = 0
    for index in range(SLICES):
        outcome = await writer.submit(WriteRequest(run=purge_slice(now, index)))
        if isinstance(outcome, Exception):
            log.error("purging dedupe keys failed: %s", outcome)
            return removed
        removed += outcome
    outcome = await writer.submit(WriteRequest(run=purge_idempotency(now)))
    if isinstance(outcome, int):
        removed += outcome
    log.info("retention: %d expired rows removed", removed)
    return removed
