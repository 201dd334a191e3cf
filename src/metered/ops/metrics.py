"""Prometheus metrics of the engine, served at /metrics.

Counters are bumped where the work happens (per request or per group, never per event on the
hot path); gauges that cost a query (the webhook backlog) are read when scraped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

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

    def watch_admission(self, admission: Admission) -> None:
        """Expose an ingest budget's use (api.admission), read when scraped."""
        self.registry.register(_AdmissionCollector(admission))

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


class _Load(Protocol):
    def backlog(self) -> int: ...

    def drain_rate(self) -> float: ...


class Admission(Protocol):
    """What the metrics read of api.admission.IngestAdmission (ops does not import api)."""

    budget: int
    in_flight: int
    requests: int
    peak: int
    admitted: int
    refused: dict[str, int]
    load: _Load

    def queue_seconds(self) -> float: ...


class _AdmissionCollector:
    """The ingest budget (docs/operations.md, "Backpressure and the memory budget")."""

    def __init__(self, admission: Admission):
        self._admission = admission

    def collect(self):  # type: ignore[no-untyped-def]
        a = self._admission
        for name, text, value in (
            ("metered_ingest_budget_bytes", "The memory budget of ingest work in flight"
             " (metered serve --memory-budget).", a.budget),
            ("metered_ingest_in_flight_bytes", "Memory reserved by the ingest requests in"
             " flight (admitted, not answered yet).", a.in_flight),
            ("metered_ingest_in_flight_peak_bytes", "The most memory ingest requests held at"
             " once since the start.", a.peak),
            ("metered_ingest_in_flight_requests", "Ingest requests admitted and not answered"
             " yet.", a.requests),
            ("metered_ingest_queue_seconds", "How long the ingest work in flight takes to be"
             " answered at the current rate: the wait of a request admitted now.",
             a.queue_seconds()),
            ("metered_write_backlog_events", "Events (1 per other write) submitted to the"
             " writer and not answered yet.", a.load.backlog()),
            ("metered_writer_drain_rate", "Events per second the writer commits while busy"
             " (over its recent groups): what a backlog drains at.", a.load.drain_rate()),
        ):
            yield GaugeMetricFamily(name, text, value=value)
        yield CounterMetricFamily("metered_ingest_admitted", "Ingest requests admitted under"
                                  " the budget.", value=a.admitted)
        refused = CounterMetricFamily("metered_ingest_refused", "Ingest requests refused"
                                      " before their body was read: budget or queue (429),"
                                      " unavailable (503), too_large (413).",
                                      labels=["reason"])
        for reason, count in sorted(a.refused.items()):
            refused.add_metric([reason], count)
        yield refused

    def describe(self):  # type: ignore[no-untyped-def]
        return []
