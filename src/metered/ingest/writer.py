"""Group commit: one writer thread turns many concurrent requests into one durable transaction.

Requests queue up while the previous transaction fsyncs; the writer then takes all of them (up to
a bound), applies each in a savepoint, commits once (one fsync) and only then answers each one.
An answer therefore always means "on disk" (ARCHITECTURE.md, invariant 1).

Requests submitted in one turn of the event loop are handed over as one list (one wake-up of
this thread). When the writer is busy, a group waits up to GROUP_WAIT_SECONDS for more, but
only while the API has announced ingest requests that are on their way (read, parsed or
validated, not yet submitted: `expect`); it never waits for requests that do not exist.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from metered.errors import ApiError, MeteredError, ServiceUnavailableError
from metered.ingest.apply import EventApplier
from metered.ingest.columnar import ParsedRequest, apply_parsed
from metered.ingest.events import ValidatedEvent
from metered.ingest.parse_pool import events_of

log = logging.getLogger("metered.writer")

MAX_GROUP_EVENTS = 60_000
MAX_GROUP_REQUESTS = 4_096
GROUP_TARGET_EVENTS = 8_000
GROUP_WAIT_SECONDS = 0.005
BUSY_COMMIT_SECONDS = 0.004
IDLE_FLUSH_SECONDS = 1.0
DRAIN_GROUPS = 64  # the drain rate is measured over the last this many groups
WRITER_STAGES = ("queue", "apply", "flush", "commit")  # WriteRequest.stages()


@dataclass(slots=True)
class WriteRequest:
    """One unit of work for the writer: either a function of the connection, or events."""

    run: Callable[[sqlite3.Connection], Any] | None = None
    events: list[ValidatedEvent] | None = None
    # A batch a parse worker validated, with its meters: applied column-wise (ingest.columnar).
    parsed: ParsedRequest | None = None
    # Runs in the same transaction, after `run`/`events`, with their outcome (e.g. to store the
    # response under an Idempotency-Key atomically with the effect).
    finish: Callable[[sqlite3.Connection, Any], None] | None = None
    future: asyncio.Future[Any] | None = None
    # Instead of a future (submit_nowait): called with the outcome on the event loop.
    callback: Callable[[Any], None] | None = None
    loop: asyncio.AbstractEventLoop | None = None
    outcome: Any = field(default=None)
    expected: bool = False  # announced to the writer with expect(1) (see GroupCommitWriter)
    # perf_counter() stamps: submitted, its group's transaction began, the group's requests
    # were applied, the pending coarse packs were flushed, COMMIT (with fsync) returned.
    stamps: tuple[float, ...] = ()
    # Distributed mode: the log positions of the events (distributed.consistency), answered
    # as the Metered-Consistency-Token header.
    consistency: str | None = None

    def stages(self) -> list[tuple[str, float]]:
        """Where this request's time went in the writer, in milliseconds (Server-Timing)."""
        if len(self.stamps) != 5:
            return []
        return list(zip(WRITER_STAGES, self.durations(), strict=True))

    def durations(self) -> tuple[float, float, float, float]:
        """The WRITER_STAGES' durations in milliseconds (the stamps must be complete)."""
        submitted, began, applied, flushed, committed = self.stamps
        return ((began - submitted) * 1e3, (applied - began) * 1e3, (flushed - applied) * 1e3,
                (committed - flushed) * 1e3)

    @property
    def weight(self) -> int:
        if self.events is not None:
            return len(self.events)
        return len(self.parsed[0].keys) if self.parsed is not None else 1

    @property
    def is_events(self) -> bool:
        return self.events is not None or self.parsed is not None


_FAILED = "The server cannot write any more; it is restarting."


class GroupCommitWriter:
    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self.applier = EventApplier(conn)
        self._queue: queue.SimpleQueue[list[WriteRequest] | None] = queue.SimpleQueue()
        self._outbox: dict[asyncio.AbstractEventLoop, list[WriteRequest]] = {}
        # Ingest requests on their way (announced by the API when they arrive, not queued
        # yet): a group waits for more only while some are, never for requests that do not
        # exist. Changed on the event loop's thread only; the writer thread reads it.
        self._incoming = 0
        self._thread = threading.Thread(target=self._run, name="metered-writer", daemon=True)
        self._stopping = False
        # Set if the writer thread failed: the in-memory state (dedupe index, pending packs)
        # may then disagree with the store, so no write is taken any more. `on_failure` is
        # called once then (the server exits: everything acknowledged is durable, and start-up
        # rebuilds that state from the store, as after a crash).
        self.failed: BaseException | None = None
        self.on_failure: Callable[[], None] | None = None
        # Called on the connection after each successful COMMIT (store.Checkpointer's WAL
        # wrap-around); an error there is logged, never the requests' concern.
        self.after_commit: Callable[[sqlite3.Connection], None] | None = None
        # Called on the writer thread with each committed group (ops.metrics counts it).
        self.on_group: Callable[[list[WriteRequest]], None] | None = None
        self.groups = 0
        self.last_group_size = 0
        self._busy = False
        # The load, for admission control (api.admission, docs/operations.md): work units
        # (events; 1 per other write) submitted, on the event loop's thread, and answered, on
        # the writer's; when the commit in progress began (0.0: none); and per recent group,
        # its work units and the seconds it took, for the drain rate.
        self.submitted_work = 0
        self.answered_work = 0
        self.group_started = 0.0
        self._drained: collections.deque[tuple[int, float]] = collections.deque()
        self._drained_work = 0
        self._drained_seconds = 0.0

    def start(self) -> None:
        self._thread.start()
        self.applier.index.start_compacting()

    def stop(self) -> None:
        """Finish everything queued, then stop the thread."""
        self._stopping = True
        for loop in list(self._outbox):
            self._post(loop)
        self._queue.put(None)
        self._thread.join(timeout=60)
        self.applier.index.stop_compacting()
        self.applier.close()

    async def submit(self, request: WriteRequest) -> Any:
        self._enqueue(request)
        assert request.future is not None
        return await request.future

    def submit_nowait(self, request: WriteRequest, callback: Callable[[Any], None]) -> None:
        """As `submit`, for a caller on the event loop that takes the outcome in `callback`
        (called on the loop: the single-event fast path answers from it, api.fast_events)."""
        request.callback = callback
        self._enqueue(request)

    def _enqueue(self, request: WriteRequest) -> None:
        if self._stopping:  # set as well when the writer failed
            if request.expected:
                self._incoming -= 1
            raise ServiceUnavailableError(
                _FAILED if self.failed is not None else "The server is shutting down.")
        loop = asyncio.get_running_loop()
        request.loop = loop
        if request.callback is None:
            request.future = loop.create_future()
        request.stamps = (time.perf_counter(),)
        self.submitted_work += request.weight
        # Requests submitted in the same turn of the event loop go to the writer together: one
        # wake-up of the writer thread (and one GIL hand-over) instead of one per request.
        outbox = self._outbox.get(loop)
        if outbox is None:
            outbox = self._outbox[loop] = []
            loop.call_soon(self._post, loop)
        outbox.append(request)

    def _post(self, loop: asyncio.AbstractEventLoop) -> None:
        requests = self._outbox.pop(loop, None)  # stop() may have posted them already
        if requests:
            self._queue.put(requests)
            self._incoming -= sum(request.expected for request in requests)
            if self.failed is not None:  # the writer failed after these were submitted
                self._refuse_queued()

    def queued(self) -> int:
        """Posts of write requests waiting for the writer thread."""
        return self._queue.qsize()

    def expect(self, n: int) -> None:
        """An ingest request arrived (+1) or left without writing (-1); on the event loop."""
        self._incoming += n

    # --- the load, read by admission control (api.admission) ------------------------------

    def accepting(self) -> bool:
        """False once the writer failed or is stopping: no write will be taken."""
        return not self._stopping

    def backlog(self) -> int:
        """Work units (events) submitted and not answered yet: queued or being committed."""
        return self.submitted_work - self.answered_work

    def busy_for(self, now: float) -> float:
        """Seconds the commit in progress has taken so far (0.0 when idle); long means the
        store takes no writes (a lock held by another process, a stalled disk)."""
        started = self.group_started
        return now - started if started else 0.0

    def drain_rate(self) -> float:
        """Events per second the writer commits while busy, over its last DRAIN_GROUPS groups
        (0.0 until it has committed any): how fast a backlog empties, whatever the load."""
        seconds = self._drained_seconds
        return self._drained_work / seconds if seconds > 0 else 0.0

    def _drain(self, work: int, started: float) -> None:
        """A group of `work` units was answered (writer thread)."""
        self.answered_work += work
        spent = time.monotonic() - started
        drained = self._drained
        if len(drained) == DRAIN_GROUPS:
            old_work, old_spent = drained.popleft()
            self._drained_work -= old_work
            self._drained_seconds -= old_spent
        drained.append((work, spent))
        self._drained_work += work
        self._drained_seconds += spent

    # --- writer thread -------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._serve()
        except BaseException as exc:  # noqa: BLE001 - fail-stop, whatever it was
            log.critical("the writer failed; no write is taken any more", exc_info=True)
            self.failed = exc
            self._stopping = True
            self._refuse_queued()
            if self.on_failure is not None:
                self.on_failure()

    def _refuse_queued(self) -> None:
        """Answer every queued request: not written (a client retries with the same ids)."""
        error = ServiceUnavailableError(_FAILED)
        while True:
            try:
                requests = self._queue.get_nowait()
            except queue.Empty:
                return
            if requests:
                self.answered_work += sum(request.weight for request in requests)
                self._answer_all([(request, error) for request in requests])

    def _serve(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_FLUSH_SECONDS)
            except queue.Empty:
                if self.applier.unflushed.rows:  # idle: write the pending coarse cells out now
                    self._commit_timed([], flush=True)
                continue
            if first is None:
                self._commit_timed([])  # writes the pending coarse cells out (_stopping is set)
                return
            group = list(first)
            weight = sum(request.weight for request in first)
            stop_after = False
            # Under load, wait a moment for more: a bigger group shares its commit and, above
            # all, its rollup cells among more events (docs/benchmarks.md). Alone, or when no
            # ingest request is on its way, don't wait.
            deadline = time.monotonic() + GROUP_WAIT_SECONDS if self._busy else 0.0
            while weight < MAX_GROUP_EVENTS and len(group) < MAX_GROUP_REQUESTS:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    wait = deadline - time.monotonic()
                    if weight >= GROUP_TARGET_EVENTS or wait <= 0 or self._incoming <= 0:
                        break
                    try:
                        nxt = self._queue.get(timeout=wait)
                    except queue.Empty:
                        break
                if nxt is None:
                    stop_after = True
                    break
                group += nxt
                weight += sum(request.weight for request in nxt)
            started = time.monotonic()
            self._commit_timed(group)
            self._drain(weight, started)
            # Busy: the next request is likely already on its way (a commit took a while).
            self._busy = time.monotonic() - started >= BUSY_COMMIT_SECONDS
            self.applier.prepare_flush()
            if (self._queue.empty() and self._incoming <= 0
                    and self.applier.flush_due(paused=True)):
                # Nothing on its way: write the coarse packs out now, in a commit of their
                # own, rather than in the group of the next requests (which would wait for it).
                self._commit_timed([], flush=True)
            if stop_after:
                return

    def _commit_timed(self, group: list[WriteRequest], flush: bool = False) -> None:
        """_commit_group, with `group_started` set meanwhile (busy_for)."""
        self.group_started = time.monotonic()
        try:
            self._commit_group(group, flush)
        finally:
            self.group_started = 0.0

    def _commit_group(self, group: list[WriteRequest], flush: bool = False) -> None:
        conn = self.conn
        began = time.perf_counter()
        try:
            conn.execute("BEGIN IMMEDIATE")
            i = 0
            while i < len(group):
                if group[i].is_events:
                    j = i
                    while j < len(group) and group[j].is_events:
                        j += 1
                    self._apply_event_requests(group[i:j])
                    i = j
                else:
                    self._apply_one(group[i])
                    i += 1
            applied = time.perf_counter()
            if flush or self.applier.flush_due() or self._stopping:
                self.applier.flush_packs(conn, whole=self._stopping)
            flushed = time.perf_counter()
            conn.execute("COMMIT")
            stamps = (began, applied, flushed, time.perf_counter())
        except BaseException:  # noqa: BLE001 - every request must get an answer
            log.exception("group commit failed; %d requests answered with an error", len(group))
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            self.applier.rolled_back(conn)
            error = ApiError("The write could not be made durable; nothing was stored. Retry.")
            self._answer_all([(request, error) for request in group])
            return
        try:
            self.applier.committed()
        except BaseException:
            # Committed, so durable, but the index may not know it: refuse, then fail-stop.
            error = ServiceUnavailableError("The write may not have been recorded. Retry.")
            self._answer_all([(request, error) for request in group])
            raise
        self.groups += 1
        self.last_group_size = len(group)
        for request in group:
            request.stamps = (*request.stamps[:1], *stamps)
        if self.on_group is not None:
            try:
                self.on_group(group)
            except Exception:
                log.exception("observing a group commit")
        self._answer_all([(request, request.outcome) for request in group])
        if self.after_commit is not None:
            try:
                self.after_commit(conn)
            except sqlite3.Error:
                log.exception("after the commit")

    def _savepoint(self, requests: list[WriteRequest], body: Callable[[], None]) -> bool:
        conn = self.conn
        mark = self.applier.mark()
        conn.execute("SAVEPOINT req")
        try:
            body()
            for request in requests:
                if request.finish is not None:
                    request.finish(conn, request.outcome)
        except Exception:
            conn.execute("ROLLBACK TO req")
            conn.execute("RELEASE req")
            self.applier.restore(mark)
            raise
        conn.execute("RELEASE req")
        return True

    def _apply_event_requests(self, requests: list[WriteRequest]) -> None:
        def merged() -> None:
            if all(r.parsed is not None for r in requests):
                outcomes = apply_parsed(self.applier, self.conn,
                                        [r.parsed for r in requests if r.parsed is not None])
                for request, outcome in zip(requests, outcomes, strict=True):
                    request.outcome = outcome
                return
            for request in requests:
                if request.parsed is not None:
                    request.events = events_of(*request.parsed)
                    request.parsed = None
            events = [e for r in requests for e in r.events or ()]
            results = self.applier.apply_events(self.conn, events)
            start = 0
            for request in requests:
                n = len(request.events or ())
                request.outcome = results[start : start + n]
                start += n

        try:
            self._savepoint(requests, merged)
        except Exception:
            if len(requests) == 1:
                log.exception("applying a batch of %d events failed", requests[0].weight)
                requests[0].outcome = ApiError("The batch could not be applied; nothing stored.")
                return
            for request in requests:
                self._apply_event_requests([request])

    def _apply_one(self, request: WriteRequest) -> None:
        assert request.run is not None
        run = request.run

        def body() -> None:
            request.outcome = run(self.conn)

        try:
            self._savepoint([request], body)
        except MeteredError as exc:
            request.outcome = exc
            if request.finish is not None:
                try:
                    request.finish(self.conn, exc)
                except Exception:
                    log.exception("storing the outcome of a failed request failed")
        except Exception as exc:
            log.exception("a write request failed")
            request.outcome = ApiError(f"Internal error: {type(exc).__name__}.")

    @staticmethod
    def _answer_all(answers: list[tuple[WriteRequest, Any]]) -> None:
        """Settle each request on its event loop: one wake-up per loop and group, not one per
        request (a group of single events answers dozens at once)."""
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[WriteRequest, Any]]] = {}
        for request, outcome in answers:
            if request.future is None and request.callback is None:
                continue
            if request.loop is None:
                _settle([(request, outcome)])
            else:
                by_loop.setdefault(request.loop, []).append((request, outcome))
        for loop, settled in by_loop.items():
            loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[WriteRequest, Any]]) -> None:
    for request, outcome in settled:
        callback = request.callback
        if callback is not None:
            # Once: and the callback (a closure that often holds the request) no longer hangs
            # off it, so the pair is freed by reference counting, not left to the cyclic GC.
            request.callback = None
            try:
                callback(outcome)
            except Exception:  # one caller's failure must not keep the others unanswered
                log.exception("answering a write request failed")
        elif request.future is not None and not request.future.done():
            request.future.set_result(outcome)
