"""Where an ingest answer's time went: the server's Server-Timing stages beside the latency the
load generator saw. "outside" is the rest: HTTP, the event loop, waits for the GIL, loopback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness import percentile


def parse_timing(value: bytes) -> dict[str, float]:
    """`parse;dur=7.41, queue;dur=2.03` -> {"parse": 7.41, "queue": 2.03} (milliseconds)."""
    stages: dict[str, float] = {}
    for part in value.decode().split(","):
        name, _, duration = part.strip().partition(";dur=")
        if name and duration:
            stages[name] = float(duration)
    return stages


def breakdown(latencies: Sequence[float], timings: Sequence[bytes]) -> dict[str, Any]:
    """Per stage p50/p99 (ms) over the answers that carried timings, and each stage's mean
    over the slowest 1% of them: what the p99 is made of."""
    rows = []
    for latency, timing in zip(latencies, timings, strict=True):
        if timing:
            stages = parse_timing(timing)
            stages["outside"] = max(0.0, latency * 1e3 - sum(stages.values()))
            rows.append((latency * 1e3, stages))
    if not rows:
        return {}
    names = list(dict.fromkeys(name for _, stages in rows for name in stages))
    rows.sort(key=lambda row: row[0])
    slowest = rows[int(len(rows) * 0.99):] or rows[-1:]
    out: dict[str, Any] = {"answers": len(rows), "stages": {}}
    for name in names:
        values = sorted(stages.get(name, 0.0) for _, stages in rows)
        out["stages"][name] = {
            "p50": percentile(values, 0.5), "p99": percentile(values, 0.99),
            "slowest_1pct_mean": sum(s.get(name, 0.0) for _, s in slowest) / len(slowest),
        }
    out["slowest_1pct_latency_mean"] = sum(latency for latency, _ in slowest) / len(slowest)
    return out


def describe(b: dict[str, Any]) -> list[tuple[str, str]]:
    """Report rows: stage p50/p99, then the slowest 1%'s composition."""
    if not b:
        return [("    server stages", "no Server-Timing in the answers")]
    stages = b["stages"]
    return [
        ("    stages p50 / p99 (ms)",
         ", ".join(f"{name} {s['p50']:.1f}/{s['p99']:.1f}" for name, s in stages.items())),
        (f"    the slowest 1% ({b['slowest_1pct_latency_mean']:.0f} ms on average)",
         ", ".join(f"{name} {s['slowest_1pct_mean']:.1f}" for name, s in stages.items())),
    ]
