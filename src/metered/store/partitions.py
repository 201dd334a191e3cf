"""Day partitions of the PostgreSQL store's seen-set and raw events (store.schema).

A day is the UTC day of ingestion, as days since 1970. `metered worker` makes the partitions
from yesterday to the day after tomorrow when it starts and every hour, and drops the seen-set's
days past the dedupe window: forgetting a day of keys is a DROP TABLE, not a DELETE.
Raw events are kept (they are what rollups are rebuilt from).
"""

from __future__ import annotations

import logging
from typing import Any

from metered.ingest.events import DEDUPE_DAYS

log = logging.getLogger("metered.store")
PARTITIONED = ("seen_ids", "raw_events")
SEEN_KEEP_DAYS = DEDUPE_DAYS + 1  # a day's keys stay until the whole window has passed
_LOCK = 0x6D657465  # pg_advisory_xact_lock: one process changes partitions at a time


def partition_name(table: str, day: int) -> str:
    return f"{table}_d{day}"


def ensure_days(raw: Any, today: int, ahead: int = 2) -> list[str]:
    """Make the partitions of [today - 1, today + ahead] that do not exist yet."""
    made = []
    with raw.transaction():
        raw.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", [_LOCK])
        existing = _existing(raw)
        for table in PARTITIONED:
            for day in range(today - 1, today + ahead + 1):
                name = partition_name(table, day)
                if name not in existing:
                    raw.execute(f'CREATE TABLE "{name}" PARTITION OF "{table}"'
                                f" FOR VALUES FROM ({day}) TO ({day + 1})")
                    made.append(name)
    return made


def drop_expired_seen(raw: Any, today: int) -> list[str]:
    """Drop the seen-set's partitions whose day is past the dedupe window."""
    dropped = []
    with raw.transaction():
        raw.execute("SELECT pg_advisory_xact_lock(%s, hashtext(current_schema()))", [_LOCK])
        prefix = "seen_ids_d"
        for name in sorted(_existing(raw)):
            if name.startswith(prefix) and int(name[len(prefix):]) < today - SEEN_KEEP_DAYS:
                raw.execute(f'DROP TABLE "{name}"')
                dropped.append(name)
    if dropped:
        log.info("dropped %d expired seen-set days", len(dropped))
    return dropped


def _existing(raw: Any) -> set[str]:
    rows = raw.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " JOIN pg_class p ON p.oid = i.inhparent"
        " WHERE p.relname = ANY(%s) AND pg_table_is_visible(p.oid)", [list(PARTITIONED)])
    return {name for (name,) in rows}
