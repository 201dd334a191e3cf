"""Retention purges only what is past its window: expired dedupe keys and old idempotent answers."""

from __future__ import annotations

from pathlib import Path

from metered.clock import now_seconds
from metered.ingest.retention import purge_all

from engine_harness import Harness


def test_purge_removes_only_expired_keys(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    try:
        customer = h.customer()
        meter = h.meter("sum")
        events = [{"event_name": meter.event_name, "identifier": f"e{i}",
                   "payload": {"stripe_customer_id": customer.id, "value": "1"}}
                  for i in range(600)]
        h.submit_all([("batch", events)])
        conn = h.engine.reader()
        expires = conn.execute("SELECT MIN(expires), MAX(expires) FROM seen_ids").fetchone()
        assert expires[0] >= now_seconds() + 35 * 86_400  # kept at least the lateness window
        # Age half of the keys past their window, and one idempotent answer past 24 hours.
        h.run(lambda c: c.execute("UPDATE seen_ids SET expires = 0 WHERE seq % 2 = 0"))
        h.run(lambda c: c.execute(
            "INSERT INTO idempotency_keys VALUES (?, 0, 'old', x'00', 200, x'7b7d', 0)",
            (h.caller.account_pk,)))
        removed = h.loop.run_until_complete(purge_all(h.engine.writer))
        assert removed == 301
        assert conn.execute("SELECT COUNT(*) FROM seen_ids").fetchone()[0] == 300
        assert conn.execute("SELECT COUNT(*) FROM seen_ids WHERE seq % 2 = 0").fetchone()[0] == 0
        # Raw events are immutable and kept.
        assert conn.execute("SELECT COUNT(*) FROM meter_events").fetchone()[0] == 600
        assert conn.execute("SELECT COUNT(*) FROM idempotency_keys").fetchone()[0] == 0
    finally:
        h.close()
