"""The columnar writer path gives what the general path gives: answers, cells, raw events."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metered.clock import now_seconds
from metered.ingest.batches import validate_events
from metered.ingest.columnar import ALL_ACCEPTED, results_of
from metered.ingest.parse_pool import meters_of, parse_to_columns
from metered.ingest.segments import iter_events
from metered.ingest.writer import WriteRequest

from engine_harness import Harness, pack_rows

NOW = now_seconds()


def engine(formula: str) -> tuple[Harness, list[str]]:
    h = Harness.temporary("metered-columnar-")
    customers = [h.customer().id for _ in range(2)]
    h.meter(formula, ("model",))
    return h, customers


def raw_event(formula: str, customers: list[str], e: dict[str, Any]) -> dict[str, Any]:
    return {"event_name": f"ev_{formula}", "identifier": e["identifier"],
            "timestamp": NOW - e["age"],
            "payload": {"stripe_customer_id": customers[e["customer"]], "value": e["value"],
                        **({"model": e["model"]} if e["model"] else {})}}


events = st.fixed_dictionaries({
    "identifier": st.sampled_from([f"i{n}" for n in range(12)]),
    "customer": st.integers(0, 1),
    "value": st.sampled_from(["1", "7", "2.5", "0", "123456789012345", "-1", "x"]),
    "age": st.sampled_from([0, 59, 60, 3_599, 3_600, 86_400, 5 * 86_400, 40 * 86_400]),
    "model": st.sampled_from(["a", "b", None]),
})


def submit(h: Harness, requests: list[WriteRequest]) -> list[Any]:
    async def go() -> list[Any]:
        return list(await asyncio.gather(*(h.engine.writer.submit(r) for r in requests)))
    return h.loop.run_until_complete(go())


def state(h: Harness, customers: list[str]) -> tuple[Any, ...]:
    """Cells (pending pack deltas written out) and raw events, customer ids in payloads
    replaced by their position."""
    h.run(h.engine.writer.applier.flush_packs)
    conn = h.engine.reader()

    def anonymous(payload: str) -> str:
        for i, customer in enumerate(customers):
            payload = payload.replace(customer, f"customer-{i}")
        return payload

    return (
        conn.execute("SELECT * FROM rollup_extremes ORDER BY 1,2,3,4,5").fetchall(),
        pack_rows(conn),
        [(e.seq, e.meter_pk, e.customer_pk, e.dims_pk, e.ts, e.identifier, e.value,
          json.loads(anonymous(e.payload)))  # as sent, or re-encoded: the same JSON value
         for e in iter_events(conn)],
    )


def test_clean_batches_take_the_columnar_path() -> None:
    h, customers = engine("sum")
    try:
        batches = [[{"identifier": f"b{b}e{i}", "customer": i % 2, "value": str(i + b),
                     "age": i * 977 % 100_000, "model": "ab"[i % 2]} for i in range(50)]
                   for b in range(3)]
        parsed = [parse_to_columns(json.dumps([raw_event("sum", customers, e) for e in batch])
                                   .encode(), "application/json", h.caller, NOW,
                                   h.engine.ingest_context(), "") for batch in batches]
        outcomes = submit(h, [WriteRequest(parsed=(p, meters_of(p, h.engine.meters) or {}))
                              for p in parsed])
        assert outcomes == [ALL_ACCEPTED] * 3
        # Sent again: every event is a duplicate, found through the general path.
        again = submit(h, [WriteRequest(parsed=(parsed[0], meters_of(parsed[0], h.engine.meters)
                                                or {}))])
        assert {r.status for r in results_of(parsed[0], again[0])} == {"duplicate"}
        h.run(h.engine.writer.applier.flush_packs)  # the live events' minute cells: delta rows
        minute_packs = [r for r in pack_rows(h.engine.reader()) if r[2] == 0]
        assert sum(n for *_, cells in minute_packs for _, (n, _) in cells) == 150
    finally:
        h.close()


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(formula=st.sampled_from(["sum", "count", "max"]),
       batches=st.lists(st.lists(events, min_size=0, max_size=12), min_size=1, max_size=4))
def test_columnar_path_equals_general_path(formula: str, batches: list[list[dict[str, Any]]]
                                           ) -> None:
    fast, fast_customers = engine(formula)
    general, general_customers = engine(formula)
    try:
        assert fast_customers != general_customers  # ids differ; pks are the same
        parsed = []
        for batch in batches:
            body = json.dumps([raw_event(formula, fast_customers, e) for e in batch]).encode()
            if not batch:
                body = b"[]"
            parsed.append(parse_to_columns(body, "application/json", fast.caller, NOW,
                                           fast.engine.ingest_context(), ""))
        runnable = [p for p in parsed if p.error is None]
        fast_out = submit(fast, [WriteRequest(parsed=(p, meters_of(p, fast.engine.meters) or {}))
                                 for p in runnable])
        fast_statuses = []
        for p, outcome in zip(runnable, fast_out, strict=True):
            if outcome == ALL_ACCEPTED:
                fast_statuses.append([r["status"] for r in json.loads(p.answer)["results"]])
            else:
                fast_statuses.append([r.status for r in results_of(p, outcome)])

        general_requests, validated = [], []
        ctx = general.engine.ingest_context()
        for batch in batches:
            if not batch:
                continue
            raw = [raw_event(formula, general_customers, e) for e in batch]
            valid, positions, results = validate_events(raw, general.caller, ctx, NOW)
            validated.append((positions, results))
            general_requests.append(WriteRequest(events=valid))
        general_statuses = []
        for (positions, results), outcome in zip(validated, submit(general, general_requests),
                                                 strict=True):
            merged = list(results)
            for position, result in zip(positions, outcome, strict=True):
                merged[position] = result
            general_statuses.append([r.status for r in merged])

        assert fast_statuses == general_statuses
        assert state(fast, fast_customers) == state(general, general_customers)
    finally:
        fast.close()
        general.close()
