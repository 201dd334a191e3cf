"""Retention: forget dedupe ids and idempotent answers once their windows have passed.

Dedupe ids stay in the in-memory index 36 days after ingestion (the 35-day lateness window plus a
day of margin), so an event can never be accepted twice (ARCHITECTURE.md, invariant 2); the raw
events themselves are kept. Idempotent answers are kept 24 hours, as Stripe does.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable

from metered.clock import now_ms, now_seconds
from metered.ingest.apply import WINDOW_MS, EventApplier
from metered.ingest.segments import seq_ingested_since
from metered.ingest.writer import GroupCommitWriter, WriteRequest

log = logging.getLogger("metered.retention")

IDEMPOTENCY_SECONDS = 24 * 3600


def expire_dedupe_index(applier: EventApplier, now_ms: int
                        ) -> Callable[[sqlite3.Connection], int]:
    """A write job (it runs on the writer thread, which owns the index)."""

    def run(conn: sqlite3.Connection) -> int:
        before = len(applier.index)
        applier.index.expire_before(seq_ingested_since(conn, now_ms - WINDOW_MS))
        return before - len(applier.index)

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
    removed = 0
    for job in (expire_dedupe_index(writer.applier, now_ms()), purge_idempotency(now_seconds())):
        outcome = await writer.submit(WriteRequest(run=job))
        if isinstance(outcome, Exception):
            log.error("retention failed: %s", outcome)
            return removed
        removed += outcome
    log.info("retention: %d expired ids and answers removed", removed)
    return removed
