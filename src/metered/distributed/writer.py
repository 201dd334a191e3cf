"""The API process's writer in distributed mode, with the embedded GroupCommitWriter's surface.

- Meter events are produced to Kafka (log.kafka); the request is answered once the broker has
  acknowledged every record (`acks=all`), with the positions as a consistency token. Per event,
  the answer is `accepted` (in the log: the workers count it once) or `duplicate` for a repeat
  of an identifier within the same request. A repeat of an identifier sent in an earlier
  request is also answered `accepted`: the workers drop it (docs/distributed.md).
- Every other write (`run`) is a PostgreSQL transaction on this process's writer thread. It
  first takes a transaction advisory lock shared by all API processes, so catalog and billing
  writes are serialized as they are on the embedded writer thread: what one request reads
  before it writes cannot change under it.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg

from metered.clock import now_ms
from metered.distributed.consistency import encode
from metered.distributed.seen import SeenCheck
from metered.errors import ApiError, MeteredError, ServiceUnavailableError
from metered.ingest.events import EventResult, ValidatedEvent
from metered.ingest.parse_pool import events_of
from metered.ingest.writer import WriteRequest
from metered.log.kafka import LogProducer, Offsets
from metered.log.records import encode_records
from metered.metering.pending import PendingPacks
from metered.store.postgres import PgConnection

log = logging.getLogger("metered.writer")
WRITE_LOCK = 0x6D747772  # pg_advisory_xact_lock key: "mtwr"
ACCEPTED = EventResult("accepted", None)


class _NoPending:
    """Summaries on PostgreSQL read everything from the store: nothing is pending here."""

    unflushed = PendingPacks()


class LogWriter:
    def __init__(self, connect: Callable[[], PgConnection], producer: LogProducer,
                 positions: Callable[[tuple[int, bool]], Offsets] | None = None,
                 on_produced: Callable[[tuple[int, bool], Offsets], None] | None = None):
        self._connect = connect
        self.on_produced = on_produced  # (account, mode), offsets: for reads to wait on
        self.positions = positions  # (account, mode) -> what this process produced for it
        self._conn: PgConnection | None = None
        self.producer = producer
        self.applier = _NoPending()
        self._queue: queue.SimpleQueue[WriteRequest | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="metered-writer", daemon=True)
        self._events: queue.SimpleQueue[WriteRequest | None] = queue.SimpleQueue()
        self._producer_thread = threading.Thread(target=self._produce_loop,
                                                 name="metered-produce", daemon=True)
        self.seen = SeenCheck(lambda: connect().raw)
        self._stopping = False
        self._sending = 0  # produce requests waiting for the broker
        self._lock = threading.Lock()
        self._backlog = 0  # events waiting for the broker's acknowledgement
        self._oldest: dict[int, float] = {}  # id(request) -> when its records were sent
        self._drained: collections.deque[tuple[int, float]] = collections.deque(maxlen=64)
        self.failed: BaseException | None = None
        self.on_failure: Callable[[], None] | None = None
        self.on_group: Callable[[list[WriteRequest]], None] | None = None
        self.after_commit: Callable[[Any], None] | None = None
        self.groups = 0
        self.last_group_size = 0

    def start(self) -> None:
        self._thread.start()
        self._producer_thread.start()

    def stop(self) -> None:
        """Finish what is queued, wait for the broker's answers, then stop."""
        self._stopping = True
        self._events.put(None)
        self._producer_thread.join(timeout=60)
        self.producer.flush(30)
        self._queue.put(None)
        self._thread.join(timeout=60)

    # --- the GroupCommitWriter surface the API uses ----------------------------------------

    def expect(self, n: int) -> None:
        """(The embedded writer waits for announced requests; nothing to wait for here.)"""

    def queued(self) -> int:
        return self._queue.qsize() + self._sending

    # --- what admission control reads (api.admission.WriteLoad) ---------------------------

    def accepting(self) -> bool:
        return not self._stopping

    def backlog(self) -> int:
        return self._backlog

    def busy_for(self, now: float) -> float:
        """Seconds the oldest unacknowledged send has waited (a broker away shows here)."""
        with self._lock:
            oldest = min(self._oldest.values(), default=None)
        return now - oldest if oldest is not None else 0.0

    def drain_rate(self) -> float:
        drained = list(self._drained)
        seconds = sum(spent for _, spent in drained)
        return sum(n for n, _ in drained) / seconds if seconds > 0 else 0.0

    async def submit(self, request: WriteRequest) -> Any:
        loop = asyncio.get_running_loop()
        request.future = loop.create_future()
        self._enqueue(request, loop)
        return await request.future

    def submit_nowait(self, request: WriteRequest, callback: Callable[[Any], None]) -> None:
        request.callback = callback
        self._enqueue(request, asyncio.get_running_loop())

    def _enqueue(self, request: WriteRequest, loop: asyncio.AbstractEventLoop) -> None:
        if self._stopping:
            raise ServiceUnavailableError("The server is shutting down.")
        request.loop = loop
        request.stamps = (time.perf_counter(),)
        if request.is_events:
            self._events.put(request)
        else:
            self._queue.put(request)

    # --- events: to Kafka ----------------------------------------------------------------

    def _produce_loop(self) -> None:
        """Takes the event requests queued so far, answers `duplicate` for identifiers seen
        before (distributed.seen: one query for the group), produces the rest."""
        while True:
            group = [self._events.get()]
            while len(group) < 4_096:
                try:
                    group.append(self._events.get_nowait())
                except queue.Empty:
                    break
            stop = None in group
            requests = [r for r in group if r is not None]
            try:
                self._produce_group(requests)
            except Exception:
                log.exception("producing a group of %d requests failed", len(requests))
                for request in requests:
                    if request.outcome is None:
                        self._settle(request, ApiError("The batch could not be written."))
            if stop:
                return

    def _produce_group(self, requests: list[WriteRequest]) -> None:
        prepared = []
        for request in requests:
            if request.parsed is not None:
                request.events = events_of(*request.parsed)
                request.parsed = None
            prepared.append((request, *_first_of_each(request.events or [])))
        keys = list(dict.fromkeys(e.key for _, _, unique in prepared for _, e in unique))
        seen = self.seen.duplicates(keys) if keys else set()
        for request, outcome, unique in prepared:
            fresh = []
            for i, event in unique:
                if event.key in seen:
                    outcome[i] = EventResult("duplicate", event.identifier)
                else:
                    seen.add(event.key)  # a later request of this group repeats it
                    fresh.append(event)
            self.seen.remember([e.key for e in fresh])
            self._produce(request, outcome, fresh)

    def _produce(self, request: WriteRequest, outcome: list[EventResult],
                 unique: list[ValidatedEvent]) -> None:
        if not unique:  # every event a duplicate: nothing to write
            request.stamps = (request.stamps[0], *(time.perf_counter(),) * 4)
            events = request.events or []
            if events and self.positions is not None:  # the first copies may be in the log
                meter = events[0].meter
                offsets = self.positions((meter.account_pk, meter.livemode))
                if offsets:
                    request.consistency = encode(offsets)
            self._answered(request, outcome)
            return
        try:
            records = encode_records(unique, now_ms())
        except Exception:
            log.exception("encoding a batch for the log failed")
            self._settle(request, ApiError("The batch could not be written; nothing stored."))
            return
        began = time.perf_counter()
        sent = time.monotonic()
        n = len(unique)
        with self._lock:
            self._sending += 1
            self._backlog += n
            self._oldest[id(request)] = sent

        def done(result: Offsets | BaseException) -> None:
            with self._lock:
                self._sending -= 1
                self._backlog -= n
                self._oldest.pop(id(request), None)
            self._drained.append((n, time.monotonic() - sent))
            if isinstance(result, BaseException):
                log.error("the log refused a batch: %s", result)
                answer: Any = ServiceUnavailableError(
                    "The event log did not acknowledge the batch; some events may be in it."
                    " Retry with the same identifiers: they are counted once.")
            else:
                request.consistency = encode(result)
                answer = outcome
                if self.on_produced is not None:
                    meter = unique[0].meter  # a request is one caller's
                    self.on_produced((meter.account_pk, meter.livemode), result)
            acked = time.perf_counter()
            request.stamps = (request.stamps[0], began, began, acked, acked)
            self._answered(request, answer)

        try:
            self.producer.send(records, done)
        except BufferError:
            with self._lock:
                self._sending -= 1
                self._backlog -= n
                self._oldest.pop(id(request), None)
            self._settle(request, ServiceUnavailableError(
                "The event log is not keeping up; retry shortly."))

    def _answered(self, request: WriteRequest, answer: Any) -> None:
        if isinstance(answer, MeteredError):
            self._settle(request, answer)
            return
        request.outcome = answer
        if self.on_group is not None:
            try:
                self.on_group([request])  # metrics: events by outcome, ack latency
            except Exception:
                log.exception("observing a write")
        if request.finish is not None:
            self._queue.put(_Finish(request))  # the Idempotency-Key's answer, in PostgreSQL
            return
        self._settle(request, answer)

    # --- everything else: PostgreSQL transactions ------------------------------------------

    def _db(self) -> PgConnection:
        if self._conn is None or self._conn.raw.closed or self._conn.raw.broken:
            self._conn = self._connect()
        return self._conn

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, _Finish):
                self._finish(item.request)
            else:
                self._transact(item)

    def _transact(self, request: WriteRequest) -> None:
        assert request.run is not None
        began = time.perf_counter()
        try:
            conn = self._db()
            conn.execute("BEGIN")
            try:
                conn.execute("SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))",
                             (WRITE_LOCK,))
                conn.execute("SAVEPOINT req")
                try:
                    outcome = request.run(conn)
                except MeteredError as exc:
                    conn.execute("ROLLBACK TO req")
                    outcome = exc
                if request.finish is not None:
                    request.finish(conn, outcome)
                conn.execute("COMMIT")
            except BaseException:
                if not conn.raw.closed:
                    conn.execute("ROLLBACK")
                raise
        except psycopg.OperationalError:
            log.exception("the store is unavailable")
            self._conn = None
            outcome = ServiceUnavailableError("The store is unavailable; nothing was written."
                                              " Retry.")
        except Exception as exc:
            log.exception("a write request failed")
            outcome = ApiError(f"Internal error: {type(exc).__name__}.")
        done = time.perf_counter()
        request.stamps = (request.stamps[0], began, done, done, done)
        self.groups += 1
        self.last_group_size = 1
        if self.on_group is not None and not isinstance(outcome, MeteredError):
            try:
                self.on_group([request])
            except Exception:
                log.exception("observing a write")
        self._settle(request, outcome)

    def _finish(self, request: WriteRequest) -> None:
        assert request.finish is not None
        try:
            conn = self._db()
            conn.execute("BEGIN")
            request.finish(conn, request.outcome)
            conn.execute("COMMIT")
        except Exception:
            # The events are in the log; only the stored answer is missing: a retry with the
            # same Idempotency-Key produces them again, and the workers count them once.
            log.exception("storing an ingest answer under its Idempotency-Key failed")
            self._conn = None
        self._settle(request, request.outcome)

    @staticmethod
    def _settle(request: WriteRequest, outcome: Any) -> None:
        request.outcome = outcome
        loop = request.loop
        if loop is None:
            return
        loop.call_soon_threadsafe(_answer, request, outcome)


class _Finish:
    __slots__ = ("request",)

    def __init__(self, request: WriteRequest):
        self.request = request


def _answer(request: WriteRequest, outcome: Any) -> None:
    callback = request.callback
    if callback is not None:
        request.callback = None
        try:
            callback(outcome)
        except Exception:
            log.exception("answering a write request failed")
    elif request.future is not None and not request.future.done():
        request.future.set_result(outcome)


def _first_of_each(events: list[ValidatedEvent]
                   ) -> tuple[list[EventResult], list[tuple[int, ValidatedEvent]]]:
    """Per event: accepted, or duplicate when its key came earlier in the same request; and
    the first of each key with its place."""
    seen: set[bytes] = set()
    outcome: list[EventResult] = []
    unique: list[tuple[int, ValidatedEvent]] = []
    for i, event in enumerate(events):
        if event.key in seen:
            outcome.append(EventResult("duplicate", event.identifier))
        else:
            seen.add(event.key)
            unique.append((i, event))
            outcome.append(EventResult("accepted", event.identifier))
    return outcome, unique
