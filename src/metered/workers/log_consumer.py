"""`metered worker`: applies the Kafka log to the PostgreSQL store, as one of a consumer group.

Kafka assigns the topic's partitions to the group's workers and moves them when one joins,
leaves or stops answering (session timeout). The applied position of each partition lives in
PostgreSQL (`log_offsets`), written by the transaction that applies the records
(ingest.pg_apply), so Kafka's committed offsets are informational only: on assignment a worker
seeks to the stored positions, and after any failure (PostgreSQL restarted, the broker away, a
deadlock) it seeks back to them and tries again. Nothing is applied twice, nothing is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from metered.ingest.pg_apply import Applied, Dimensions, Entry, OffsetGap, apply_records
from metered.log.kafka import LogAddress, ensure_topic
from metered.log.records import decode_record
from metered.metering.meters import Meter, get_meter_by_pk
from metered.store.partitions import drop_expired_seen, ensure_days
from metered.store.postgres import PgConnection, dsn
from metered.workers.worker_metrics import WorkerMetrics

log = logging.getLogger("metered.worker")
DEFAULT_GROUP = "metered-workers"
MAINTENANCE_SECONDS = 3600.0
STATS_SECONDS = 10.0
CONSUME_WAIT_SECONDS = 0.02
LAG_SECONDS = 5.0


@dataclass
class WorkerStats:
    batches: int = 0
    records: int = 0
    accepted: int = 0
    duplicates: int = 0
    skipped: int = 0
    retries: int = 0
    apply_seconds: float = 0.0
    max_apply_seconds: float = 0.0


class LogWorker:
    def __init__(self, store_url: str, log_url: str, *, group: str = DEFAULT_GROUP,
                 batch_records: int = 1_000, session_timeout_ms: int = 10_000,
                 on_batch: Callable[[Applied], None] | None = None,
                 metrics: WorkerMetrics | None = None):
        self.store_url = store_url
        self.address = LogAddress.parse(log_url)
        self.group = group
        self.batch_records = batch_records
        self.session_timeout_ms = session_timeout_ms
        self.on_batch = on_batch
        self.metrics = metrics
        self._lag_checked = 0.0
        self.stats = WorkerStats()
        self.dims = Dimensions()
        self.meters: dict[int, Meter] = {}
        self._stop = threading.Event()
        self._conn: psycopg.Connection[Any] | None = None
        self._consumer: Consumer | None = None
        self._maintained = 0.0
        self._reported = time.monotonic()

    # --- PostgreSQL --------------------------------------------------------------------

    def _db(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(dsn(self.store_url), autocommit=True)
        return self._conn

    def _stored_offsets(self, partitions: list[int]) -> dict[int, int] | None:
        """The partitions' applied positions, read again until PostgreSQL answers; None if
        the worker stops first."""
        while not self._stop.is_set():
            try:
                rows = self._db().execute(
                    "SELECT partition, next_offset FROM log_offsets WHERE topic = %s"
                    " AND partition = ANY(%s)", [self.address.topic, partitions])
                return dict(rows.fetchall())
            except psycopg.Error:
                log.warning("reading the stored offsets failed; retrying", exc_info=True)
                self._conn = None
                time.sleep(0.5)
        return None

    def _maintain(self) -> None:
        if time.monotonic() - self._maintained < MAINTENANCE_SECONDS:
            return
        raw = self._db()
        (today,) = raw.execute("SELECT floor(extract(epoch FROM now()) / 86400)::int").fetchone()
        ensure_days(raw, today)
        drop_expired_seen(raw, today)
        self._maintained = time.monotonic()

    def _meters_for(self, entries: list[Entry]) -> dict[int, Meter]:
        wanted = {e.meter_pk for _, _, r in entries for e in r.events} - self.meters.keys()
        if wanted:
            conn = PgConnection(self._db())
            for pk in wanted:
                self.meters[pk] = get_meter_by_pk(conn, pk)  # type: ignore[arg-type]
        return self.meters

    # --- Kafka ---------------------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Start every assigned partition at its position in PostgreSQL."""
        stored = self._stored_offsets([tp.partition for tp in partitions])
        if stored is None:
            return
        for tp in partitions:
            tp.offset = stored.get(tp.partition, OFFSET_BEGINNING)
        log.info("assigned partitions %s", {tp.partition: tp.offset for tp in partitions})
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("revoked partitions %s", [tp.partition for tp in partitions])
        consumer.unassign()

    def _seek_back(self, partitions: set[int]) -> None:
        """After a failed batch: every partition in it back to its stored position."""
        consumer = self._consumer
        assert consumer is not None
        stored = self._stored_offsets(sorted(partitions))
        if stored is None:
            return
        for partition in partitions:
            offset = stored.get(partition, OFFSET_BEGINNING)
            try:
                consumer.seek(TopicPartition(self.address.topic, partition, offset))
            except Exception:  # noqa: BLE001 - no longer assigned: its new owner starts right
                log.info("partition %d not ours any more", partition)

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        ensure_topic(self.address)
        self._consumer = consumer = Consumer({
            "bootstrap.servers": self.address.bootstrap,
            "group.id": self.group,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": self.session_timeout_ms,
            "heartbeat.interval.ms": max(500, self.session_timeout_ms // 5),
            "max.poll.interval.ms": max(60_000, self.session_timeout_ms * 2),
            "fetch.wait.max.ms": 20,
            "queued.max.messages.kbytes": 262_144,
        })
        consumer.subscribe([self.address.topic], on_assign=self._on_assign,
                           on_revoke=self._on_revoke)
        try:
            while not self._stop.is_set():
                self._step(consumer)
        finally:
            consumer.close()
            if self._conn is not None:
                self._conn.close()

    def _step(self, consumer: Consumer) -> None:
        try:
            self._maintain()
        except psycopg.Error:
            log.warning("partition maintenance failed; retrying later", exc_info=True)
            self._conn = None
        # What has arrived, without waiting long for a full batch: a batch's transaction takes
        # longer the bigger it is, and the next records wait for it (freshness).
        messages = consumer.consume(self.batch_records, timeout=CONSUME_WAIT_SECONDS)
        entries: list[Entry] = []
        for msg in messages:
            error = msg.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("consumer: %s", error)
                continue
            entries.append((msg.partition(), msg.offset(), decode_record(msg.value())))
        if entries:
            self._apply(consumer, entries)
        if self.metrics is not None and time.monotonic() - self._lag_checked >= LAG_SECONDS:
            self._lag_checked = time.monotonic()
            self.metrics.set_lag(self._lags(consumer))

    def _lags(self, consumer: Consumer) -> dict[int, int]:
        """Records between each assigned partition's position and its end (cached ends)."""
        lags = {}
        for tp in consumer.position(consumer.assignment()):
            try:
                _, high = consumer.get_watermark_offsets(tp, cached=True)
            except Exception:  # noqa: BLE001 - no watermark known yet
                continue
            if tp.offset >= 0 and high >= 0:
                lags[tp.partition] = max(0, high - tp.offset)
        return lags

    def _apply(self, consumer: Consumer, entries: list[Entry]) -> None:
        delay = 0.1
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                applied = apply_records(self._db(), self.address.topic, entries,
                                        self._meters_for(entries), self.dims)
            except OffsetGap as gap:
                log.warning("%s; seeking back", gap)
                self._seek_back({gap.partition})
                return
            except psycopg.Error:
                self.stats.retries += 1
                if self.metrics is not None:
                    self.metrics.retries.inc()
                log.warning("applying %d records failed; retrying", len(entries), exc_info=True)
                if self._conn is not None and (self._conn.closed or self._conn.broken):
                    self._conn = None
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._count(applied, time.monotonic() - started)
            consumer.commit(offsets=[TopicPartition(self.address.topic, p, o)
                                     for p, o in applied.offsets.items()], asynchronous=True)
            return
        # Stopping with the batch not applied: nothing of it is in; the next owner starts at
        # the stored offsets.

    def _count(self, applied: Applied, seconds: float) -> None:
        stats = self.stats
        stats.apply_seconds += seconds
        stats.max_apply_seconds = max(stats.max_apply_seconds, seconds)
        stats.batches += 1
        stats.records += applied.records
        stats.accepted += applied.accepted
        stats.duplicates += applied.duplicates
        stats.skipped += applied.skipped
        if self.on_batch is not None:
            self.on_batch(applied)
        if self.metrics is not None:
            self.metrics.observe(applied, seconds)
        now = time.monotonic()
        if now - self._reported >= STATS_SECONDS:
            log.info("applied %d batches, %d records, %d events (%d duplicates); %.0f ms per"
                     " batch, at most %.0f ms", stats.batches, stats.records, stats.accepted,
                     stats.duplicates, 1e3 * stats.apply_seconds / stats.batches,
                     1e3 * stats.max_apply_seconds)
            self._reported = now
            stats.max_apply_seconds = 0.0

    def stop(self) -> None:
        self._stop.set()
