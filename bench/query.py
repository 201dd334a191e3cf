"""Query benchmark: a month of usage for one customer with 1,000 dimension groups.

    .venv/bin/python bench/query.py             # full: 20M events in the store
    .venv/bin/python bench/query.py --quick     # dev run: 1M events

Builds a store of N events spread over the last 30 days: most for one customer, over 1,000
dimension groups (50 models x 20 token types), the rest over 19 other customers. The store is
built in a separate process through the engine's own apply path (`EventApplier.apply_events`,
the code the group-commit writer runs, in transactions of 50,000 events, in time order) instead
of over HTTP.

Then, against a real `metered serve`, sequentially from one client process over one keep-alive
connection, interleaved, after a warm-up, it measures p50/p99/max of:
  - GET /v1/metered/meters/{id}/usage for that customer, the 30 days up to now (minute-aligned,
    so both ends fall mid-hour), grouped by both dimensions: 1,000 groups;
  - the same for whole days only (29 days, day-aligned), to show what ragged ends cost;
  - GET /v1/billing/meters/{id}/event_summaries (Stripe's, no grouping) over the 30 days;
  - the reference: GET /healthz on the same server (the HTTP floor).
Every answer checked is compared with the totals computed while inserting.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    KeepAliveClient,
    bench_session,
    machine,
    new_key,
    percentile,
    print_machine,
    print_table,
    register_child,
    rss_mb,
    save,
    start_metered,
    stop_child,
    store_bytes,
)

MODELS, TOKEN_TYPES = 50, 20  # 1,000 dimension groups
GROUPS = MODELS * TOKEN_TYPES
OTHER_CUSTOMERS = 19
EVENT_NAME = "tokens"
CHUNK = 50_000  # events per transaction while building
DAY = 86_400


def model(g: int) -> str:
    return f"model-{g // TOKEN_TYPES:02d}"


def token_type(g: int) -> str:
    return f"type-{g % TOKEN_TYPES:02d}"


# --- the store -------------------------------------------------------------------------------


def windows(now: int) -> dict[str, tuple[int, int]]:
    """The data's time span and the query windows, all fixed before building."""
    minute = now // 60 * 60
    first_day = (minute - 30 * DAY) // DAY * DAY + DAY
    return {
        "data": (minute - 30 * DAY + 60, minute - 60),  # inside the last 30 days
        "month": (minute - 30 * DAY, minute + 60),  # 30 days to now: ragged ends
        "days": (first_day, first_day + 29 * DAY),  # whole days only
    }


def build_store(data_dir: Path, meter_id: str, customer_ids: list[str], events: int,
                share: float, span: dict[str, tuple[int, int]]) -> dict[str, Any]:
    """Insert `events` events with EventApplier.apply_events; return the expected totals.

    Runs in a child process (spawned): the builder's dedupe index and caches do not stay in
    the client's memory, and its CPU time is not the server's.
    """
    import numpy as np

    from metered.ingest.apply import EventApplier
    from metered.ingest.events import ValidatedEvent, dedupe_key
    from metered.metering.meters import load_all_meters
    from metered.store.database import connect

    conn = connect(data_dir / "metered.sqlite3", cache_mb=512)
    conn.execute("PRAGMA synchronous=NORMAL")  # building, not measuring: no fsync per commit
    meter = next(m for m in load_all_meters(conn) if m.id == meter_id)
    customer_pks = [conn.execute("SELECT pk FROM customers WHERE id=?", (c,)).fetchone()[0]
                    for c in customer_ids]
    applier = EventApplier(conn)
    dims = [json.dumps([model(g), token_type(g)], separators=(",", ":")) for g in range(GROUPS)]
    payload_tail = [f'","model":"{model(g)}","token_type":"{token_type(g)}"}}'
                    for g in range(GROUPS)]
    rng = np.random.default_rng(11)
    lo, hi = span["data"]
    days_lo, days_hi = span["days"]
    per_group = np.zeros(GROUPS, dtype=np.int64)
    measured_total = days_total = other_total = 0
    account, livemode = meter.account_pk, meter.livemode
    started = time.perf_counter()
    for first in range(0, events, CHUNK):
        n = min(CHUNK, events - first)
        measured = rng.random(n) < share
        customer = np.where(measured, 0, rng.integers(1, len(customer_pks), n))
        group = rng.integers(0, GROUPS, n)
        # Events arrive in time order, as they would over a month: chunk k holds the k-th
        # slice of the span (uniform within it), so each transaction touches few rollup pages.
        ts = rng.integers(lo + (hi - lo) * first // events,
                          max(lo + (hi - lo) * (first + n) // events,
                              lo + (hi - lo) * first // events + 1), n)
        value = rng.integers(1, 2001, n)
        per_group += np.bincount(group[measured], weights=value[measured],
                                 minlength=GROUPS).astype(np.int64)
        measured_total += int(value[measured].sum())
        other_total += int(value[~measured].sum())
        in_days = measured & (ts >= days_lo) & (ts < days_hi)
        days_total += int(value[in_days].sum())
        batch = []
        for i, c, g, t, v in zip(range(first, first + n), customer.tolist(), group.tolist(),
                                 ts.tolist(), value.tolist(), strict=True):
            identifier = f"q{i:09d}"
            customer_id = customer_ids[c]
            batch.append(ValidatedEvent(
                key=dedupe_key(account, livemode, EVENT_NAME, identifier), meter=meter,
                customer_pk=customer_pks[c], dims=dims[g], ts=t, identifier=identifier,
                value=str(v), scaled=v * 10**12,
                payload=f'{{"stripe_customer_id":"{customer_id}","value":"{v}{payload_tail[g]}',
            ))
        conn.execute("BEGIN IMMEDIATE")
        results = applier.apply_events(conn, batch)
        if applier.flush_due() or first + n >= events:  # as the writer does (metering.pending)
            applier.flush_packs(conn)
        conn.execute("COMMIT")
        applier.committed()
        if any(r.status != "accepted" for r in results):
            raise RuntimeError("the builder's events were not all accepted")
        done = first + n
        if done % 1_000_000 == 0 or done == events:
            rate = done / (time.perf_counter() - started)
            print(f"  {done:>12,} events ({rate:,.0f}/s)", flush=True)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return {"measured_total": measured_total, "days_total": days_total,
            "other_total": other_total, "per_group": per_group.tolist()}


def _build_child(pipe: Any, args: tuple[Any, ...]) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us on Ctrl-C
    pipe.send(build_store(*args))
    pipe.close()


def build_in_process(*args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_build_child, args=(child, args), daemon=True)
    proc.start()
    register_child(proc)
    child.close()
    try:
        return parent.recv()  # type: ignore[no-any-return]
    except EOFError:
        raise RuntimeError(f"the store builder died (exit code {proc.exitcode})") from None
    finally:
        stop_child(proc)


def create_resources(data_dir: Path, key: str) -> tuple[str, list[str]]:
    """The meter and the customers, created over the API; returns (meter id, customer ids)."""
    server, port = start_metered(data_dir)
    try:
        client = KeepAliveClient(port, key)
        customers = [client.json("POST", "/v1/customers", {"name": f"customer {i}"})["id"]
                     for i in range(1 + OTHER_CUSTOMERS)]
        meter = client.json("POST", "/v1/billing/meters", {
            "display_name": "Tokens", "event_name": EVENT_NAME,
            "default_aggregation[formula]": "sum",
            "dimension_payload_keys[0]": "model", "dimension_payload_keys[1]": "token_type",
        })["id"]
        client.close()
    finally:
        stop_child(server)
    return meter, customers


# --- the measurement -------------------------------------------------------------------------


class Probe:
    """One kind of request: pre-encoded, timed, and its answer checked against `expect`."""

    def __init__(self, label: str, request: bytes, check: Any):
        self.label = label
        self.request = request
        self.check = check
        self.times: list[float] = []
        self.checked = 0
        self.failures: list[str] = []

    def once(self, client: KeepAliveClient, verify: bool) -> None:
        started = time.perf_counter()
        status, body = client.exchange(self.request)
        elapsed = time.perf_counter() - started
        if status != 200:
            raise RuntimeError(f"{self.label}: answered {status}: {body[:300]!r}")
        self.times.append(elapsed)
        if verify:
            self.checked += 1
            problem = self.check(json.loads(body, parse_float=Decimal))
            if problem:
                self.failures.append(problem)

    def stats(self) -> dict[str, float]:
        ordered = sorted(self.times)
        return {"p50_ms": percentile(ordered, 0.5) * 1000,
                "p99_ms": percentile(ordered, 0.99) * 1000,
                "max_ms": ordered[-1] * 1000, "samples": len(ordered)}


def grouped_check(expected_total: int, per_group: list[int] | None) -> Any:
    def check(answer: dict[str, Any]) -> str | None:
        rows = answer["data"]
        total = sum(Decimal(r["aggregated_value"]) for r in rows)
        if total != expected_total:
            return f"total {total} != inserted {expected_total}"
        if len(rows) != GROUPS:
            return f"{len(rows)} groups, expected {GROUPS}"
        if per_group is not None:
            index = {f"{model(g)}|{token_type(g)}": g for g in range(GROUPS)}
            for r in rows:
                g = index[f"{r['dimensions']['model']}|{r['dimensions']['token_type']}"]
                if Decimal(r["aggregated_value"]) != per_group[g]:
                    return f"group {g}: {r['aggregated_value']} != inserted {per_group[g]}"
        return None

    return check


def summary_check(expected_total: int) -> Any:
    def check(answer: dict[str, Any]) -> str | None:
        value = Decimal(answer["data"][0]["aggregated_value"])
        return None if value == expected_total else f"{value} != inserted {expected_total}"

    return check


def measure(port: int, key: str, meter: str, customer: str, span: dict[str, tuple[int, int]],
            expected: dict[str, Any], samples: int, warmup: int) -> list[Probe]:
    client = KeepAliveClient(port, key)
    group_by = [("group_by[]", "model"), ("group_by[]", "token_type")]

    def get(path: str, params: list[tuple[str, object]]) -> bytes:
        return client.encode("GET", f"{path}?{urlencode(params)}" if params else path)

    month, days = span["month"], span["days"]
    usage = f"/v1/metered/meters/{meter}/usage"
    probes = [
        Probe("usage, 30 days to now, 1,000 groups",
              get(usage, [("customer", customer), ("start_time", month[0]),
                          ("end_time", month[1]), *group_by]),
              grouped_check(expected["measured_total"], expected["per_group"])),
        Probe("usage, 29 whole days, 1,000 groups",
              get(usage, [("customer", customer), ("start_time", days[0]),
                          ("end_time", days[1]), *group_by]),
              grouped_check(expected["days_total"], None)),
        Probe("event_summaries, 30 days, no grouping",
              get(f"/v1/billing/meters/{meter}/event_summaries",
                  [("customer", customer), ("start_time", month[0]), ("end_time", month[1])]),
              summary_check(expected["measured_total"])),
        Probe("reference: GET /healthz", get("/healthz", []), lambda answer: None),
    ]
    try:
        for i in range(warmup + samples):
            for probe in probes:  # interleaved, so a drift in the machine hits all alike
                probe.once(client, verify=i == 0 or i % 50 == 0 or i == warmup + samples - 1)
            if i == warmup - 1:
                for probe in probes:
                    probe.times.clear()
    finally:
        client.close()
    return probes


# --- main ------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fast dev run: 1M events")
    parser.add_argument("--events", type=int, default=None,
                        help="events in the store (default 20,000,000)")
    parser.add_argument("--share", type=float, default=0.8,
                        help="fraction of the events that belong to the measured customer")
    parser.add_argument("--samples", type=int, default=500,
                        help="timed requests of each kind (default 500, at least 500 for p99)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed requests of each kind")
    args = parser.parse_args()
    if args.events is None:
        args.events = 1_000_000 if args.quick else 20_000_000
    return args


def main() -> None:
    args = parse_args()
    info = machine()
    print_machine(info)
    quick = "  (--quick: a dev run, not official figures)" if args.quick else ""
    print(f"run: {args.events:,} events, {args.samples} samples per query after "
          f"{args.warmup} warm-up{quick}")
    with bench_session("metered-bench-query-") as work:
        out = run(args, work)
    out["machine"] = info
    print(f"results: {save('query', out)}")
    if not out["ok"]:
        sys.exit(1)


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    data_dir = work / "data"
    key = new_key(data_dir)
    meter, customers = create_resources(data_dir, key)
    span = windows(int(time.time()))
    print(f"building the store: {args.events:,} events over 30 days, {args.share:.0%} for one "
          f"customer in {GROUPS:,} groups, the rest over {OTHER_CUSTOMERS} customers ...",
          flush=True)
    started = time.perf_counter()
    expected = build_in_process(data_dir, meter, customers, args.events, args.share, span)
    build_s = time.perf_counter() - started
    size = store_bytes(data_dir)
    print(f"  built in {build_s:.0f} s; store {size / 1e6:,.0f} MB")

    started = time.perf_counter()
    server, port = start_metered(data_dir)
    startup = time.perf_counter() - started
    try:
        probes = measure(port, key, meter, customers[0], span, expected, args.samples,
                         args.warmup)
        rss = rss_mb(server.pid)
    finally:
        stop_child(server)

    floor = probes[-1].stats()
    rows = []
    for probe in probes:
        s = probe.stats()
        ratio = "" if probe is probes[-1] else f"   {s['p50_ms'] / floor['p50_ms']:5.1f}x healthz"
        rows.append((probe.label, f"p50 {s['p50_ms']:6.2f} ms   p99 {s['p99_ms']:6.2f} ms   "
                                  f"max {s['max_ms']:6.2f} ms{ratio}"))
    failures = [f"{p.label}: {f}" for p in probes for f in p.failures]
    checked = sum(p.checked for p in probes[:-1])
    rows += [
        ("target", "usage p99 < 10 ms"),
        ("store", f"{args.events:,} events, {size / 1e6:,.0f} MB, built in {build_s:.0f} s; "
                  f"server start-up {startup:.1f} s, RSS {rss:,.0f} MB after the queries"),
        ("totals check", f"{checked} answers compared with what was inserted "
                         f"(customer total {expected['measured_total']:,}, per group too): "
                         + ("all equal" if not failures else f"{len(failures)} MISMATCHES")),
    ]
    print_table(rows)
    for failure in failures[:5]:
        print("  " + failure)
    ok = not failures
    print("OK" if ok else "CHECK FAILED")
    return {
        "args": vars(args), "ok": ok, "events": args.events, "groups": GROUPS,
        "queries": {p.label: p.stats() for p in probes},
        "usage_p50_ms": probes[0].stats()["p50_ms"], "usage_p99_ms": probes[0].stats()["p99_ms"],
        "healthz_p50_ms": floor["p50_ms"], "healthz_p99_ms": floor["p99_ms"],
        "store_bytes": size, "build_s": build_s, "startup_s": startup, "rss_mb": rss,
        "windows": span, "expected_customer_total": expected["measured_total"],
        "failures": failures,
    }


if __name__ == "__main__":
    main()
