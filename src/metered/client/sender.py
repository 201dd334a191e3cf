"""The background event sender behind `client.events.send`: events queue in memory and go out
in batches, by size or after a short wait, from worker threads.

- **Never counted twice.** Each event gets its identifier when it is queued; a batch that
  fails is sent again with the same identifiers (the poster's own retries send the same
  bytes), so the server answers `duplicate` for whatever had already counted. The identifiers
  make an Idempotency-Key redundant: none is sent (see batch_requests.py).
- **Never dropped silently.** A batch that fails with a network error, 429 or 5xx is retried
  with exponential backoff and jitter (honouring Retry-After) until it is answered; an event
  the server refuses, or a batch refused for good (400, 401...), goes to `on_error`, and
  `errors` keeps the last ones; so does an event whose payload cannot be encoded as JSON.
- **Bounded memory.** At most `max_buffered` events wait (sent but not yet answered ones
  included; a few more when several threads call `send` at once); then `send` blocks
  (`on_full="block"`, the default) or raises `BufferFullError`.
- `flush()` returns once every event queued before it is answered; `close()` flushes and
  stops the threads (also at interpreter exit).

`send` is the application's hot path, so it takes no lock: it appends to a deque (atomic)
after one comparison; the lock is taken once per batch to wake an idle worker, or when the
buffer is full. Workers take batches in queue order under the lock, which numbers the events
for `flush`. Batches go out on lean keep-alive connections (batch_requests.py).
"""

from __future__ import annotations

import atexit
import itertools
import logging
import random
import secrets
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from metered.client.errors import APIConnectionError, APIError, MeteredError, RateLimitError
from metered.client.queued_events import (
    AnswerError,
    QueuedEvent,
    Refusal,
    encode_batch,
    read_answer,
)
from metered.client.transport import Transport

BATCH_PATH = "/v1/metered/events/batch"
NEVER = sys.maxsize
log = logging.getLogger("metered.client")


class BufferFullError(MeteredError):
    """`send` with `on_full="raise"` when `max_buffered` events are waiting."""


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    event: dict[str, Any]
    code: str | None
    message: str


ErrorHandler = Callable[[RejectedEvent], None]


class EventSender:
    def __init__(self, transport: Transport, *, batch_size: int = 1000,
                 flush_interval: float = 0.25, max_buffered: int = 100_000,
                 on_full: Literal["block", "raise"] = "block", workers: int = 8,
                 on_error: ErrorHandler | None = None, max_backoff: float = 30.0):
        if not 1 <= batch_size <= 10_000:
            raise ValueError("batch_size must be 1 to 10,000")
        self._post = transport.poster(BATCH_PATH).post
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.max_buffered = max(max_buffered, batch_size)
        self.on_full = on_full
        self.on_error = on_error
        self.max_backoff = max_backoff
        self.errors: deque[RejectedEvent] = deque(maxlen=1000)
        self.accepted = self.duplicates = self.rejected = 0
        self._queue: deque[QueuedEvent] = deque()
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)  # a batch answered, or closing
        self._in_flight = 0  # events taken by workers, not yet answered
        self._taken = 0  # events taken so far: the number of the queue's first event
        self._done_upto = 0  # every event numbered below this is answered
        self._done_starts: dict[int, int] = {}  # answered batches beyond it: start -> end
        self._oldest = 0.0  # monotonic time the oldest queued event arrived (about)
        self._idle: list[threading.Lock] = []  # the waiting workers' wake-up locks
        self._waking = 0  # workers woken that have not taken their batch yet
        self._wake_at = NEVER  # queue length at which `send` wakes an idle worker
        # The queue length from which `send` takes the locked way (the buffer full, the sender
        # closed, or an idle worker to wake): one comparison on the hot path.
        self._check_at = self.max_buffered
        self._closed = False
        self._flushing = 0  # flush() calls waiting: send without waiting for the interval
        self._abandoned = threading.Event()  # close() gave up: report what is left instead
        self._id_prefix = secrets.token_urlsafe(16) + "-"  # 128 random bits, 22 characters
        self._id_counter = itertools.count()
        self._threads = [threading.Thread(target=self._work, name=f"metered-sender-{i}",
                                          daemon=True) for i in range(max(1, workers))]
        for thread in self._threads:
            thread.start()
        ref = weakref.ref(self)
        atexit.register(lambda: (s := ref()) is not None and s.close(timeout=10))

    # --- the caller's side -------------------------------------------------------------------

    def send(self, event_name: str, payload: Mapping[str, Any], *,
             identifier: str | None = None, timestamp: int | None = None) -> str:
        """Queue one event; returns its identifier at once. Without one it gets a random
        128-bit prefix per sender and a counter: unique like a uuid4 per event, at a tenth
        of its cost."""
        if not identifier:
            identifier = f"{self._id_prefix}{next(self._id_counter)}"
        event = QueuedEvent(event_name, identifier, dict(payload), timestamp)
        queue = self._queue
        # The length first, then the threshold: a worker lowers the threshold before it takes
        # events from the queue, so a read between the two errs towards the locked way.
        queued = len(queue)
        if queued >= self._check_at:
            self._send_locked(event)
            return identifier
        if not queued:
            self._oldest = time.monotonic()
        queue.append(event)
        return identifier

    def _send_locked(self, event: QueuedEvent) -> None:
        """Queue `event` once there is room, and wake a worker if a batch is ready."""
        with self._lock:
            while True:
                if self._closed:
                    raise MeteredError("The event sender is closed.")
                if len(self._queue) + self._in_flight < self.max_buffered:
                    break
                if self.on_full == "raise":
                    raise BufferFullError(
                        f"{self.max_buffered} events are waiting to be sent: the server is"
                        " slower than the events come, or unreachable.")
                self._wake_workers()
                self._settled.wait()
            if not self._queue:
                self._oldest = time.monotonic()
            self._queue.append(event)
            self._wake_workers()

    def flush(self, timeout: float | None = None) -> None:
        """Block until every event queued so far is answered (accepted, duplicate or
        refused); TimeoutError if that takes longer than `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            target = self._taken + len(self._queue)
            self._flushing += 1
            self._wake_workers(every=True)  # send what waits without waiting for the interval
            try:
                while self._done_upto < target:
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        raise TimeoutError(
                            f"{target - self._done_upto} events not yet answered")
                    self._settled.wait(timeout=0.5 if left is None else min(left, 0.5))
            finally:
                self._flushing -= 1

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the worker threads. If the events cannot all be answered within
        `timeout` seconds, those left are reported to `on_error` (code `not_sent`) and
        TimeoutError is raised: nothing is dropped silently."""
        if self._closed:
            return
        try:
            self.flush(timeout)
        except TimeoutError:
            self._give_up()
            raise
        finally:
            with self._lock:
                self._closed = True
                self._wake_workers(every=True)
                self._settled.notify_all()
            deadline = time.monotonic() + 5
            for thread in self._threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
            self._give_up()  # events queued by a `send` racing this close

    def _give_up(self) -> None:
        self._abandoned.set()
        with self._lock:
            left = list(self._queue)
            self._queue.clear()
            start = self._taken
            self._taken += len(left)
            self._in_flight += len(left)
            self._wake_workers(every=True)
        if left:
            error = MeteredError("The event was not sent: the sender was closed before the"
                                 " server answered.", code="not_sent")
            self._settle(start, left, 0, 0, [Refusal(i, error.code, str(error))
                                             for i in range(len(left))])

    # --- the workers -------------------------------------------------------------------------

    def _wake_workers(self, every: bool = False) -> None:
        """Wake an idle worker for each full batch waiting (all of them if `every`), and set
        the queue length at which `send` wakes the next. Called with the lock held."""
        idle, queue = self._idle, self._queue
        while idle and (every or len(queue) >= (self._waking + 1) * self.batch_size):
            idle.pop().release()
            self._waking += 1
        self._wake_at = (self._waking + 1) * self.batch_size if idle else NEVER
        self._set_check_at()

    def _set_check_at(self) -> None:
        """Called with the lock held whenever what `_check_at` depends on changes."""
        room = 0 if self._closed else self.max_buffered - self._in_flight
        self._check_at = min(room, self._wake_at - 1)

    def _take(self, wake: threading.Lock) -> tuple[int, list[QueuedEvent]] | None:
        """The next batch and the number of its first event; None once closed and empty."""
        with self._lock:
            while True:
                queue = self._queue
                n = len(queue)
                if n:
                    due = self._oldest + self.flush_interval - time.monotonic()
                    if (n >= self.batch_size or due <= 0 or self._flushing
                            or self._closed):
                        count = min(self.batch_size, n)
                        self._in_flight += count  # before the events leave the queue
                        self._set_check_at()
                        popleft = queue.popleft
                        batch = [popleft() for _ in range(count)]
                        start = self._taken
                        self._taken += count
                        if queue:
                            self._oldest = time.monotonic()
                        self._wake_workers()
                        return start, batch
                elif self._closed:
                    return None
                else:
                    due = self.flush_interval
                self._idle.append(wake)
                self._wake_workers()
                self._lock.release()
                try:
                    woken = wake.acquire(timeout=due)
                finally:
                    self._lock.acquire()
                if wake in self._idle:  # nobody woke it: the wait timed out
                    self._idle.remove(wake)
                else:
                    self._waking -= 1
                    if not woken:  # woken just as the wait timed out: take that wake-up
                        wake.acquire()

    def _work(self) -> None:
        wake = threading.Lock()
        wake.acquire()  # released by whoever wakes this worker
        while (taken := self._take(wake)) is not None:
            start, batch = taken
            try:
                self._deliver(start, batch)
            except BaseException as exc:  # a bug: report the batch rather than hang flush()
                log.exception("the event sender failed on a batch of %d events", len(batch))
                self._settle(start, batch, 0, 0, [Refusal(i, None, f"{type(exc).__name__}:"
                                                               f" {exc}")
                                                  for i in range(len(batch))])

    def _deliver(self, start: int, batch: list[QueuedEvent]) -> None:
        encoded = encode_batch(batch)
        refused = list(encoded.unencodable)
        sent = len(batch) - len(refused)
        attempt = 0
        while sent:
            try:
                answer = self._post(encoded.body)
                accepted, duplicate, refusals = read_answer(answer, sent)
            except AnswerError as exc:
                error: MeteredError = APIError(f"Unexpected answer to POST {BATCH_PATH}: {exc}",
                                               status=200)
                retry = False
            except (APIConnectionError, RateLimitError) as exc:
                error, retry = exc, True
            except MeteredError as exc:
                error = exc
                retry = exc.status is None or exc.status >= 500 or exc.status == 409
            else:
                positions = encoded.positions
                if positions is not None:
                    refusals = [Refusal(positions[r.index], r.code, r.message)
                                for r in refusals]
                self._settle(start, batch, accepted, duplicate, refused + refusals)
                return
            attempt += 1
            delay = min(self.max_backoff, 0.5 * 2 ** min(attempt, 10))
            if not retry or self._abandoned.wait(delay * random.uniform(0.5, 1.0)):
                positions = encoded.positions or range(len(batch))
                refused += [Refusal(i, error.code, str(error)) for i in positions]
                break
        self._settle(start, batch, 0, 0, refused)

    def _settle(self, start: int, batch: list[QueuedEvent], accepted: int, duplicate: int,
                refusals: list[Refusal]) -> None:
        for refusal in refusals:
            rejection = RejectedEvent(batch[refusal.index].as_dict(), refusal.code,
                                      refusal.message)
            self.errors.append(rejection)
            if self.on_error is not None:
                try:
                    self.on_error(rejection)
                except Exception:  # the caller's handler must not stop the sending
                    log.exception("the event sender's on_error handler raised")
        with self._lock:
            self.accepted += accepted
            self.duplicates += duplicate
            self.rejected += len(refusals)
            self._in_flight -= len(batch)
            self._set_check_at()
            self._done_starts[start] = start + len(batch)
            while self._done_upto in self._done_starts:
                self._done_upto = self._done_starts.pop(self._done_upto)
            self._settled.notify_all()
