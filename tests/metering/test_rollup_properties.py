"""Properties of the ingest path: summaries equal a recomputation from the events whatever the
duplicates, adjustments and batch boundaries; replays change nothing; rebuilding the rollups from
the raw events gives the very same cells."""

from __future__ import annotations

import json
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metered.clock import now_seconds
from metered.metering.summaries import SummaryQuery, summarize

from engine_harness import Harness, pack_rows, statuses

NUMERIC_VALUES = ["0", "1", "2.5", "0.000000000001", "123456789012345", "7", "0.1", "0.2"]
UNIQUE_VALUES = ["u1", "u2", "u3", "u4"]
IDENTIFIERS = [f"id{i}" for i in range(10)]
DAY = 86_400


def event_strategy(formula: str) -> st.SearchStrategy[dict[str, Any]]:
    values = UNIQUE_VALUES if formula == "unique_count" else NUMERIC_VALUES
    return st.fixed_dictionaries({
        "identifier": st.sampled_from(IDENTIFIERS),
        "customer": st.integers(0, 1),
        "value": st.sampled_from(values),
        "offset": st.integers(0, 2 * DAY - 1),
        "model": st.sampled_from(["a", "b", None]),
    })


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[str, list[tuple[str, Any]]]:
    formula = draw(st.sampled_from(["sum", "count", "max", "last", "unique_count"]))
    op = st.one_of(
        st.tuples(st.just("batch"), st.lists(event_strategy(formula), min_size=1, max_size=8)),
        st.tuples(st.just("cancel"), st.sampled_from(IDENTIFIERS)),
    )
    return formula, draw(st.lists(op, min_size=1, max_size=10))


def expected(formula: str, events: list[dict[str, Any]]) -> Decimal | int:
    if formula == "count":
        return len(events)
    if formula == "unique_count":
        return len({e["value"] for e in events})
    if not events:
        return 0
    if formula == "sum":
        return sum((Decimal(e["value"]) for e in events), Decimal(0))
    if formula == "max":
        return max(Decimal(e["value"]) for e in events)
    last = max(events, key=lambda e: (e["ts"], e["order"]))
    return Decimal(last["value"])


def model_summaries(formula: str, live: list[dict[str, Any]], customer: int, start: int,
                    end: int, window: int | None, grouped: bool) -> dict[tuple[int, str], Any]:
    out: dict[tuple[int, str], Any] = {}
    size = window or (end - start)
    for w in range(start, end, size):
        in_window = [e for e in live if e["customer"] == customer and w <= e["ts"] < w + size]
        if not grouped:
            out[(w, "")] = expected(formula, in_window)
            continue
        for model in {e["model"] for e in in_window}:
            group = [e for e in in_window if e["model"] == model]
            out[(w, json.dumps({"model": model}))] = expected(formula, group)
    return out


def actual_summaries(h: Harness, q: SummaryQuery) -> dict[tuple[int, str], Any]:
    rows = summarize(h.engine.reader(), q, h.engine.writer.applier.unflushed)
    return {
        (s.start, json.dumps(s.dimensions) if s.dimensions is not None else ""): s.value
        for s in rows
    }


def rollup_cells(h: Harness) -> list[tuple[Any, ...]]:
    """Every stored cell, once the pending pack deltas are written out (metering.pending)."""
    h.run(h.engine.writer.applier.flush_packs)
    conn = h.engine.reader()
    extremes = conn.execute("SELECT * FROM rollup_extremes ORDER BY 1,2,3,4,5").fetchall()
    uniques = conn.execute("SELECT * FROM rollup_uniques ORDER BY 1,2,3,4,5,6").fetchall()
    return extremes + uniques + pack_rows(conn)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenario=scenarios(), sub=st.tuples(st.integers(0, 2 * 1440), st.integers(1, 2 * 1440)))
def test_summaries_equal_recomputation(scenario: tuple[str, list[tuple[str, Any]]],
                                       sub: tuple[int, int]) -> None:
    formula, ops = scenario
    with tempfile.TemporaryDirectory() as tmp:
        h = Harness(Path(tmp))
        try:
            check_scenario(h, formula, ops, sub)
        finally:
            h.close()


def check_scenario(h: Harness, formula: str, ops: list[tuple[str, Any]],
                   sub: tuple[int, int]) -> None:
    customers = [h.customer(), h.customer()]
    customer_ids = [c.id for c in customers]
    meter = h.meter(formula, ("model",))
    base = (now_seconds() - 3 * DAY) // DAY * DAY + DAY  # start of a day, within 35 days

    wire_ops: list[tuple[str, Any]] = []
    for kind, arg in ops:
        if kind == "cancel":
            wire_ops.append(("cancel", (meter.event_name, arg)))
            continue
        batch = []
        for e in arg:
            payload: dict[str, Any] = {"stripe_customer_id": customer_ids[e["customer"]],
                                       "value": e["value"]}
            if e["model"] is not None:
                payload["model"] = e["model"]
            batch.append({"event_name": meter.event_name, "identifier": e["identifier"],
                          "timestamp": base + e["offset"], "payload": payload})
        wire_ops.append(("batch", batch))

    outcomes = h.submit_all(wire_ops)

    # The model: first occurrence of an identifier wins; a cancel removes an accepted event once.
    accepted: dict[str, dict[str, Any]] = {}
    cancelled: set[str] = set()
    order = 0
    for (kind, arg), outcome in zip(ops, outcomes, strict=True):
        if kind == "cancel":
            if arg in accepted:
                cancelled.add(arg)
            continue
        expected_statuses = []
        for e in arg:
            if e["identifier"] in accepted:
                expected_statuses.append("duplicate")
            else:
                order += 1
                accepted[e["identifier"]] = {**e, "ts": base + e["offset"], "order": order}
                expected_statuses.append("accepted")
        assert statuses(outcome) == expected_statuses
    live = [e for i, e in accepted.items() if i not in cancelled]

    def check_all() -> None:
        start_sub = base + sub[0] * 60
        queries = [
            (base - 6 * DAY, base + 6 * DAY, None, False),  # holds whole 4-day cells
            (base - 6 * DAY, base + 6 * DAY, None, True),
            (base, base + 2 * DAY, 3600, False),
            (base, base + 2 * DAY, DAY, True),
            (start_sub, start_sub + sub[1] * 60, None, True),
            (start_sub, start_sub + sub[1] * 60, None, False),
        ]
        for customer in (0, 1):
            for start, end, window, grouped in queries:
                q = SummaryQuery(
                    meter=meter, customer_pk=customers[customer].pk, start=start, end=end,
                    window={None: None, 3600: "hour", DAY: "day"}[window],
                    group_by=("model",) if grouped else (),
                )
                assert actual_summaries(h, q) == model_summaries(
                    formula, live, customer, start, end, window, grouped
                ), (start, end, window, grouped, customer)

    check_all()
    cells = rollup_cells(h)

    # Re-sending every batch changes nothing: each event is now a duplicate.
    batches = [op for op in wire_ops if op[0] == "batch"]
    for outcome in h.submit_all(batches):
        assert set(statuses(outcome)) == {"duplicate"}
    assert rollup_cells(h) == cells
    check_all()

    # Rebuilding the cells from the raw events gives exactly the incrementally built ones.
    h.run(lambda conn: h.engine.writer.applier.rebuild(conn, meter.pk, meter.formula))
    assert rollup_cells(h) == cells
