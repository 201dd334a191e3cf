"""Retention forgets only what is past its window: old dedupe ids and old idempotent answers."""

from __future__ import annotations

from pathlib import Path

from metered.clock import now_ms
from metered.ingest.apply import WINDOW_MS
from metered.ingest.retention import purge_all

from engine_harness import Harness


def test_retention_forgets_only_expired_ids(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    try:
        customer = h.customer()
        meter = h.meter("sum")

        def events(lo: int, hi: int) -> list[dict[str, object]]:
            return [{"event_name": meter.event_name, "identifier": f"e{i}",
                     "payload": {"stripe_customer_id": customer.id, "value": "1"}}
                    for i in range(lo, hi)]

        h.submit_all([("batch", events(0, 300))])
        # Pretend these 300 were ingested 37 days ago, then ingest 300 more now.
        h.run(lambda c: c.execute("UPDATE event_segments SET ingested_ms = ?",
                                  (now_ms() - WINDOW_MS - 86_400_000,)))
        h.submit_all([("batch", events(300, 600))])
        h.run(lambda c: c.execute(
            "INSERT INTO idempotency_keys VALUES (?, 0, 'old', x'00', 200, x'7b7d', 0)",
            (h.caller.account_pk,)))
        index = h.engine.writer.applier.index
        assert len(index) == 600
        removed = h.loop.run_until_complete(purge_all(h.engine.writer))
        assert removed == 301
        assert len(index) == 300
        conn = h.engine.reader()
        assert conn.execute("SELECT SUM(count) FROM event_segments").fetchone()[0] == 600  # kept
        assert conn.execute("SELECT COUNT(*) FROM idempotency_keys").fetchone()[0] == 0
        # Ids inside the window are still deduplicated.
        (outcome,) = h.submit_all([("batch", events(300, 310))])
        assert {r.status for r in outcome} == {"duplicate"}
    finally:
        h.close()
