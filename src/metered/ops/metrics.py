"""Prometheus metrics of the engine, served at /metrics.

Counters are bumped where the work happens (per request or per group, never per event on the
hot path); gauges that cost a query (the webhook backlog) are read when scraped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily

from metered.ingest.columnar import ALL_ACCEPTED
from metered.ingest.writer import WriteRequest

if TYPE_CHECKING:
    from metered.engine import Engine

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
SIZE_BUCKETS = (1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10_000, 50_000)


class Metrics:
    """One registry per engine (tests run several engines in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events = Counter("metered_events", "Meter events the writer stored or found to be"
                              " duplicates.", ["outcome"], registry=r)
        self._rejections: dict[str, int] = {}  # ingest.error_reports keeps the totals
        r.register(_Rejections(self._rejections))
        self.ack_seconds = Histogram("metered_ack_seconds", "From a write's submission to its"
                                     " durable commit (what an ingest answer waits for).",
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.group_events = Histogram("metered_group_commit_events", "Events applied per group"
                                      " commit (one transaction, one fsync).",
                                      buckets=SIZE_BUCKETS, registry=r)
        self.responses = Counter("metered_http_responses", "HTTP answers, by status class.",
                                 ["status"], registry=r)
        self.billing_actions = Counter("metered_billing_actions", "Billing scheduler actions:"
                                       " period turns, finalizations, expiries.", ["kind"],
                                       registry=r)
        self.write_queue = Gauge("metered_write_queue", "Write requests waiting for the writer"
                                 " (the embedded log's lag).", registry=r)
        self.webhook_backlog = Gauge("metered_webhook_backlog", "Webhook deliveries pending.",
                                     registry=r)
        self.writer_failed = Gauge("metered_writer_failed", "1 once the writer has failed"
                                   " (the server then exits and restarts).", registry=r)

    def observe_group(self, group: list[WriteRequest]) -> None:
        """A committed group (on the writer thread): its events' outcomes and ack latencies."""
        accepted = duplicate = 0
        for request in group:
            if not request.is_events:
                continue
            outcome = request.outcome
            if outcome == ALL_ACCEPTED:
                accepted += request.weight
            elif isinstance(outcome, list):
                for result in outcome:
                    status = getattr(result, "status", None)
                    if status == "accepted":
                        accepted += 1
                    elif status == "duplicate":
                        duplicate += 1
            if len(request.stamps) == 5:
                self.ack_seconds.observe(request.stamps[4] - request.stamps[0])
        if accepted:
            self.events.labels("accepted").inc(accepted)
        if duplicate:
            self.events.labels("duplicate").inc(duplicate)
        if accepted or duplicate:
            self.group_events.observe(accepted + duplicate)

    def render(self, engine: Engine) -> bytes:
        """The text exposition, with the gauges read now."""
        self._rejections.clear()
        self._rejections.update(engine.error_reports.totals())
        self.write_queue.set(engine.writer.queued())
        self.writer_failed.set(1 if engine.writer.failed is not None else 0)
        row = engine.reader().execute(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE status='pending'").fetchone()
        self.webhook_backlog.set(row[0])
        return generate_latest(self.registry)


class _Rejections:
    """metered_events_rejected_total{code}, from ingest.error_reports' running totals."""

    def __init__(self, totals: dict[str, int]):
        self._totals = totals

    def collect(self):  # type: ignore[no-untyped-def]
        family = CounterMetricFamily("metered_events_rejected", "Meter events refused, by"
                                     " reason.", labels=["code"])
        for code, count in sorted(self._totals.items()):
            family.add_metric([code], count)
        yield family

    def describe(self):  # type: ignore[no-untyped-def]
        return []
