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

from engine_harness import Harness, pack_rows


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


def test_a_prepared_roll_up_flushes_the_steps_it_covers(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """prepare_flush rolls the committed steps up on its own thread; the flush then writes
    those and leaves the steps committed since pending: reads stay exact, and once everything
    is flushed the packs are what a rebuild from the raw events makes."""
    monkeypatch.setattr(apply, "FLUSH_SECONDS", 3600.0)
    monkeypatch.setattr(apply, "PAUSE_FLUSH_SECONDS", 3600.0)
    monkeypatch.setattr(apply, "PREPARE_SECONDS", 0.0)
    h = Harness(tmp_path)
    try:
        customer = h.customer()
        meter = h.meter("sum", ("model",))
        applier = h.engine.writer.applier
        now = now_seconds()

        def batch(first: int) -> list[dict[str, object]]:
            return [{"event_name": meter.event_name, "identifier": f"e{i}",
                     "timestamp": now - i % 7,
                     "payload": {"stripe_customer_id": customer.id, "value": str(i),
                                 "model": "abc"[i % 3]}} for i in range(first, first + 40)]

        h.submit_all([("batch", batch(0))])
        h.run(lambda conn: applier.prepare_flush())  # on the writer's thread, between steps
        h.submit_all([("batch", batch(40))])  # committed after the roll-up was prepared
        h.run(lambda conn: applier.flush_packs(conn, whole=False))
        assert read_watermark(h.engine.reader()) == 40  # the first 40 events' seqs
        assert applier.unflushed.rows > 0  # the second batch's cells
        reader = h.engine.reader()
        assert reader.execute("SELECT min(seq) FROM rollup_deltas").fetchone()[0] > 40
        expected = {}
        for i in range(80):
            day = (now - i % 7) // 86_400 * 86_400
            expected[day] = expected.get(day, 0) + i
        assert {start: int(v) for start, v in day_total(h.engine, meter, customer.pk)
                if v} == expected
        h.run(lambda conn: applier.flush_packs(conn, whole=False))  # nothing prepared: all
        assert applier.unflushed.rows == 0
        flushed = pack_rows(h.engine.reader())
        h.run(lambda conn: applier.rebuild(conn, meter.pk, "sum"))
        assert pack_rows(h.engine.reader()) == flushed
    finally:
        h.close()
