"""Query benchmark: a month of usage for one customer with 1,000 dimension groups.

    python bench/query.py             # 20M events in the store
    python bench/query.py --quick     # 1M events

Builds the store with the engine's own apply path (the same SQL that ingestion runs, without
HTTP), then measures over HTTP, from one client on a keep-alive connection, p50/p99/max of:
the native usage endpoint grouped by both dimensions (1,000 groups), Stripe's event_summaries
for the month (one value), and, as the reference, GET /healthz on the same server.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import machine, new_key, save, start_metered, stop  # noqa: E402

from metered.clock import now_ms  # noqa: E402
from metered.metering.rollups import add_stored_events  # noqa: E402
from metered.store.database import connect  # noqa: E402

MODELS, TOKEN_TYPES = 50, 20  # 1,000 dimension groups
OTHER_CUSTOMERS = 9  # every tenth event is the measured customer's


def build_store(data_dir: Path, key: str, events: int, month_start: int, month_end: int
                ) -> tuple[str, str, Decimal]:
    """Customers, a meter and `events` events; returns (meter id, customer id, its total)."""
    server, port = start_metered(data_dir)
    try:
        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=(key, ""), timeout=60)
        customers = [api.post("/v1/customers", data={"name": f"c{i}"}).json()["id"]
                     for i in range(OTHER_CUSTOMERS + 1)]
        meter = api.post("/v1/billing/meters", data={
            "display_name": "Tokens", "event_name": "tokens",
            "default_aggregation[formula]": "sum",
            "dimension_payload_keys[0]": "model", "dimension_payload_keys[1]": "token_type",
        }).json()["id"]
    finally:
        stop(server)
    conn = connect(data_dir / "metered.sqlite3", cache_mb=512)
    meter_pk = conn.execute("SELECT pk FROM meters WHERE id=?", (meter,)).fetchone()[0]
    customer_pks = [conn.execute("SELECT pk FROM customers WHERE id=?", (c,)).fetchone()[0]
                    for c in customers]
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO dimension_sets (meter_pk, dims) VALUES (?, ?)", [
        (meter_pk, json.dumps([f"model-{m}", f"type-{t}"], separators=(",", ":")))
        for m in range(MODELS) for t in range(TOKEN_TYPES)
    ])
    conn.execute("COMMIT")
    first_dims = conn.execute("SELECT MIN(dims_pk) FROM dimension_sets WHERE meter_pk=?",
                              (meter_pk,)).fetchone()[0]
    span = month_end - month_start
    measured = customer_pks[0]
    others = customer_pks[1:]
    step = 500_000
    for first in range(1, events + 1, step):
        last = min(events, first + step - 1)
        conn.execute("BEGIN")
        # Values 1..7 (scaled by 10**12 in value_lo); dimension sets and timestamps spread evenly.
        conn.execute(
            "WITH RECURSIVE s(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM s WHERE i < ?)"
            " INSERT INTO meter_events (seq, meter_pk, customer_pk, dims_pk, ts, identifier, fp,"
            " value, value_hi, value_lo, payload, ingested_ms)"
            " SELECT i, ?, CASE WHEN i % 10 = 0 THEN ? ELSE ? + (i % ?) END,"
            " ? + ((i / 10) % 1000), ? + (i * 7919) % ?, 'e' || i, random(),"
            " CAST(1 + i % 7 AS TEXT), 0, (1 + i % 7) * 1000000000000, '{}', ? FROM s",
            (first, last, meter_pk, measured, others[0], len(others), first_dims, month_start,
             span, now_ms()),
        )
        add_stored_events(conn, first, last + 1)
        conn.execute("COMMIT")
    conn.close()
    per_customer = sum(1 + i % 7 for i in range(10, events + 1, 10))
    return meter, customers[0], Decimal(per_customer)


def sample(client: httpx.Client, url: str, params: dict[str, object], n: int
           ) -> tuple[list[float], dict[str, object]]:
    for _ in range(20):
        client.get(url, params=params)
    times = []
    body: dict[str, object] = {}
    for _ in range(n):
        started = time.perf_counter()
        response = client.get(url, params=params)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.text
        body = response.json()
    times.sort()
    return times, body


def fmt(times: list[float]) -> str:
    p = lambda q: times[min(len(times) - 1, int(len(times) * q))] * 1000  # noqa: E731
    return f"p50 {p(0.5):.2f} ms  p99 {p(0.99):.2f} ms  max {times[-1] * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1M events")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    events = args.events or (1_000_000 if args.quick else 20_000_000)
    info = machine()
    print(f"machine: {info}")
    # "A month": the 30 days up to the start of today (UTC), so both ends are day-aligned.
    month_end = int(time.time()) // 86_400 * 86_400
    month_start = month_end - 30 * 86_400
    work = Path(tempfile.mkdtemp(prefix="metered-query-"))
    try:
        data_dir = work / "data"
        key = new_key(data_dir)
        started = time.perf_counter()
        meter, customer, expected = build_store(data_dir, key, events, month_start, month_end)
        print(f"store: {events:,} events built in {time.perf_counter() - started:.0f}s; "
              f"{(data_dir / 'metered.sqlite3').stat().st_size / 1e9:.2f} GB")
        server, port = start_metered(data_dir)
        try:
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=(key, ""))
            window = {"start_time": month_start, "end_time": month_end}
            grouped, body = sample(client, f"/v1/metered/meters/{meter}/usage", {
                "customer": customer, **window, "group_by[]": ["model", "token_type"]},
                args.samples)
            groups = body["data"]
            assert isinstance(groups, list)
            total = sum(Decimal(str(g["aggregated_value"])) for g in groups)
            summary, sbody = sample(client, f"/v1/billing/meters/{meter}/event_summaries", {
                "customer": customer, **window}, args.samples)
            data = sbody["data"]
            assert isinstance(data, list)
            stripe_total = Decimal(str(data[0]["aggregated_value"]))
            health, _ = sample(client, "/healthz", {}, args.samples)
        finally:
            stop(server)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"usage, 1 customer, 30 days, {len(groups)} groups   {fmt(grouped)}")
    print(f"event_summaries, 1 customer, 30 days      {fmt(summary)}")
    print(f"reference: GET /healthz                   {fmt(health)}")
    ok = total == expected == stripe_total and len(groups) == MODELS * TOKEN_TYPES
    print(f"totals: usage {total}, event_summaries {stripe_total}, inserted {expected}: "
          f"{'OK' if ok else 'MISMATCH'}")
    path = save("query", {
        "machine": info, "events": events, "groups": len(groups),
        "usage_p50_ms": grouped[len(grouped) // 2] * 1000,
        "usage_p99_ms": grouped[int(len(grouped) * 0.99)] * 1000,
        "summary_p99_ms": summary[int(len(summary) * 0.99)] * 1000,
        "healthz_p99_ms": health[int(len(health) * 0.99)] * 1000, "ok": ok,
    })
    print(f"results: {path}")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
