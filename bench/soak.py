"""Soak and spike: steady ingest at half the measured maximum for N minutes, with a 10x spike in
the middle; per second, what was accepted, what was refused (429/503), the ack latency and
the server's memory; at the end an exact reconciliation of what was acknowledged.

    .venv/bin/python bench/soak.py                 # 10 minutes, a 30-s spike at 5 minutes
    .venv/bin/python bench/soak.py --minutes 1     # dev run

1. The maximum: 1,000-event batches (bench/ingest_workload.py's) in a closed loop on 8
   keep-alive connections for --max-seconds, on the same server (its rate is R events/s).
2. The soak: an open loop at R/2, and for --spike-seconds in the middle at --spike-factor
   times that. Each request is sent at its scheduled time on an idle connection (a new one
   when none is idle, up to --max-connections); latency counts from the schedule, so a late
   send is never hidden. A refused request (429/503) is not sent again (it is counted as
   refused); a request that got no answer (a connection closed by the server while idle) is
   sent again at the end with the same identifiers, as a client SDK would.
3. Per second: accepted events/s, the share of requests refused, the p99 ack latency of the
   accepted ones, the server's RSS and the memory its ingest budget has reserved (/metrics).
4. The usage total over every customer must equal the sum of the values of every event
   acknowledged as accepted; the run fails loudly otherwise. The plot goes to docs/img/soak.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    HOST,
    ROOT,
    KeepAliveClient,
    bench_session,
    free_port,
    machine,
    new_key,
    percentile,
    print_machine,
    print_table,
    register_child,
    rss_mb,
    save,
    stop_child,
    wait_ready,
)
from ingest import usage_total  # noqa: E402 - the same check as the ingest benchmark's
from ingest_workload import BATCH, CUSTOMERS, EVENT_NAME, batch_workload, earliest_timestamp  # noqa: E402
from loadgen import TAG, Workload, _Connection, _tally, run_load  # noqa: E402

STEP = 1.0  # seconds per recorded slice


# --- the server --------------------------------------------------------------------------------


def start_server(data_dir: Path, budget_mb: int | None) -> tuple[subprocess.Popen[bytes], int]:
    """`metered serve` on a free port (as harness.start_metered, with --memory-budget)."""
    port = free_port()
    script = Path(sys.executable).with_name("metered")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "metered.cli.main"]
    budget = ["--memory-budget", str(budget_mb)] if budget_mb else []
    proc = subprocess.Popen([*command, "serve", "--data-dir", str(data_dir), "--host", HOST,
                             "--port", str(port), "--log-level", "warning", *budget],
                            start_new_session=True)
    register_child(proc)
    wait_ready(port, proc)
    return proc, port


def scrape(port: int, names: tuple[str, ...]) -> dict[str, float]:
    client = KeepAliveClient(port)
    client.sock.settimeout(STEP)  # a swamped server must not stall the sampler
    try:
        _, body = client.exchange(client.encode("GET", "/metrics"))
    finally:
        client.close()
    values = {}
    for line in body.decode().splitlines():
        name, _, value = line.rpartition(" ")
        if name in names:
            values[name] = float(value)
    return values


class Sampler:
    """The server's RSS and its ingest budget's use, every STEP/2 seconds, in a thread."""

    NAMES = ("metered_ingest_in_flight_bytes", "metered_ingest_budget_bytes")

    def __init__(self, pid: int, port: int):
        self.pid, self.port = pid, port
        # time.time(), RSS MB, MB reserved by ingest in flight (None: /metrics was too slow)
        self.samples: list[tuple[float, float, float | None]] = []
        self.budget_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(STEP / 2):
            at, rss = time.time(), rss_mb(self.pid)
            try:
                used = scrape(self.port, self.NAMES)
            except OSError:
                self.samples.append((at, rss, None))
                continue
            self.budget_mb = used.get("metered_ingest_budget_bytes", 0) / 2**20
            self.samples.append((at, rss, used.get("metered_ingest_in_flight_bytes", 0) / 2**20))


# --- the open loop with a spike (in a process of its own) --------------------------------------


@dataclass
class Schedule:
    seconds: float
    rate: float  # requests/s, steady
    spike_at: float
    spike_seconds: float
    spike_factor: float

    def send_times(self) -> list[float]:
        """Offsets of every request from the start: evenly spaced at the rate of the moment."""
        times, t = [], 0.0
        while t < self.seconds:
            times.append(t)
            spiking = self.spike_at <= t < self.spike_at + self.spike_seconds
            t += 1.0 / (self.rate * (self.spike_factor if spiking else 1.0))
        return times


@dataclass
class SoakResult:
    started: float = 0.0  # time.time() of offset 0
    # per slice of STEP seconds, by when the answer came
    accepted_events: list[int] = field(default_factory=list)
    answered: list[int] = field(default_factory=list)
    refused_429: list[int] = field(default_factory=list)
    refused_503: list[int] = field(default_factory=list)
    errors: list[int] = field(default_factory=list)
    offered: list[int] = field(default_factory=list)  # requests scheduled in the slice
    latencies: list[list[float]] = field(default_factory=list)  # accepted answers, seconds
    accepted_value: int = 0
    unanswered: list[tuple[int, bytes]] = field(default_factory=list)  # (template, tag)
    error_samples: list[str] = field(default_factory=list)
    max_open_connections: int = 0
    late_sends: int = 0  # sent > 10 ms after their schedule (no idle connection)


class _Pool:
    """Keep-alive connections: idle ones reused last-in first-out (the others are closed by
    the server's keep-alive timeout), new ones opened up to a maximum, then requests wait."""

    def __init__(self, port: int, maximum: int):
        self.port, self.maximum = port, maximum
        self.idle: deque[_Connection] = deque()
        self.open = 0
        self.peak = 0
        self.waiters: deque[asyncio.Future[_Connection]] = deque()

    async def take(self) -> _Connection:
        while self.idle:
            conn = self.idle.pop()
            if conn.lost is None:
                return conn
            self.open -= 1
        if self.open < self.maximum:
            self.open += 1
            self.peak = max(self.peak, self.open)
            try:
                _, conn = await asyncio.get_running_loop().create_connection(
                    _Connection, HOST, self.port)
            except OSError:
                self.open -= 1
                raise
            return conn
        waiter = asyncio.get_running_loop().create_future()
        self.waiters.append(waiter)
        return await waiter

    def give(self, conn: _Connection) -> None:
        if conn.lost is not None:
            self.open -= 1
            if self.waiters:  # room for a new connection: let a waiter open it
                self.open += 1
                waiter = self.waiters.popleft()
                asyncio.ensure_future(self._open_for(waiter))
            return
        if self.waiters:
            self.waiters.popleft().set_result(conn)
        else:
            self.idle.append(conn)

    async def _open_for(self, waiter: asyncio.Future[_Connection]) -> None:
        try:
            _, conn = await asyncio.get_running_loop().create_connection(
                _Connection, HOST, self.port)
        except OSError as exc:
            self.open -= 1
            waiter.set_exception(exc)
            return
        waiter.set_result(conn)


async def _soak(port: int, work: Workload, prefix: bytes, schedule: Schedule,
                max_connections: int) -> SoakResult:
    loop = asyncio.get_running_loop()
    pool = _Pool(port, max_connections)
    slices = int(schedule.seconds / STEP) + 1
    out = SoakResult()
    for name in ("accepted_events", "answered", "refused_429", "refused_503", "errors",
                 "offered"):
        setattr(out, name, [0] * slices)
    out.latencies = [[] for _ in range(slices)]
    times = schedule.send_times()
    started = time.perf_counter() + 0.5
    out.started = time.time() + 0.5
    tasks: set[asyncio.Task[None]] = set()

    async def one(k: int, offset: float) -> None:
        template = k % len(work.templates)
        tag = prefix + b"%011d" % k
        request = work.templates[template].replace(TAG, tag)
        scheduled = started + offset
        try:
            conn = await pool.take()
        except OSError as exc:
            out.unanswered.append((template, tag))
            out.error_samples.append(f"connect: {exc!r}")
            return
        if time.perf_counter() - scheduled > 0.01:
            out.late_sends += 1
        try:
            status, body = await conn.request(request)
        except OSError as exc:  # closed by the server (keep-alive timeout) as we sent
            out.unanswered.append((template, tag))
            if len(out.error_samples) < 5:
                out.error_samples.append(f"connection: {exc!r}")
            pool.give(conn)
            return
        pool.give(conn)
        done = time.perf_counter()
        at = min(slices - 1, max(0, int((done - started) / STEP)))
        out.answered[at] += 1
        if status == 429:
            out.refused_429[at] += 1
            return
        if status == 503:
            out.refused_503[at] += 1
            return
        counts = _Counts()
        _tally(counts, work, template, status, body)  # type: ignore[arg-type]
        if counts.errors or counts.rejected or counts.duplicate:
            out.errors[at] += 1
            out.error_samples += counts.error_samples[: max(0, 5 - len(out.error_samples))]
            return
        out.accepted_events[at] += counts.accepted
        out.accepted_value += counts.accepted_value
        out.latencies[at].append(done - scheduled)

    for k, offset in enumerate(times):
        out.offered[min(slices - 1, int(offset / STEP))] += 1
        delay = started + offset - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        task = loop.create_task(one(k, offset))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.gather(*list(tasks))
    out.max_open_connections = pool.peak
    return out


class _Counts:
    """What loadgen._tally counts into (a LoadResult's counters, nothing else)."""

    def __init__(self) -> None:
        self.answered = self.events = self.accepted = self.duplicate = self.rejected = 0
        self.accepted_value = self.errors = 0
        self.error_samples: list[str] = []


def _child(pipe: mp.connection.Connection, args: tuple[Any, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us on Ctrl-C
    import uvloop

    # As a dict: this module is __mp_main__ here, a class of it would not unpickle there.
    pipe.send(asdict(uvloop.run(_soak(*args))))
    pipe.close()


def run_soak(port: int, work: Workload, schedule: Schedule, max_connections: int) -> SoakResult:
    """The open loop in a process of its own (as loadgen.run_load)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, (port, work, b"s", schedule,
                                                    max_connections)), daemon=True)
    proc.start()
    register_child(proc)
    child.close()
    try:
        result = SoakResult(**parent.recv())
    except EOFError:
        raise RuntimeError(f"the soak's load generator died (exit {proc.exitcode})") from None
    finally:
        stop_child(proc)
    return result


# --- reconciliation, figures, the plot ---------------------------------------------------------


def send_unanswered(port: int, work: Workload, unanswered: list[tuple[int, bytes]]) -> int:
    """Send the requests that got no answer again, same identifiers, until answered; returns
    the value of their events now stored (accepted now, or duplicate: stored the first time)."""
    client = KeepAliveClient(port)
    value = 0
    try:
        for template, tag in unanswered:
            while True:
                status, body = client.exchange(work.templates[template].replace(TAG, tag))
                if status in (429, 503):
                    time.sleep(1.0)
                    continue
                if status != 200:
                    raise RuntimeError(f"re-sent batch answered {status}: {body[:300]!r}")
                results = json.loads(body)["results"]
                value += sum(work.values[template][r["index"]] for r in results
                             if r["status"] in ("accepted", "duplicate"))
                break
    finally:
        client.close()
    return value


def per_second(result: SoakResult, sampler: Sampler, schedule: Schedule) -> list[dict[str, Any]]:
    rows = []
    for i, answered in enumerate(result.answered):
        at = result.started + i * STEP
        samples = [s for s in sampler.samples if at <= s[0] < at + STEP]
        latencies = sorted(result.latencies[i])
        refused = result.refused_429[i] + result.refused_503[i]
        rows.append({
            "t": i * STEP,
            "offered_events_per_s": result.offered[i] * BATCH / STEP,
            "accepted_events_per_s": result.accepted_events[i] / STEP,
            "refused_share": refused / answered if answered else 0.0,
            "refused_429": result.refused_429[i], "refused_503": result.refused_503[i],
            "errors": result.errors[i],
            "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else None,
            "p50_ms": percentile(latencies, 0.5) * 1000 if latencies else None,
            "rss_mb": max((s[1] for s in samples), default=None),
            "reserved_mb": max((s[2] for s in samples if s[2] is not None), default=None),
        })
    return rows


def phase_figures(rows: list[dict[str, Any]], result: SoakResult, lo: float, hi: float
                  ) -> dict[str, Any]:
    """Mean accepted rate, refused share, p99 over the slices in [lo, hi)."""
    picked = [i for i, row in enumerate(rows) if lo <= row["t"] < hi]
    if not picked:
        return {}
    latencies = sorted(x for i in picked for x in result.latencies[i])
    answered = sum(result.answered[i] for i in picked)
    refused = sum(result.refused_429[i] + result.refused_503[i] for i in picked)
    rss = [rows[i]["rss_mb"] for i in picked if rows[i]["rss_mb"] is not None]
    return {
        "seconds": len(picked) * STEP,
        "offered_events_per_s": sum(result.offered[i] for i in picked) * BATCH / len(picked),
        "accepted_events_per_s": sum(result.accepted_events[i] for i in picked) / len(picked),
        "refused_share": refused / answered if answered else 0.0,
        "p50_ms": percentile(latencies, 0.5) * 1000 if latencies else None,
        "p99_ms": percentile(latencies, 0.99) * 1000 if latencies else None,
        "rss_max_mb": max(rss, default=None),
        "reserved_max_mb": max((rows[i]["reserved_mb"] or 0 for i in picked), default=None),
    }


def plot(rows: list[dict[str, Any]], schedule: Schedule, budget_mb: float, title: str,
         path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [row["t"] for row in rows]
    fig, axes = plt.subplots(4, 1, figsize=(10, 10), sharex=True)
    spike = (schedule.spike_at, schedule.spike_at + schedule.spike_seconds)
    for ax in axes:
        ax.axvspan(*spike, color="orange", alpha=0.12, lw=0)
        ax.grid(alpha=0.3)
    ax = axes[0]
    ax.plot(t, [r["offered_events_per_s"] / 1000 for r in rows], "--", color="grey",
            label="offered")
    ax.plot(t, [r["accepted_events_per_s"] / 1000 for r in rows], color="tab:blue",
            label="accepted (acknowledged durable)")
    ax.set_ylabel("thousand events/s")
    ax.legend(loc="upper left", fontsize=8)
    ax = axes[1]
    ax.plot(t, [100 * r["refused_share"] for r in rows], color="tab:red")
    ax.set_ylabel("requests refused\n429/503 (%)")
    ax.set_ylim(-2, 102)
    ax = axes[2]
    ax.plot(t, [r["p99_ms"] for r in rows], color="tab:purple", label="p99")
    ax.plot(t, [r["p50_ms"] for r in rows], color="tab:purple", alpha=0.4, label="p50")
    ax.set_yscale("log")
    ax.set_ylabel("ack latency of\naccepted (ms)")
    ax.legend(loc="upper left", fontsize=8)
    ax = axes[3]
    ax.plot(t, [r["rss_mb"] for r in rows], color="tab:green", label="server RSS")
    ax.plot(t, [r["reserved_mb"] for r in rows], color="tab:olive",
            label="reserved by ingest in flight")
    ax.axhline(budget_mb, color="tab:olive", ls=":", label=f"budget ({budget_mb:.0f} MB)")
    ax.set_ylabel("MB")
    ax.set_xlabel("seconds (the spike shaded)")
    ax.legend(loc="upper left", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- main --------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="soak length (default 10)")
    parser.add_argument("--spike-seconds", type=float, default=30.0,
                        help="length of the spike, in the middle (default 30)")
    parser.add_argument("--spike-factor", type=float, default=10.0,
                        help="the spike's rate over the steady rate (default 10)")
    parser.add_argument("--max-seconds", type=float, default=10.0,
                        help="length of the maximum-rate measurement (default 10)")
    parser.add_argument("--connections", type=int, default=8,
                        help="connections of the maximum-rate measurement (default 8)")
    parser.add_argument("--max-connections", type=int, default=1024,
                        help="connections the soak may open at once (default 1024)")
    parser.add_argument("--memory-budget", type=int, default=None, metavar="MB",
                        help="the server's --memory-budget (default: the server's default)")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "img" / "soak.png",
                        help="where the PNG goes (default docs/img/soak.png)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    info = machine()
    print_machine(info)
    with bench_session("metered-bench-soak-") as work:
        out = run(args, work, info)
    out["machine"] = info
    print(f"results: {save('soak', out)}")
    if not out["ok"]:
        print("RECONCILIATION FAILED: the usage total is not what was acknowledged",
              file=sys.stderr)
        sys.exit(1)


def run(args: argparse.Namespace, work: Path, info: dict[str, Any]) -> dict[str, Any]:
    data_dir = work / "data"
    key = new_key(data_dir)
    proc, port = start_server(data_dir, args.memory_budget)
    client = KeepAliveClient(port, key)
    customers = [client.json("POST", "/v1/customers", {"name": f"customer {i}"})["id"]
                 for i in range(CUSTOMERS)]
    meter = client.json("POST", "/v1/billing/meters", {
        "display_name": "Tokens", "event_name": EVENT_NAME,
        "default_aggregation[formula]": "sum",
        "dimension_payload_keys[0]": "model", "dimension_payload_keys[1]": "token_type",
    })["id"]
    client.close()
    batches = batch_workload(key, customers, templates=64, seed=1, late=(0.02, 72 * 3600))
    rss_start = rss_mb(proc.pid)

    print(f"the maximum: closed loop, {args.connections} connections, {args.max_seconds:g} s"
          " ...", flush=True)
    top = run_load(port, batches, prefix="m", connections=args.connections,
                   seconds=args.max_seconds)
    if top.errors:
        raise RuntimeError(f"errors at the maximum: {top.error_samples[:3]}")
    maximum = top.rate() * BATCH
    seconds = args.minutes * 60
    schedule = Schedule(seconds, top.rate() / 2, max(0.0, (seconds - args.spike_seconds) / 2),
                        args.spike_seconds, args.spike_factor)
    print(f"  {maximum:,.0f} events/s. The soak: {seconds:g} s at {maximum / 2:,.0f} events/s,"
          f" {args.spike_factor:g}x for {args.spike_seconds:g} s from {schedule.spike_at:g} s"
          " ...", flush=True)
    with Sampler(proc.pid, port) as sampler:
        result = run_soak(port, batches, schedule, args.max_connections)
    rss_peak = rss_mb(proc.pid, "VmHWM")

    resent_value = send_unanswered(port, batches, result.unanswered)
    acknowledged = top.accepted_value + result.accepted_value + resent_value
    counted = usage_total(port, key, meter, earliest_timestamp(batches))
    stop_child(proc)

    rows = per_second(result, sampler, schedule)
    spike_end = schedule.spike_at + schedule.spike_seconds
    phases = {
        "before the spike": phase_figures(rows, result, 0, schedule.spike_at),
        "the spike": phase_figures(rows, result, schedule.spike_at, spike_end),
        "after the spike": phase_figures(rows, result, spike_end, seconds + STEP),
    }
    budget_mb = sampler.budget_mb
    check = {"ok": counted == acknowledged, "usage_total": counted,
             "acknowledged_value": acknowledged, "resent_unanswered": len(result.unanswered)}
    title = (f"metered soak: {seconds / 60:g} min at {maximum / 2:,.0f} events/s (half the"
             f" measured maximum), {args.spike_factor:g}x for {args.spike_seconds:g} s;"
             f" budget {budget_mb:.0f} MB; {info['commit']}, {info['date'][:16]}")
    plot(rows, schedule, budget_mb, title, args.plot)
    print_table(report_rows(maximum, phases, result, rss_start, rss_peak, budget_mb, check,
                            args.plot))
    print("reconciliation:", "EQUAL" if check["ok"] else "MISMATCH",
          f"(usage total {counted:,}, acknowledged {acknowledged:,})")
    return {"args": {k: str(v) for k, v in vars(args).items()}, "ok": check["ok"],
            "maximum_events_per_s": maximum, "steady_events_per_s": maximum / 2,
            "budget_mb": budget_mb, "phases": phases, "per_second": rows,
            "rss_mb": {"start": rss_start, "peak": rss_peak},
            "max_open_connections": result.max_open_connections,
            "late_sends": result.late_sends, "error_samples": result.error_samples,
            "reconciliation": check}


def report_rows(maximum: float, phases: dict[str, dict[str, Any]], result: SoakResult,
                rss_start: float, rss_peak: float, budget_mb: float, check: dict[str, Any],
                plot_path: Path) -> list[tuple[str, str]]:
    rows = [("maximum (closed loop)", f"{maximum:,.0f} events/s")]
    for name, p in phases.items():
        if not p:
            continue
        p99 = "n/a" if p["p99_ms"] is None else f"{p['p99_ms']:,.0f}"
        p50 = "n/a" if p["p50_ms"] is None else f"{p['p50_ms']:,.0f}"
        rows.append((name, f"offered {p['offered_events_per_s']:,.0f}, accepted "
                           f"{p['accepted_events_per_s']:,.0f} events/s; refused "
                           f"{p['refused_share']:.1%} of requests; ack p50 {p50} / p99 {p99} ms;"
                           f" RSS max {p['rss_max_mb'] or 0:,.0f} MB, reserved max "
                           f"{p['reserved_max_mb'] or 0:,.1f} MB"))
    rows += [
        ("server RSS", f"{rss_start:,.0f} MB after set-up, peak {rss_peak:,.0f} MB; ingest "
                       f"budget {budget_mb:,.0f} MB"),
        ("load generator", f"{result.max_open_connections} connections at most; "
                           f"{result.late_sends:,} sends > 10 ms late; "
                           f"{len(result.unanswered)} unanswered (sent again)"),
        ("errors", f"{sum(result.errors)}: {result.error_samples[:2]}"),
        ("reconciliation", f"usage total {check['usage_total']:,} vs acknowledged "
                           f"{check['acknowledged_value']:,}: "
                           f"{'equal' if check['ok'] else 'MISMATCH'}"),
        ("plot", str(plot_path)),
    ]
    return rows


if __name__ == "__main__":
    main()
