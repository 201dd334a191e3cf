"""SDK benchmark: how many events/s one Python process pushes through `client.events.send`
(the background sender, batches of 1,000) into a local server, next to the server's own
ingest rate for batches of 1,000 measured in the same run by the load generator.

    .venv/bin/python bench/sdk.py            # 20 s phases
    .venv/bin/python bench/sdk.py --quick    # 5 s phases

The SDK must not be the bottleneck: target ratio >= 0.8. Both phases run against the same
`metered serve` on a fresh store; the SDK phase runs in its own process (as a user's
application would), sends for the phase's length, then flushes; every event it queued must
come back accepted, and the meter's total must equal the values it sent.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import random
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    KeepAliveClient,
    bench_session,
    cpu_ticks,
    machine,
    new_key,
    print_machine,
    print_table,
    save,
    start_metered,
    steal_share,
)
from ingest import usage_total  # noqa: E402 - the same check as the ingest benchmark's
from ingest_workload import MODELS, TOKEN_TYPES, batch_workload  # noqa: E402
from loadgen import run_load  # noqa: E402

CUSTOMERS = 20
EVENT_NAME = "tokens"


def sdk_phase(port: int, key: str, customers: list[str], seconds: float, workers: int,
              out: mp.connection.Connection) -> None:
    """In a process of its own: send for `seconds`, flush, report."""
    from metered.client import Client

    rng = random.Random(7)
    sent = total = 0
    with Client(api_key=key, base_url=f"http://127.0.0.1:{port}", batch_size=1000,
                sender_workers=workers) as client:
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            for _ in range(1000):
                value = rng.randint(1, 4000)
                client.events.send(EVENT_NAME, {
                    "stripe_customer_id": customers[sent % len(customers)], "value": value,
                    "model": MODELS[sent % len(MODELS)],
                    "token_type": TOKEN_TYPES[sent % len(TOKEN_TYPES)]})
                sent += 1
                total += value
        client.events.flush()
        elapsed = time.perf_counter() - started
        sender = client.events.sender
        out.send({"sent": sent, "value": total, "seconds": elapsed,
                  "accepted": sender.accepted, "duplicate": sender.duplicates,
                  "rejected": sender.rejected})
    out.close()


def run_sdk(port: int, key: str, customers: list[str], seconds: float, workers: int
            ) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=sdk_phase, args=(port, key, customers, seconds, workers, child))
    before = cpu_ticks()
    proc.start()
    child.close()
    result: dict[str, Any] = parent.recv()
    proc.join(timeout=60)
    result["steal_share"] = steal_share(before, cpu_ticks())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 s phases")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--workers", type=int, default=4, help="the sender's threads")
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    info = machine()
    print_machine(info)
    with bench_session("metered-sdk-") as work:
        data_dir = work / "data"
        key = new_key(data_dir)
        proc, port = start_metered(data_dir)
        client = KeepAliveClient(port, key)
        customers = [client.json("POST", "/v1/customers", {"name": f"c{i}"})["id"]
                     for i in range(CUSTOMERS)]
        meter = client.json("POST", "/v1/billing/meters", {
            "display_name": "Tokens", "event_name": EVENT_NAME,
            "default_aggregation[formula]": "sum",
            "dimension_payload_keys[0]": "model", "dimension_payload_keys[1]": "token_type",
        })["id"]
        client.close()
        start = int(time.time()) - 120

        print(f"(a) the server's own rate: batches of 1,000 from the load generator,"
              f" {seconds:.0f} s")
        before = cpu_ticks()
        reference = run_load(port, batch_workload(key, customers, 8, 1, (0.0, 0)), prefix="r",
                             connections=8, seconds=seconds, watch_pid=proc.pid)
        server_rate = reference.rate() * 1000
        server_steal = steal_share(before, cpu_ticks())
        print(f"(b) one Python process through client.events.send, {seconds:.0f} s")
        sdk = run_sdk(port, key, customers, seconds, args.workers)
        sdk_rate = sdk["accepted"] / sdk["seconds"]
        total = usage_total(port, key, meter, start)
        expected = reference.accepted_value + sdk["value"]
        ratio = sdk_rate / server_rate
        rows = [
            ("(a) server: batches of 1,000, 8 connections",
             f"{server_rate:,.0f} events/s (steal {server_steal or 0:.0%})"),
            ("(b) SDK: one process, events.send + flush",
             f"{sdk_rate:,.0f} events/s ({sdk['sent']:,} sent, {sdk['accepted']:,} accepted,"
             f" {sdk['duplicate']} duplicate, {sdk['rejected']} rejected; steal"
             f" {sdk['steal_share'] or 0:.0%})"),
            ("(c) ratio b / a", f"{ratio:.3f}   target >= 0.8"),
            ("exactly-once", f"usage {total:,} vs sent {expected:,}: "
             f"{'equal' if total == expected else 'DIFFERENT'}"),
        ]
        print("-" * 100)
        print_table(rows)
        print("-" * 100)
        path = save("sdk", {"machine": info, "seconds": seconds, "server_events_per_s":
                            server_rate, "sdk": sdk, "sdk_events_per_s": sdk_rate,
                            "ratio": ratio, "usage_total": total, "expected": expected})
        print(f"results: {path}")
        if total != expected or sdk["accepted"] != sdk["sent"]:
            raise SystemExit("exactly-once check failed")


if __name__ == "__main__":
    main()
