"""Packs written later (metering.pending): exact reads meanwhile, exact after a crash."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from metered.clock import now_seconds
from metered.engine import Engine
from metered.ingest import apply
from metered.metering.pending import read_watermark
from metered.metering.summaries import SummaryQuery, summarize

from engine_harness import Harness


def day_total(engine: Engine, meter, customer_pk: int) -> list[tuple[int, object]]:  # type: ignore[no-untyped-def]
    end = (now_seconds() // 86_400 + 1) * 86_400
    q = SummaryQuery(meter=meter, customer_pk=customer_pk, start=end - 3 * 86_400, end=end,
                     window="day")
    return [(s.start, s.value) for s in summarize(engine.reader(), q,
                                                   engine.writer.applier.unflushed)]


def test_reads_are_exact_while_pending_and_after_a_crash(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(apply, "FLUSH_SECONDS", 3600.0)  # nothing is written out by itself,
    monkeypatch.setattr(apply, "PAUSE_FLUSH_SECONDS", 3600.0)  # not even in the writer's pauses
    h = Harness(tmp_path / "live")
    try:
        customer = h.customer()
        meter = h.meter("sum", ("model",))
        now = now_seconds()
        events = [{"event_name": meter.event_name, "identifier": f"e{i}",
                   "timestamp": now - (i % 3) * 86_400,
                   "payload": {"stripe_customer_id": customer.id, "value": str(i),
                               "model": "ab"[i % 2]}} for i in range(60)]
        h.submit_all([("batch", events[:30]), ("batch", events[30:])])
        applier = h.engine.writer.applier
        assert applier.unflushed.rows > 0, "today's day cells should still be pending"
        # Late events (a day or two old) had all their packs written in their transaction.
        days = {bucket * 60 for (bucket,) in h.engine.reader().execute(
            "SELECT bucket FROM rollup_packs WHERE level=2")}
        today = now // 86_400 * 86_400
        assert days == {today - 86_400, today - 2 * 86_400}
        # Today's events are in delta rows, not yet in their minute packs.
        reader = h.engine.reader()
        assert reader.execute("SELECT count(*) FROM rollup_deltas").fetchone()[0] > 0
        assert reader.execute("SELECT count(*) FROM rollup_packs WHERE level=0 AND bucket=?",
                              (now // 60,)).fetchone()[0] == 0
        h.submit_all([("cancel", (meter.event_name, "e3"))])
        expected = {}
        for i in range(60):
            if i != 3:
                day = (now - (i % 3) * 86_400) // 86_400 * 86_400
                expected[day] = expected.get(day, 0) + i
        assert {start: int(v) for start, v in day_total(h.engine, meter, customer.pk)} == (
            expected)
        # A consistent copy of what is committed now: as if the process were killed here.
        crashed = tmp_path / "crashed"
        crashed.mkdir()
        target = sqlite3.connect(crashed / "metered.sqlite3")
        h.engine.reader().backup(target)
        target.close()
        pending_watermark = read_watermark(h.engine.reader())
    finally:
        h.close()
    assert pending_watermark < 60
    engine = Engine.open(crashed, cache_mb=16)
    engine.start()
    try:
        assert read_watermark(engine.reader()) >= 60  # start-up added what was pending
        assert engine.writer.applier.unflushed.rows == 0
        reader = engine.reader()
        assert reader.execute("SELECT count(*) FROM rollup_deltas").fetchone()[0] == 0
        assert reader.execute("SELECT count(*) FROM rollup_packs WHERE level=0 AND bucket=?",
                              (now // 60,)).fetchone()[0] == 1
        assert {start: int(v) for start, v in day_total(engine, meter, customer.pk)} == expected
    finally:
        engine.stop()
