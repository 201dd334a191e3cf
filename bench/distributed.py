"""Distributed-mode benchmark: PostgreSQL + Kafka, measured in one run.

    .venv/bin/python bench/distributed.py            # 20 s phases
    .venv/bin/python bench/distributed.py --quick    # 6 s phases

Prints:
1. the embedded server's ingest rate (batches of 1,000), the reference of this run;
2. the API ingest rate into Kafka: one `metered serve --store ... --log ...` process, batches
   of 1,000, answered once the broker has them (acks=all), no worker running;
3. events/s applied by one worker, then by two: the topic filled in (2) is applied into a fresh
   PostgreSQL schema from offset 0, timed from the first applied batch to the last; the
   summaries must then equal exactly what was acknowledged;
4. freshness: at half the maximum rate (the lower of 2 and 3-with-two-workers), open loop,
   the time from an ingest answer to a summary that shows it (a small batch every 100 ms, read
   back with its consistency token), p50 and p99; measured once two freshly started workers
   have shared the partitions (their first rebalance is start-up, not freshness).
Targets on this 2-core machine (issue 4): >= 30,000 events/s per worker; freshness p99 < 1 s.
PostgreSQL and Kafka come from METERED_TEST_POSTGRES_URL / METERED_TEST_KAFKA, or
`scripts/services up`.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    bench_session,
    free_port,
    machine,
    new_key,
    percentile,
    print_machine,
    print_table,
    register_child,
    save,
    start_metered,
    stop_child,
    wait_ready,
)
from ingest_workload import MODELS, TOKEN_TYPES, batch_workload  # noqa: E402
from loadgen import run_load  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CUSTOMERS = 100
PARTITIONS = 8


def services() -> tuple[str, str]:
    if os.environ.get("METERED_TEST_POSTGRES_URL") and os.environ.get("METERED_TEST_KAFKA"):
        return os.environ["METERED_TEST_POSTGRES_URL"], os.environ["METERED_TEST_KAFKA"]
    script = str(ROOT / "scripts" / "services")
    subprocess.run([script, "up"], check=True, capture_output=True, timeout=900)
    out = subprocess.run([script, "env"], check=True, capture_output=True, text=True).stdout
    found = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    return found["METERED_TEST_POSTGRES_URL"], found["METERED_TEST_KAFKA"]


def metered(*args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run([sys.executable, "-m", "metered.cli.main", *args], check=True,
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, **(env or {})})
    return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""


class Store:
    """A fresh PostgreSQL schema, migrated."""

    def __init__(self, base: str):
        self.base = base
        self.name = f"bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')
        self.url = f"{base}?options={quote(f'-csearch_path={self.name}')}"
        metered("migrate", "--store", self.url)

    def drop(self) -> None:
        with psycopg.connect(self.base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')

    def applied(self, topic: str) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            (n,) = conn.execute("SELECT COALESCE(SUM(next_offset), 0) FROM log_offsets"
                                " WHERE topic = %s", [topic]).fetchone()
        return int(n)

    def wal_lsn(self) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            (lsn,) = conn.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()
        return int(lsn)

    def table_bytes(self) -> dict[str, int]:
        """Bytes on disk (with indexes) of the metering tables, partitions included."""
        sizes = {}
        with psycopg.connect(self.url, autocommit=True) as conn:
            for table in ("raw_events", "seen_ids", "usage_rollups", "usage_uniques"):
                (size,) = conn.execute(
                    "SELECT COALESCE(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s"
                    " AND (c.relname = %s OR c.relname LIKE %s) AND c.relkind IN ('r', 'p')",
                    [self.name, table, table + "_d%"]).fetchone()
                sizes[table] = int(size)
        return sizes

    def accepted_value(self) -> int:
        with psycopg.connect(self.url, autocommit=True) as conn:
            (total,) = conn.execute("SELECT COALESCE(SUM(total), 0) FROM usage_rollups"
                                    " WHERE level = 1440").fetchone()
        return int(total)


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "metered.cli.main", *args],
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **env})
    register_child(proc)
    return proc


def setup_account(port: int, key: str) -> tuple[str, list[str]]:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=(key, ""), timeout=60) as c:
        meter = c.post("/v1/billing/meters", data={
            "display_name": "tokens", "event_name": "tokens",
            "default_aggregation[formula]": "sum",
            "customer_mapping[event_payload_key]": "stripe_customer_id",
            "customer_mapping[type]": "by_id", "value_settings[event_payload_key]": "value",
            "dimension_payload_keys[0]": "model", "dimension_payload_keys[1]": "token_type"})
        meter.raise_for_status()
        customers = [c.post("/v1/customers", data={"name": f"c{n}"}).json()["id"]
                     for n in range(CUSTOMERS)]
    return meter.json()["id"], customers


def topic_end(kafka: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": kafka, "group.id": "bench-watermarks"})
    try:
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                   for p in range(PARTITIONS))
    finally:
        consumer.close()


def apply_rate(store: Store, topic: str, end: int, env: dict[str, str], workers: int,
               folder: Path, events: int) -> dict[str, float]:
    """Start `workers` on a fresh store; events/s from the first applied batch to the end."""
    procs = [spawn(["worker", "--log-level", "warning"], env, folder / f"worker{workers}-{i}.log")
             for i in range(workers)]
    first_at = None
    first_applied = 0
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            applied = store.applied(topic)
            now = time.monotonic()
            if applied and first_at is None:
                first_at, first_applied = now, applied
            if applied >= end:
                break
            time.sleep(0.05)
        else:
            raise RuntimeError(f"workers did not catch up: {store.applied(topic)} of {end}")
        seconds = now - (first_at or now)
        share = (end - first_applied) / end if end else 0
        return {"workers": workers, "seconds": seconds,
                "events_per_s": events * share / seconds if seconds else 0.0}
    finally:
        for proc in procs:
            stop_child(proc)


def freshness(port: int, key: str, meter: str, customer: str, seconds: float
              ) -> list[float]:
    """Every 100 ms: a 10-event batch, then its summary read with the answer's token."""
    samples: list[float] = []
    now = int(time.time())
    start = (now // 3600 - 2) * 3600
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", auth=(key, ""), timeout=30) as c:
        stop = time.monotonic() + seconds
        n = 0
        while time.monotonic() < stop:
            batch = [{"event_name": "tokens", "identifier": f"fresh-{uuid.uuid4().hex}",
                      "timestamp": int(time.time()),
                      "payload": {"stripe_customer_id": customer, "value": "1",
                                  "model": MODELS[0], "token_type": TOKEN_TYPES[0]}}
                     for _ in range(10)]
            answer = c.post("/v1/metered/events/batch", json=batch)
            acked = time.perf_counter()
            answer.raise_for_status()
            token = answer.headers["metered-consistency-token"]
            shown = c.get(f"/v1/billing/meters/{meter}/event_summaries", params={
                "customer": customer, "start_time": start, "end_time": start + 5 * 3600},
                headers={"metered-consistency-token": token})
            shown.raise_for_status()
            samples.append(time.perf_counter() - acked)
            n += 1
            time.sleep(max(0.0, 0.1 - (time.perf_counter() - acked)))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seconds", type=float)
    args = parser.parse_args()
    seconds = args.seconds or (6.0 if args.quick else 20.0)
    info = machine()
    print_machine(info)
    postgres, kafka = services()
    results: dict[str, Any] = {"machine": info, "seconds": seconds}
    with bench_session("distributed") as folder:
        # 1. the reference: the embedded server, batches of 1,000
        data_dir = folder / "embedded"
        proc, port = start_metered(data_dir)
        key = new_key(data_dir)
        meter, customers = setup_account(port, key)
        work = batch_workload(key, customers, 8, 1, (0.0, 0))
        embedded = run_load(port, work, prefix="e", connections=4, seconds=seconds)
        stop_child(proc)
        results["embedded_events_per_s"] = embedded.accepted / embedded.seconds

        # 2. API ingest into Kafka, no worker
        first = Store(postgres)
        topic = f"bench-{first.name}"
        log = f"kafka://{kafka}/{topic}?partitions={PARTITIONS}"
        env = {"METERED_STORE": first.url, "METERED_LOG": log}
        key = metered("keys", "create", "--store", first.url)
        port = free_port()
        api = spawn(["serve", "--port", str(port), "--log-level", "warning"], env,
                    folder / "api.log")
        wait_ready(port, api)
        meter, customers = setup_account(port, key)
        work = batch_workload(key, customers, 8, 2, (0.0, 0))
        ingest = run_load(port, work, prefix="k", connections=4, seconds=seconds)
        if ingest.errors:
            raise RuntimeError(f"API errors: {ingest.error_samples}")
        results["api_events_per_s"] = ingest.accepted / ingest.seconds
        p99 = percentile(ingest.sorted_latencies(), 0.99) * 1e3
        results["api_ack_p99_ms"] = p99
        end = topic_end(kafka, topic)

        # 3. one worker, then two, each from offset 0 into a store of its own
        lsn = first.wal_lsn()
        one = apply_rate(first, topic, end, env, 1, folder, ingest.accepted)
        exact_one = first.accepted_value() == ingest.accepted_value
        n = ingest.accepted
        results["per_event_bytes"] = {
            "wal": (first.wal_lsn() - lsn) / n,
            **{table: size / n for table, size in first.table_bytes().items()}}
        stop_child(api)
        second = Store(postgres)
        metered("keys", "create", "--store", second.url)
        # the catalog (meter, customers) of the first store, so the records resolve
        with psycopg.connect(postgres, autocommit=True) as conn:
            for table in ("accounts", "api_keys", "meters", "customers", "dimension_sets"):
                conn.execute(f'DELETE FROM "{second.name}".{table}')
                conn.execute(f'INSERT INTO "{second.name}".{table}'
                             f' SELECT * FROM "{first.name}".{table}')
        env2 = {"METERED_STORE": second.url, "METERED_LOG": log}
        two = apply_rate(second, topic, end, env2, 2, folder, ingest.accepted)
        exact_two = second.accepted_value() == ingest.accepted_value
        results.update(one_worker=one, two_workers=two, exact=exact_one and exact_two)

        # 4. freshness at half the maximum rate, two workers running
        port = free_port()
        api = spawn(["serve", "--port", str(port), "--log-level", "warning"], env2,
                    folder / "api2.log")
        wait_ready(port, api)
        workers = [spawn(["worker", "--log-level", "warning"], env2, folder / f"w{i}.log")
                   for i in range(2)]
        # Measure once the group has settled: two workers joining at once rebalance for a few
        # seconds, which is start-up, not freshness.
        settle = time.monotonic() + 60
        while time.monotonic() < settle:
            try:
                if freshness(port, key, meter, customers[0], 0.01):
                    break
            except httpx.HTTPError:
                pass
        time.sleep(3)
        half = min(results["api_events_per_s"], two["events_per_s"]) / 2
        samples: list[float] = []
        sampler = threading.Thread(target=lambda: samples.extend(
            freshness(port, key, meter, customers[0], seconds)))
        sampler.start()
        paced = run_load(port, work, prefix="f", connections=8, seconds=seconds,
                         rate=half / 1000)
        sampler.join()
        for proc in (*workers, api):
            stop_child(proc)
        ordered = sorted(samples)
        results["freshness"] = {
            "rate_events_per_s": paced.accepted / paced.seconds, "samples": len(ordered),
            "p50_ms": percentile(ordered, 0.5) * 1e3, "p99_ms": percentile(ordered, 0.99) * 1e3}
        first.drop()
        second.drop()
    ref = results["embedded_events_per_s"]
    fresh = results["freshness"]
    print_table([
        ("embedded ingest (reference)", f"{ref:,.0f} events/s"),
        ("API ingest into Kafka", f"{results['api_events_per_s']:,.0f} events/s"
                                  f" (ratio {results['api_events_per_s'] / ref:.2f}),"
                                  f" ack p99 {results['api_ack_p99_ms']:.0f} ms"),
        ("one worker applies", f"{one['events_per_s']:,.0f} events/s"
                               f" (ratio {one['events_per_s'] / ref:.2f})"),
        ("two workers apply", f"{two['events_per_s']:,.0f} events/s"
                              f" (ratio {two['events_per_s'] / ref:.2f})"),
        ("freshness at half rate", f"p50 {fresh['p50_ms']:.0f} ms, p99 {fresh['p99_ms']:.0f} ms"
                                   f" ({fresh['rate_events_per_s']:,.0f} events/s,"
                                   f" {fresh['samples']} samples)"),
        ("PostgreSQL bytes per event", ", ".join(
            f"{k} {v:,.0f}" for k, v in results["per_event_bytes"].items())),
        ("exactly once (summaries = acknowledged)", str(results["exact"])),
    ])
    print(f"saved {save('distributed', results)}")
    if not results["exact"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
