"""Admission control for ingest: a memory budget for the work in flight, and 429 or 503 with
Retry-After when the store falls behind, instead of a queue without bound.

Every ingest request reserves an estimate of the memory it will hold (its body read, decoded,
validated, queued to the writer, its answer) from one budget before its body is read, and
gives it back once answered. A request the budget cannot take is refused at once, its body
unread: 429 `rate_limit_error`, code `ingest_backpressure`, Retry-After = the writer's backlog
over its drain rate. So is one that comes while the requests in flight hold more than
QUEUE_SECONDS of what is answered per second (and more than QUEUE_FLOOR_BYTES): the memory
bound alone let admitted requests queue for seconds at an overload, in front of the parse
workers as much as the writer (docs/benchmarks.md, the soak). When the store
takes no writes at all (the writer failed or stops, or one commit has run for STALLED_SECONDS:
a lock held by another process, a stalled disk) it is 503 `api_error`, code
`ingest_unavailable`, with Retry-After too. Reads are never refused here.
docs/operations.md ("Backpressure and the memory budget") has the figures.

The object knows the writer only through `WriteLoad`, so the distributed mode's API processes
can hold one in front of their log producer as well.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from metered.errors import PayloadTooLargeError, RateLimitError

MB = 1 << 20
# Memory held per ingest request: a fixed part (its connection's buffers, objects, task, the
# answer's headers) and a multiple of its body (the body, the decoded events or a parse
# worker's columns, the queued write, the answer). Measured with the writer held by a lock
# (docs/operations.md): server RSS per request queued ~9 KB for a single event, ~24 KB for
# 10 events in one batch, 3.1x the body for 1,000-event batches through a parse worker and
# 4.1x validated in the server (5.2x at the peak, answers made), 2.8x for 10,000 events.
REQUEST_BYTES = 24 << 10
BODY_FACTOR = 6
DEFAULT_BUDGET_MB = 512  # at most; 1/8 of the machine's memory on smaller machines
MIN_BUDGET_MB = 16
# The requests in flight may hold what is answered in this long (Little's law: the wait of a
# request admitted now), or QUEUE_FLOOR_BYTES where that is more: ~50 batches of 1,000 events,
# nearly a full group of the writer's, so that the bound never leaves it short of work.
QUEUE_SECONDS = 1.0
QUEUE_FLOOR_BYTES = 64 * MB
RATE_WINDOW_SECONDS = 1.0  # the answered rate is measured over windows this long
STALLED_SECONDS = 5.0  # one commit this long: the store takes no writes
UNAVAILABLE_RETRY_SECONDS = 5.0
MAX_RETRY_SECONDS = 60.0

Receive = Callable[[], Awaitable[dict[str, Any]]]


class WriteLoad(Protocol):
    """What admission reads of the writer (ingest.writer.GroupCommitWriter)."""

    def accepting(self) -> bool: ...

    def backlog(self) -> int: ...

    def busy_for(self, now: float) -> float: ...

    def drain_rate(self) -> float: ...


class IngestUnavailableError(RateLimitError):
    """503: the whole server takes no writes now. A RateLimitError so that it is answered on
    the same path, with Retry-After (api.responses.error_response)."""

    type = "api_error"
    status = 503


def default_budget_mb() -> int:
    """DEFAULT_BUDGET_MB, or 1/8 of the machine's memory where that is less."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return DEFAULT_BUDGET_MB
    return max(MIN_BUDGET_MB, min(DEFAULT_BUDGET_MB, total // 8 // MB))


class IngestAdmission:
    """The budget and its use. Called on the event loop's thread only (no lock); the writer's
    load is read from its counters."""

    def __init__(self, budget_bytes: int, load: WriteLoad,
                 clock: Callable[[], float] = time.monotonic):
        self.budget = budget_bytes
        self.load = load
        self.clock = clock
        self.in_flight = 0  # bytes reserved by the requests admitted and not answered
        self.requests = 0  # those requests
        self.peak = 0  # the most bytes ever reserved at once
        self.admitted = 0
        self.refused = {"budget": 0, "queue": 0, "unavailable": 0, "too_large": 0}
        self.released = 0  # bytes released since the start: what has been answered
        self._window = (clock(), 0)  # (when, released then): the current rate window
        self._rate = 0.0  # bytes answered per second over the last whole window

    def admit(self, body_bytes: int) -> int:
        """Reserve the memory of a request whose body has (at most) `body_bytes`; returns the
        charge to `release` once answered. Raises, reserving nothing: 429 over the budget or
        with QUEUE_SECONDS of work in flight, 503 when no write can be taken, 413 when the
        request alone exceeds the budget."""
        charge = REQUEST_BYTES + BODY_FACTOR * body_bytes
        in_flight = self.in_flight + charge
        load = self.load
        now = self.clock()
        if load.busy_for(now) >= STALLED_SECONDS:
            self._refuse(charge, "stalled")
        if in_flight > self.budget or not load.accepting():
            self._refuse(charge, "budget")
        if self.in_flight > QUEUE_FLOOR_BYTES and (
                self.in_flight > self.answered_rate(now) * QUEUE_SECONDS):
            self._refuse(charge, "queue")
        self.in_flight = in_flight
        self.requests += 1
        self.admitted += 1
        if in_flight > self.peak:
            self.peak = in_flight
        return charge

    def extend(self, charge: int, more_bytes: int) -> int:
        """Reserve `more_bytes` of body more for an admitted request (a body without a
        Content-Length, read chunk by chunk); returns its new charge. On refusal the request
        keeps its charge (released with it)."""
        extra = BODY_FACTOR * more_bytes
        if self.in_flight + extra > self.budget:
            self._refuse(charge + extra, "budget")
        self.in_flight += extra
        self.peak = max(self.peak, self.in_flight)
        return charge + extra

    def release(self, charge: int) -> None:
        self.in_flight -= charge
        self.requests -= 1
        self.released += charge

    def answered_rate(self, now: float) -> float:
        """Bytes (of reservations) answered per second, over the last whole window."""
        at, released = self._window
        if now - at >= RATE_WINDOW_SECONDS:
            self._rate = (self.released - released) / (now - at)
            self._window = (now, self.released)
        return self._rate

    def queue_seconds(self) -> float:
        """How long the work in flight takes to be answered at the current rate."""
        rate = self.answered_rate(self.clock())
        return self.in_flight / rate if rate > 0 else 0.0

    def reserve_body(self, content_length: str | None, limit: int) -> Reservation:
        """The ASGI path's reservation, before the body is read: by its Content-Length (at
        most `limit`, the route's own maximum, which answers 413 past it), or growing with
        the chunks read when there is none."""
        length = None
        if content_length is not None:
            try:
                length = min(int(content_length), limit)
            except ValueError:
                length = None
        reservation = Reservation(self, length)
        reservation.charge = self.admit(0 if length is None else length)
        return reservation

    def _refuse(self, charge: int, why: str) -> None:
        """Raise the answer to a request refused (`why`: stalled, budget or queue), counted
        by the reason it is given."""
        load = self.load
        if not load.accepting():
            self.refused["unavailable"] += 1
            raise IngestUnavailableError(
                "The server takes no writes now (it is stopping or restarting); nothing was"
                " stored. Retry later.", code="ingest_unavailable",
                retry_after=UNAVAILABLE_RETRY_SECONDS)
        if why == "stalled":
            self.refused["unavailable"] += 1
            raise IngestUnavailableError(
                "The store has taken no write for several seconds; nothing was stored. Retry"
                " later.", code="ingest_unavailable", retry_after=UNAVAILABLE_RETRY_SECONDS)
        if why == "budget" and charge > self.budget:
            self.refused["too_large"] += 1
            raise PayloadTooLargeError(
                f"The request needs more memory than the server's ingest budget"
                f" ({self.budget // MB} MB): send smaller batches.", code="request_too_large")
        self.refused[why] += 1
        # Until the work ahead is answered: the writer's backlog at its drain rate, or all in
        # flight (parse workers included) at the rate requests are answered.
        rate = load.drain_rate()
        wait = max(load.backlog() / rate if rate > 0 else 1.0, self.queue_seconds())
        wait = min(max(wait, 1.0), MAX_RETRY_SECONDS)
        raise RateLimitError(
            f"The server is ingesting as fast as it can store: retry after {math.ceil(wait)} s"
            " (nothing of this request was stored).", code="ingest_backpressure",
            retry_after=wait)


class Reservation:
    """One ASGI request's share of the budget (IngestAdmission.reserve_body)."""

    __slots__ = ("admission", "charge", "covered", "growing")

    def __init__(self, admission: IngestAdmission, length: int | None):
        self.admission = admission
        self.charge = 0
        self.covered = length or 0  # body bytes paid for
        self.growing = length is None  # no Content-Length: paid for chunk by chunk

    def receive(self, receive: Receive) -> Receive:
        """`receive`, reserving each chunk's memory as it comes when the request has no
        Content-Length (with one, the HTTP parser ends the body there)."""
        if not self.growing:
            return receive
        read = 0

        async def counted() -> dict[str, Any]:
            nonlocal read
            message = await receive()
            read += len(message.get("body", b""))
            if read > self.covered:
                self.charge = self.admission.extend(self.charge, read - self.covered)
                self.covered = read
            return message

        return counted

    def release(self) -> None:
        self.admission.release(self.charge)
