"""Ingest benchmark: metered's durable ingest rate and ack latency beside a parse-only ceiling.

    python bench/ingest.py                 # full run: 20M ids in the dedupe window, 30 s phases
    python bench/ingest.py --quick         # 1M ids, 5 s phases

Prints (a) the ceiling: the same HTTP stack answering the same 1,000-event batches after only
parsing them; (b) metered's sustained durable rate; (c) their ratio; (d) single-event
requests/s beside the ceiling's; (e) ack latency p50/p99 at half the maximum batch rate; (f)
memory and disk per million ids in the dedupe window. Then checks that the usage total equals
exactly what was acknowledged.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    machine,
    new_key,
    rss_mb,
    save,
    start_ceiling,
    start_metered,
    stop,
)
from loadgen import LoadResult, http_request, run_in_process  # noqa: E402

from metered.clock import now_ms  # noqa: E402
from metered.store import open_database  # noqa: E402

CUSTOMERS = 100
MODELS = [f"model-{i}" for i in range(10)]
TOKEN_TYPES = ["input", "output"]


def prefill_window(data_dir: Path, ids: int) -> float:
    """Put `ids` earlier events (with random key fingerprints) in the store, as if ingested in
    the last day: the dedupe index must hold them all. Returns seconds taken."""
    started = time.perf_counter()
    db = open_database(data_dir, cache_mb=64)
    conn = sqlite3.connect(db.path, isolation_level=None)
    ingested = now_ms() - 3_600_000
    step = 1_000_000
    for first in range(1, ids + 1, step):
        last = min(ids, first + step - 1)
        conn.execute("BEGIN")
        conn.execute(
            "WITH RECURSIVE s(i) AS (SELECT ? UNION ALL SELECT i + 1 FROM s WHERE i < ?)"
            " INSERT INTO meter_events (seq, meter_pk, customer_pk, dims_pk, ts, identifier, fp,"
            " value, value_hi, value_lo, payload, ingested_ms)"
            " SELECT i, 0, 0, 0, ?, 'prefill-' || i, random(), '1', 0, 0, '{}', ? FROM s",
            (first, last, ingested // 1000, ingested),
        )
        conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


def batch_bodies(event_name: str, customers: list[str], count: int, size: int) -> list[bytes]:
    now = int(time.time())
    rng = random.Random(1)
    bodies = []
    for _ in range(count):
        events = [{
            "event_name": event_name, "identifier": uuid.uuid4().hex,
            "timestamp": now - rng.randint(0, 120),
            "payload": {"stripe_customer_id": rng.choice(customers),
                        "value": str(rng.randint(1, 4000)), "model": rng.choice(MODELS),
                        "token_type": rng.choice(TOKEN_TYPES)},
        } for _ in range(size)]
        bodies.append(json.dumps(events).encode())
    return bodies


def single_bodies(event_name: str, customers: list[str], count: int) -> list[bytes]:
    rng = random.Random(2)
    return [
        (f"event_name={event_name}&identifier={uuid.uuid4().hex}"
         f"&payload[stripe_customer_id]={rng.choice(customers)}&payload[value]=3"
         f"&payload[model]={rng.choice(MODELS)}&payload[token_type]=input").encode()
        for _ in range(count)
    ]


def accepted_of(result: LoadResult, per_request: int) -> int:
    return (result.requests - result.errors) * per_request


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1M ids, 5 s phases")
    parser.add_argument("--dedupe-ids", type=int, default=None)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    ids = args.dedupe_ids if args.dedupe_ids is not None else (
        1_000_000 if args.quick else 20_000_000)
    seconds = args.seconds or (5.0 if args.quick else 30.0)
    info = machine()
    print(f"machine: {info}")
    work = Path(tempfile.mkdtemp(prefix="metered-bench-"))
    out: dict[str, object] = {"machine": info, "dedupe_ids": ids, "seconds": seconds}
    try:
        data_dir = work / "data"
        prefill = prefill_window(data_dir, ids)
        print(f"dedupe window pre-filled with {ids:,} ids in {prefill:.0f}s "
              "(rows written straight into the store, as earlier ingests would have)")
        key = new_key(data_dir)

        ceiling, cport = start_ceiling()
        try:
            fake_customers = [f"cus_{i}" for i in range(CUSTOMERS)]
            batches = [http_request("POST", "/v1/metered/events/batch", b, auth=key,
                                    content_type="application/json")
                       for b in batch_bodies("tokens", fake_customers, 200, 1000)]
            singles = [http_request("POST", "/v1/billing/meter_events", b, auth=key,
                                    content_type="application/x-www-form-urlencoded")
                       for b in single_bodies("tokens", fake_customers, 20_000)]
            c_batch = run_in_process("127.0.0.1", cport, batches,
                                     connections=args.connections, seconds=seconds)
            c_single = run_in_process("127.0.0.1", cport, singles, connections=64,
                                      seconds=seconds)
        finally:
            stop(ceiling)

        started = time.perf_counter()
        server, port = start_metered(data_dir)
        startup = time.perf_counter() - started
        try:
            rss_start = rss_mb(server.pid)
            api = httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=(key, ""), timeout=60)
            customers = [api.post("/v1/customers", data={"name": f"c{i}"}).json()["id"]
                         for i in range(CUSTOMERS)]
            meter = api.post("/v1/billing/meters", data={
                "display_name": "Tokens", "event_name": "tokens",
                "default_aggregation[formula]": "sum",
                "dimension_payload_keys[0]": "model", "dimension_payload_keys[1]": "token_type",
            }).json()["id"]
            bodies = batch_bodies("tokens", customers, int(seconds * 150) + 400, 1000)
            requests = [http_request("POST", "/v1/metered/events/batch", b, auth=key,
                                     content_type="application/json") for b in bodies]
            used = 0
            warm = run_in_process("127.0.0.1", port, requests[:50], connections=4, seconds=2)
            used = 50
            m_batch = run_in_process("127.0.0.1", port, requests[used:],
                                     connections=args.connections, seconds=seconds)
            used += m_batch.requests + args.connections
            half = m_batch.rate() / 2
            m_paced = run_in_process("127.0.0.1", port, requests[used:], connections=16,
                                     seconds=seconds, rate=half)
            singles = [http_request("POST", "/v1/billing/meter_events", b, auth=key,
                                    content_type="application/x-www-form-urlencoded")
                       for b in single_bodies("tokens", customers, 200_000)]
            m_single = run_in_process("127.0.0.1", port, singles, connections=64,
                                      seconds=seconds)
            rss_end = rss_mb(server.pid)
            accepted = 1000 * (warm.requests + m_batch.requests + m_paced.requests) + \
                m_single.requests
            now = int(time.time())
            usage = api.get(f"/v1/metered/meters/{meter}/usage", params={
                "start_time": (now - 86_400) // 60 * 60, "end_time": (now // 60 + 2) * 60,
            }).json()
            counted = sum(row["aggregated_value"] for row in usage["data"])
            expected = sum(
                sum(int(e["payload"]["value"]) for e in json.loads(b))
                for b in bodies[: warm.requests]
            )
            errors = warm.errors + m_batch.errors + m_paced.errors + m_single.errors
        finally:
            stop(server)
        db_bytes = sum(p.stat().st_size for p in data_dir.iterdir() if p.is_file())
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ratio = m_batch.rate() * 1000 / (c_batch.rate() * 1000)
    rows = [
        ("(a) ceiling, batches of 1,000", f"{c_batch.rate() * 1000:,.0f} events/s"),
        ("(b) metered, batches of 1,000, durable", f"{m_batch.rate() * 1000:,.0f} events/s"),
        ("(c) ratio b/a", f"{ratio:.2f}"),
        ("(d) metered, single events", f"{m_single.rate():,.0f} requests/s "
                                       f"(ceiling {c_single.rate():,.0f}/s, "
                                       f"ratio {m_single.rate() / c_single.rate():.2f})"),
        ("(e) ack latency at half max rate", f"p50 {m_paced.percentile(0.5) * 1000:.1f} ms, "
                                             f"p99 {m_paced.percentile(0.99) * 1000:.1f} ms "
                                             f"({m_paced.rate() * 1000:,.0f} events/s)"),
        ("    ack latency at max rate", f"p50 {m_batch.percentile(0.5) * 1000:.1f} ms, "
                                        f"p99 {m_batch.percentile(0.99) * 1000:.1f} ms"),
        ("    single-event latency", f"p50 {m_single.percentile(0.5) * 1000:.1f} ms, "
                                     f"p99 {m_single.percentile(0.99) * 1000:.1f} ms"),
        ("(f) dedupe window", f"{ids:,} ids; startup {startup:.1f}s; "
                              f"RSS {rss_start:.0f} MB -> {rss_end:.0f} MB "
                              f"({rss_start / max(ids / 1e6, 1):.0f} MB per million ids "
                              "at start, page cache included)"),
        ("    store on disk", f"{db_bytes / 1e9:.2f} GB after the run"),
        ("    errors (non-200 answers)", str(errors)),
    ]
    width = max(len(r[0]) for r in rows)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    out.update({
        "ceiling_batch_events_per_s": c_batch.rate() * 1000,
        "metered_batch_events_per_s": m_batch.rate() * 1000, "ratio": ratio,
        "ceiling_single_per_s": c_single.rate(), "metered_single_per_s": m_single.rate(),
        "paced_p50_ms": m_paced.percentile(0.5) * 1000,
        "paced_p99_ms": m_paced.percentile(0.99) * 1000,
        "startup_s": startup, "rss_start_mb": rss_start, "rss_end_mb": rss_end,
        "db_bytes": db_bytes, "accepted": accepted, "errors": errors,
    })
    print(f"results: {save('ingest', out)}")
    if errors or counted < expected:
        print(f"CHECK FAILED: errors={errors}, counted={counted}, warm-up alone={expected}")
        sys.exit(1)


if __name__ == "__main__":
    main()
