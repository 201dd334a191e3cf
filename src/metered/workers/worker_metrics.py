"""Prometheus metrics of `metered worker` (`--metrics-port`): what it applied, how big and how
long its transactions were, and how far behind the log it is (lag, in records, per partition).
A registry of its own: the worker serves nothing else."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from metered.ingest.pg_apply import Applied


class WorkerMetrics:
    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.events = Counter("metered_worker_events", "Events applied, by outcome",
                              ["outcome"], registry=registry)
        self.batches = Counter("metered_worker_batches", "Transactions committed",
                               registry=registry)
        self.skipped = Counter("metered_worker_records_skipped",
                               "Records already applied (a replay after a crash or rebalance)",
                               registry=registry)
        self.retries = Counter("metered_worker_retries", "Batches tried again after a store error",
                               registry=registry)
        self.batch_events = Histogram(
            "metered_worker_batch_events", "Events per transaction",
            buckets=(10, 100, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000),
            registry=registry)
        self.apply_seconds = Histogram(
            "metered_worker_apply_seconds", "Seconds per transaction",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=registry)
        self.lag = Gauge("metered_worker_lag_records",
                         "Records in the log after this worker's position, per partition",
                         ["partition"], registry=registry)

    def observe(self, applied: Applied, seconds: float) -> None:
        self.batches.inc()
        self.events.labels("accepted").inc(applied.accepted)
        self.events.labels("duplicate").inc(applied.duplicates)
        self.skipped.inc(applied.skipped)
        self.batch_events.observe(applied.accepted + applied.duplicates)
        self.apply_seconds.observe(seconds)

    def set_lag(self, lags: dict[int, int]) -> None:
        self.lag.clear()
        for partition, lag in lags.items():
            self.lag.labels(str(partition)).set(lag)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)
