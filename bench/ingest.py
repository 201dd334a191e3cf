"""Ingest benchmark: metered's durable ingest rate and ack latency beside a parse-only ceiling.

    .venv/bin/python bench/ingest.py            # full: 20M ids in the dedupe window, 30 s phases
    .venv/bin/python bench/ingest.py --quick    # dev run: 1M ids, 5 s phases

Measured in one run, on one machine, with the load generator in its own process:
  (a) ceiling: uvicorn + uvloop + httptools (one process, as `metered serve`) serving
      bench/ceiling_app.py, which only decodes each 1,000-event batch and answers a per-event
      list of the same shape; events/s.
  (b) metered's sustained durable rate for the same batches (unique identifiers, 100 customers,
      8 models x 3 token types; timestamps within the last minute, except a share of late
      events (--late-share, 2%) spread over the last 3 days (--late-hours)),
      after a warm-up.
  (c) b / a.
  (d) single events (form-encoded v1 meter events, as the stripe SDK sends them, many keep-alive
      connections), requests/s, beside the ceiling app's rate for the same requests.
  (e) ack latency p50/p99 with the batches paced (open loop) at half of (b).
  (f) server RSS before/after, store size, the dedupe window (pre-filled before the server
      starts), bytes per million window ids on disk.
Then checks exactly-once: the usage total equals the sum of the values acknowledged as
accepted, and re-sent batches come back as duplicates.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    KeepAliveClient,
    bench_session,
    cpu_seconds,
    cpu_ticks,
    fsync_latency,
    machine,
    new_key,
    percentile,
    print_machine,
    print_table,
    rss_mb,
    save,
    start_ceiling,
    start_metered,
    steal_share,
    stop_child,
    store_bytes,
    wal_bytes,
)
from ingest_workload import (  # noqa: E402
    BATCH,
    CUSTOMERS,
    EVENT_NAME,
    batch_workload,
    earliest_timestamp,
    prefill_window,
    single_workload,
)
from loadgen import TAG, LoadResult, Workload, merge_results, run_load  # noqa: E402
from stages import breakdown, describe  # noqa: E402

# --- phases ----------------------------------------------------------------------------------


class Phase:
    """One load phase's result, with the CPU both processes used during the window."""

    def __init__(self, name: str, result: LoadResult, per_request: int,
                 steal: float | None = None):
        self.name = name
        self.result = result
        self.per_request = per_request
        self.steal = steal  # harness.steal_share over the phase
        self.server_cores = result.server_cpu_s / result.seconds
        self.client_cores = result.client_cpu_s / result.seconds
        self.latencies = result.sorted_latencies()

    def ms(self, q: float) -> float:
        return percentile(self.latencies, q) * 1000

    def cpu(self) -> str:
        steal = "" if self.steal is None else f", steal {self.steal:.0%}"
        return (f"server {self.server_cores:.0%} CPU, load generator {self.client_cores:.0%}"
                f"{steal}")

    def written_per_event(self) -> float:
        """Bytes the server wrote to storage (WAL and checkpoints) per accepted event."""
        return self.result.server_write_bytes / max(self.result.requests * self.per_request, 1)

    def stages(self) -> dict[str, Any]:
        """The server's stages (Server-Timing) against the latencies (bench/stages.py); only
        batches collect them."""
        if not self.result.timings:
            return {}
        return breakdown(self.result.latencies, self.result.timings)

    def summary(self) -> dict[str, Any]:
        r = self.result
        return {
            "requests_per_s": r.rate(), "events_per_s": r.rate() * self.per_request,
            "seconds": r.seconds, "requests": r.requests, "answered": r.answered,
            "accepted": r.accepted, "duplicate": r.duplicate, "rejected": r.rejected,
            "errors": r.errors, "error_samples": r.error_samples, "late_sends": r.late_sends,
            "latency_ms": {"p50": self.ms(0.5), "p90": self.ms(0.9), "p99": self.ms(0.99),
                           "max": self.ms(1.0)},
            "server_cores": self.server_cores, "loadgen_cores": self.client_cores,
            "steal_share": self.steal,
            "server_write_bytes": r.server_write_bytes,
            "per_second_requests": r.interval_rates(1.0),
            "server_stages_ms": self.stages(),
        }


def run_phase(name: str, pid: int, port: int, work: Workload, *, prefix: str,
              connections: int, seconds: float, rate: float | None = None) -> Phase:
    before = cpu_ticks()
    result = run_load(port, work, prefix=prefix, connections=connections, seconds=seconds,
                      rate=rate, watch_pid=pid)
    steal = steal_share(before, cpu_ticks())
    if result.errors:
        print(f"  {name}: {result.errors} errors, e.g. {result.error_samples[:2]}")
    return Phase(name, result, work.events_per_request, steal)


def measure_ceiling(args: argparse.Namespace, batches: Workload, singles: Workload,
                    prefixes: str) -> tuple[LoadResult, LoadResult, float]:
    """Half of the ceiling's measurement: batches, then single events; and its RSS."""
    ceiling, port = start_ceiling()
    try:
        run_load(port, batches, prefix="x", connections=args.connections, seconds=1.0)
        half = args.seconds / 2
        batch = run_load(port, batches, prefix=prefixes[0], connections=args.connections,
                         seconds=half, watch_pid=ceiling.pid)
        single = run_load(port, singles, prefix=prefixes[1],
                          connections=args.single_connections, seconds=half,
                          watch_pid=ceiling.pid)
        return batch, single, rss_mb(ceiling.pid)
    finally:
        stop_child(ceiling)


def resend_check(port: int, key: str, batches: Workload, singles: Workload) -> dict[str, Any]:
    """Re-send three acknowledged batches and one single event: all must be duplicates."""
    client = KeepAliveClient(port, key)
    duplicates = 0
    try:
        for k in range(3):  # request k of the max-rate phase ('m'), answered in the run
            request = batches.templates[k % len(batches.templates)].replace(
                TAG, b"m" + b"%011d" % k)
            status, body = client.exchange(request)
            answer = json.loads(body)
            if status == 200 and answer["duplicate"] == BATCH:
                duplicates += BATCH
        request = singles.templates[0].replace(TAG, b"s" + b"%011d" % 0)
        status, body = client.exchange(request)
        single_ok = status == 400 and b"duplicate_meter_event" in body
    finally:
        client.close()
    return {"batch_events_resent": 3 * BATCH, "came_back_duplicate": duplicates,
            "single_resent_is_duplicate": single_ok}


def usage_total(port: int, key: str, meter: str, start: int) -> int:
    client = KeepAliveClient(port, key)
    try:
        end = (int(time.time()) // 60 + 2) * 60
        answer = client.json("GET", f"/v1/metered/meters/{meter}/usage",
                             {"start_time": start // 60 * 60, "end_time": end})
    finally:
        client.close()
    return int(sum(row["aggregated_value"] for row in answer["data"]))


# --- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="fast dev run: 1M ids in the window, 5 s phases, 2 s warm-up")
    parser.add_argument("--dedupe-ids", type=int, default=None,
                        help="ids pre-filled in the dedupe window (default 20,000,000)")
    parser.add_argument("--seconds", type=float, default=None,
                        help="length of each measured phase (default 30)")
    parser.add_argument("--warmup", type=float, default=None,
                        help="warm-up before the batch phases (default 5)")
    parser.add_argument("--late-share", type=float, default=0.02,
                        help="share of late events (default 0.02); the others are stamped"
                             " within the minute before the workload is built")
    parser.add_argument("--late-hours", type=float, default=72,
                        help="late events lie up to this many hours before now (default 72)")
    parser.add_argument("--connections", type=int, default=8,
                        help="keep-alive connections for batches (default 8)")
    parser.add_argument("--single-connections", type=int, default=64,
                        help="keep-alive connections for single events (default 64)")
    parser.add_argument("--paced-connections", type=int, default=16,
                        help="connections for the paced latency phase (default 16)")
    args = parser.parse_args()
    if args.dedupe_ids is None:
        args.dedupe_ids = 1_000_000 if args.quick else 20_000_000
    if args.seconds is None:
        args.seconds = 5.0 if args.quick else 30.0
    if args.warmup is None:
        args.warmup = 2.0 if args.quick else 5.0
    return args


def main() -> None:
    args = parse_args()
    info = machine()
    print_machine(info)
    quick = "  (--quick: a dev run, not official figures)" if args.quick else ""
    print(f"run: dedupe window {args.dedupe_ids:,} ids, phases of {args.seconds:g} s "
          f"after {args.warmup:g} s warm-up{quick}")
    with bench_session("metered-bench-ingest-") as work:
        out = run(args, work)
    out["machine"] = info
    print(f"results: {save('ingest', out)}")
    if not out["ok"]:
        sys.exit(1)


def empty_server_rss(data_dir: Path) -> float:
    """RSS of `metered serve` on an empty store: the baseline for the window's memory."""
    proc, _ = start_metered(data_dir)
    try:
        return rss_mb(proc.pid)
    finally:
        stop_child(proc)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    key: str
    meter: str
    customers: list[str]
    startup_s: float
    rss_start_mb: float


def start_and_set_up(data_dir: Path, key: str) -> Server:
    """Start metered on the pre-filled store; create the customers and the meter."""
    started = time.perf_counter()
    proc, port = start_metered(data_dir)
    startup = time.perf_counter() - started
    rss = rss_mb(proc.pid)
    print(f"metered started in {startup:.1f} s with the window loaded; RSS {rss:.0f} MB")
    client = KeepAliveClient(port, key)
    customers = [client.json("POST", "/v1/customers", {"name": f"customer {i}"})["id"]
                 for i in range(CUSTOMERS)]
    meter = client.json("POST", "/v1/billing/meters", {
        "display_name": "Tokens", "event_name": EVENT_NAME,
        "default_aggregation[formula]": "sum",
        "dimension_payload_keys[0]": "model", "dimension_payload_keys[1]": "token_type",
    })["id"]
    client.close()
    return Server(proc, port, key, meter, customers, startup, rss)


def measure_metered(args: argparse.Namespace, server: Server, batches: Workload,
                    singles: Workload) -> dict[str, Phase]:
    pid, port = server.proc.pid, server.port
    print("(b) metered, batches at the maximum rate ...", flush=True)
    warm = run_phase("warm-up", pid, port, batches, prefix="w",
                     connections=args.connections, seconds=args.warmup)
    top = run_phase("metered batches", pid, port, batches, prefix="m",
                    connections=args.connections, seconds=args.seconds)
    half = top.result.rate() / 2
    print(f"(e) metered, batches paced at {half * BATCH:,.0f} events/s ...", flush=True)
    paced = run_phase("metered paced", pid, port, batches, prefix="p",
                      connections=args.paced_connections, seconds=args.seconds, rate=half)
    print("(d) metered, single events ...", flush=True)
    single = run_phase("metered singles", pid, port, singles, prefix="s",
                       connections=args.single_connections, seconds=args.seconds)
    return {"warm": warm, "batch": top, "paced": paced, "single": single}


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data_dir = work / "data"
    rss_empty = empty_server_rss(work / "empty")
    print(f"pre-filling the dedupe window with {args.dedupe_ids:,} ids ...", flush=True)
    window = prefill_window(data_dir, args.dedupe_ids)
    print(f"  done in {window['seconds']:.0f} s: {window['layout']}")
    server = start_and_set_up(data_dir, new_key(data_dir))
    late = (args.late_share, int(args.late_hours * 3600))
    batches = batch_workload(server.key, server.customers, templates=64, seed=1, late=late)
    singles = single_workload(server.key, server.customers, templates=2000, seed=2, late=late)

    # The ceiling is measured in two halves, before and after metered, so that a drift in the
    # machine's speed during the run shows (and averages out) instead of skewing the ratio.
    idle_cpu = cpu_seconds(server.proc.pid)
    print("(a) ceiling app, first half ...", flush=True)
    first = measure_ceiling(args, batches, singles, "cd")
    idle_cpu = cpu_seconds(server.proc.pid) - idle_cpu
    if idle_cpu > 0.02 * args.seconds:
        print(f"note: the idle metered server used {idle_cpu:.1f} s of CPU meanwhile")

    disk = fsync_latency(work)
    m = measure_metered(args, server, batches, singles)
    disk_after = fsync_latency(work)
    rss_end = rss_mb(server.proc.pid)
    rss_peak = rss_mb(server.proc.pid, "VmHWM")
    print("checking exactly-once ...", flush=True)
    check = check_exactly_once(server, batches, singles, list(m.values()))
    wal_end = wal_bytes(data_dir)  # before the shutdown's checkpoint truncates it
    stop_child(server.proc)
    db_end = store_bytes(data_dir)

    print("(a) ceiling app, second half ...", flush=True)
    second = measure_ceiling(args, batches, singles, "ef")
    ceiling = {
        "batch": Phase("ceiling batches", merge_results([first[0], second[0]]), BATCH),
        "single": Phase("ceiling singles", merge_results([first[1], second[1]]), 1),
        "halves": [r.rate() * BATCH for r in (first[0], second[0])],
        "rss_mb": max(first[2], second[2]),
    }
    memory = {"window": window, "startup_s": server.startup_s, "db_end": db_end,
              "wal_end": wal_end,
              "fsync": [disk, disk_after],
              "rss_empty": rss_empty,
              "rss_start": server.rss_start_mb, "rss_end": rss_end, "rss_peak": rss_peak}
    print_table(report_rows(args, ceiling, m, memory, check))
    print("OK" if check["ok"] else "CHECK FAILED")
    return results_json(args, ceiling, m, memory, check)


def check_exactly_once(server: Server, batches: Workload, singles: Workload,
                       phases: list[Phase]) -> dict[str, Any]:
    """The usage total must equal the acknowledged values; re-sent events must be duplicates."""
    resent = resend_check(server.port, server.key, batches, singles)
    earliest = min(earliest_timestamp(batches), earliest_timestamp(singles))
    counted = usage_total(server.port, server.key, server.meter, earliest)
    acknowledged = sum(p.result.accepted_value for p in phases)
    failed = sum(p.result.errors + p.result.rejected + p.result.duplicate for p in phases)
    ok = (counted == acknowledged and failed == 0
          and resent["came_back_duplicate"] == resent["batch_events_resent"]
          and resent["single_resent_is_duplicate"])
    return {"ok": ok, "usage_total": counted, "acknowledged_value": acknowledged,
            "accepted_events": sum(p.result.accepted for p in phases),
            "failed_or_not_accepted": failed, **resent}


def report_rows(args: argparse.Namespace, ceiling: dict[str, Any], m: dict[str, Phase],
                memory: dict[str, Any], check: dict[str, Any]) -> list[tuple[str, str]]:
    a = ceiling["batch"].result.rate() * BATCH
    b = m["batch"].result.rate() * BATCH
    d, d_ceiling = m["single"].result.rate(), ceiling["single"].result.rate()
    paced, window = m["paced"], memory["window"]
    halves = ceiling["halves"]
    step = 5.0 if args.seconds >= 20 else 1.0
    slices = [r * BATCH for r in m["batch"].result.interval_rates(step)]
    accepted = check["accepted_events"]
    rss_window = memory["rss_start"] - memory["rss_empty"]
    grown = memory["db_end"] - window["store_bytes_filled"]
    equal = "equal" if check["usage_total"] == check["acknowledged_value"] else "MISMATCH"
    single_dup = "1/1" if check["single_resent_is_duplicate"] else "0/1"
    return [
        ("(a) ceiling: parse-only app, batches of 1,000",
         f"{a:>11,.0f} events/s   ({ceiling['batch'].cpu()}; halves {halves[0]:,.0f} "
         f"before metered, {halves[1]:,.0f} after)"),
        ("(b) metered: durable, batches of 1,000",
         f"{b:>11,.0f} events/s   ({m['batch'].cpu()})   target >= 100,000"),
        ("    sustained? events/s per slice of the run",
         f"min {min(slices):,.0f}, max {max(slices):,.0f} over {len(slices)} slices of "
         f"{step:g} s"),
        ("(c) ratio b / a", f"{b / a:>11.3f}            target >= 0.25"),
        ("    disk writes at that rate",
         f"{m['batch'].written_per_event():,.0f} bytes per event "
         f"({m['batch'].result.server_write_bytes / m['batch'].result.seconds / 1e6:,.0f} MB/s:"
         " WAL appends and checkpoints)"),
        ("    ack latency at that maximum rate",
         f"p50 {m['batch'].ms(0.5):.1f} ms, p99 {m['batch'].ms(0.99):.1f} ms "
         f"({args.connections} connections)"),
        ("(d) metered: single events (v1, form)",
         f"{d:>11,.0f} requests/s ({m['single'].cpu()})   target >= 5,000"),
        ("    ceiling: the same single requests",
         f"{d_ceiling:>11,.0f} requests/s ({ceiling['single'].cpu()});  "
         f"ratio {d / d_ceiling:.3f}"),
        ("    single-event ack latency",
         f"p50 {m['single'].ms(0.5):.1f} ms, p99 {m['single'].ms(0.99):.1f} ms "
         f"({args.single_connections} connections)"),
        (f"(e) ack latency, paced at {b / 2:,.0f} events/s",
         f"p50 {paced.ms(0.5):.1f} ms, p99 {paced.ms(0.99):.1f} ms, max {paced.ms(1.0):.1f} ms"
         f"   target p99 < 50 ms  ({paced.result.requests:,} batches, open loop, "
         f"{paced.result.late_sends} sent > 1 ms late; {paced.cpu()})"),
        *describe(paced.stages()),
        ("    reference: the disk's fsync (64 KiB append)",
         "p50 {:.1f} / p99 {:.1f} ms before metered's phases, p50 {:.1f} / p99 {:.1f} ms "
         "after".format(memory["fsync"][0]["p50_ms"], memory["fsync"][0]["p99_ms"],
                        memory["fsync"][1]["p50_ms"], memory["fsync"][1]["p99_ms"])),
        ("(f) dedupe window, pre-filled",
         f"{window['ids']:,} ids in {window['seconds']:.0f} s; metered start-up "
         f"{memory['startup_s']:.1f} s"),
        ("    store bytes per million window ids",
         f"{window['bytes_per_million_ids'] / 1e6:,.1f} MB per million ids "
         f"({window['bytes_per_million_ids'] / 1e6:.0f} B/id)" if window["ids"] else "n/a"),
        ("    server RSS",
         f"{memory['rss_start']:,.0f} MB after start-up -> {memory['rss_end']:,.0f} MB after "
         f"the run (peak {memory['rss_peak']:,.0f} MB); ceiling app {ceiling['rss_mb']:.0f} MB"),
        ("    RSS above an empty store's server",
         f"{rss_window:,.0f} MB at start-up"
         + (f" = {rss_window / window['ids'] * 1e6:,.1f} MB per million ids" if window["ids"]
            else "") + " (SQLite's page cache, filled while loading the window, included)"),
        ("    store on disk",
         f"{window['store_bytes_filled'] / 1e6:,.0f} MB pre-filled -> "
         f"{memory['db_end'] / 1e6:,.0f} MB after {accepted:,} accepted events "
         f"({grown / max(accepted, 1):,.0f} B/event with rollups); the WAL file was "
         f"{memory['wal_end'] / 1e6:,.0f} MB at the end of the run (it wraps around at ~64 MB)"),
        ("exactly-once check",
         f"usage total {check['usage_total']:,} vs acknowledged "
         f"{check['acknowledged_value']:,}: {equal}; re-sent events came back duplicate: "
         f"{check['came_back_duplicate']:,}/{check['batch_events_resent']:,} batched, "
         f"{single_dup} single; failed or not accepted: {check['failed_or_not_accepted']}"),
    ]


def results_json(args: argparse.Namespace, ceiling: dict[str, Any], m: dict[str, Phase],
                 memory: dict[str, Any], check: dict[str, Any]) -> dict[str, Any]:
    a = ceiling["batch"].result.rate() * BATCH
    b = m["batch"].result.rate() * BATCH
    d, d_ceiling = m["single"].result.rate(), ceiling["single"].result.rate()
    return {
        "args": vars(args), "ok": check["ok"],
        "ceiling_batch_events_per_s": a, "ceiling_batch_halves": ceiling["halves"],
        "metered_batch_events_per_s": b, "ratio": b / a,
        "ceiling_single_per_s": d_ceiling, "metered_single_per_s": d,
        "single_ratio": d / d_ceiling,
        "paced_events_per_s": b / 2,
        "paced_p50_ms": m["paced"].ms(0.5), "paced_p99_ms": m["paced"].ms(0.99),
        "phases": {p.name: p.summary()
                   for p in [ceiling["batch"], ceiling["single"], *m.values()]},
        "dedupe_window": memory["window"], "startup_s": memory["startup_s"],
        "rss_mb": {"empty_store": memory["rss_empty"], "start": memory["rss_start"],
                   "end": memory["rss_end"],
                   "peak": memory["rss_peak"], "ceiling": ceiling["rss_mb"]},
        "store_bytes_end": memory["db_end"], "wal_bytes_end": memory["wal_end"],
        "fsync_ms": memory["fsync"],
        "exactly_once": check,
    }


if __name__ == "__main__":
    main()
