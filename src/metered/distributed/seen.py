"""Which identifiers an API process can already answer `duplicate` for, before producing.

For groups of requests with at most CHECK_KEYS identifiers (single events and small batches,
where Stripe's "an event already exists" matters), two sources: the keys this process produced
in the last RECENT_SECONDS (events still in the log, or applied lately), and the seen-set in
PostgreSQL over the whole dedupe window (one query per group, on the producer thread). Large
batches are not checked: checking them cost the API a third of its ingest rate and, competing
with the workers for PostgreSQL, took freshness p99 from 0.8 s to 2.4-2.9 s
(docs/benchmarks.md). A repeat that is not caught is produced again and dropped by the worker:
it counts once, but is answered `accepted`.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Any

import psycopg

from metered.ingest.events import DEDUPE_DAYS
from metered.store.pg_arrays import bytea_array

log = logging.getLogger("metered.writer")
RECENT_SECONDS = 120.0
RECENT_MAX = 500_000
CHECK_KEYS = 100


class SeenCheck:
    def __init__(self, connect: Any):
        self._connect = connect  # -> psycopg connection
        self._conn: Any = None
        self._recent: OrderedDict[bytes, float] = OrderedDict()

    def duplicates(self, keys: list[bytes]) -> set[bytes]:
        """The keys among `keys` seen before (stored, or produced here lately); none for a
        group larger than CHECK_KEYS."""
        if len(keys) > CHECK_KEYS:
            return set()
        self._expire(time.monotonic())
        found = {k for k in keys if k in self._recent}
        rest = [k for k in keys if k not in found]
        if rest:
            try:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    self._conn = self._connect()
                rows = self._conn.execute(
                    "SELECT key FROM seen_ids WHERE key = ANY(%s::bytea[]) AND day >="
                    " floor(extract(epoch FROM now()) / 86400)::int - %s",
                    [bytea_array(rest), DEDUPE_DAYS + 1]).fetchall()
                found.update(bytes(k) for (k,) in rows)
            except psycopg.Error:
                # The store is away: produce anyway (the workers drop repeats), answer accepted.
                log.warning("checking identifiers against the seen-set failed", exc_info=True)
                self._conn = None
        return found

    def remember(self, keys: list[bytes]) -> None:
        if len(keys) > CHECK_KEYS:  # large batches are not checked, nor remembered
            return
        now = time.monotonic()
        recent = self._recent
        for key in keys:
            recent[key] = now
            recent.move_to_end(key)
        while len(recent) > RECENT_MAX:
            recent.popitem(last=False)

    def _expire(self, now: float) -> None:
        recent = self._recent
        while recent:
            key, at = next(iter(recent.items()))
            if now - at < RECENT_SECONDS:
                return
            del recent[key]
