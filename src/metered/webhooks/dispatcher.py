"""The webhook dispatcher: delivers the outbox (webhook_deliveries) as signed POSTs, retrying
on Stripe's schedule (exponential backoff with jitter, for about three days).

The outbox rows are written with their events (webhooks.events.record_event), so a committed
event is delivered whatever restarts happen in between: a delivery stays `pending` until an
attempt answers 2xx (`delivered`) or the schedule runs out (`failed`). Each attempt's outcome is
one transaction through the writer. Delivery is at least once, as Stripe's: an attempt whose
outcome was not written before a crash or a stop is made again; receivers dedupe on the
event id. One process delivers (the embedded server): a second would send twice.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from metered import __version__
from metered.clock import now_ms, now_seconds
from metered.errors import MeteredError
from metered.ingest.writer import WriteRequest
from metered.webhooks.events import get_event_by_pk
from metered.webhooks.signing import sign_payload

if TYPE_CHECKING:
    from metered.engine import Engine

log = logging.getLogger("metered.webhooks")

DEFAULT_RETRY_BASE_SECONDS = 60.0
# Retry n waits base * 2**(n-1), at most BACKOFF_CAP * base, +-JITTER: at the default base
# 1, 2, 4 ... 256 minutes (8.5 hours in all), then every 6 hours; MAX_ATTEMPTS makes that
# 1 + 20 tries over about 74 hours (Stripe: "up to three days").
BACKOFF_CAP = 360
MAX_ATTEMPTS = 21
JITTER = 0.2
TIMEOUT_SECONDS = 10.0
MAX_CONCURRENT = 4
# An endpoint that times out holds its attempts for 10 s each: it may not hold every slot.
MAX_PER_ENDPOINT = 2
SCAN_LIMIT = 100  # due deliveries looked at per poll, to find some of other endpoints
POLL_SECONDS = 0.5
MAX_ERROR_LENGTH = 500
USER_AGENT = f"metered/{__version__} (+webhooks; Stripe-Signature)"


def retry_delay_ms(attempts: int, base_seconds: float, rng: random.Random) -> int:
    """How long to wait after the `attempts`-th failed attempt."""
    delay = base_seconds * min(2 ** (attempts - 1), BACKOFF_CAP)
    return max(1, round(delay * rng.uniform(1 - JITTER, 1 + JITTER) * 1000))


@dataclass(frozen=True, slots=True)
class Delivery:
    pk: int
    event_pk: int
    endpoint_pk: int
    attempts: int


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one POST came to: the status code if it got an answer, else the error."""

    status_code: int | None
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def due_deliveries(conn: sqlite3.Connection, now: int, limit: int) -> list[Delivery]:
    rows = conn.execute(
        "SELECT pk, event_pk, endpoint_pk, attempts FROM webhook_deliveries"
        " WHERE status='pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, pk LIMIT ?",
        (now, limit),
    ).fetchall()
    return [Delivery(*row) for row in rows]


def record_attempt(conn: sqlite3.Connection, delivery_pk: int, attempt: Attempt, now: int,
                   retry_base_seconds: float, rng: random.Random) -> str:
    """Write an attempt's outcome (in its own transaction); returns the delivery's status."""
    row = conn.execute("SELECT attempts, status FROM webhook_deliveries WHERE pk=?",
                       (delivery_pk,)).fetchone()
    if row is None or row[1] != "pending":  # settled meanwhile: nothing to record
        return "gone" if row is None else str(row[1])
    attempts = int(row[0]) + 1
    if attempt.succeeded:
        status, next_at = "delivered", now
    elif attempts >= MAX_ATTEMPTS:
        status, next_at = "failed", now
    else:
        status, next_at = "pending", now + retry_delay_ms(attempts, retry_base_seconds, rng)
    conn.execute(
        "UPDATE webhook_deliveries SET attempts=?, status=?, next_attempt_at=?,"
        " last_status_code=?, last_error=?, delivered_at=? WHERE pk=?",
        (attempts, status, next_at, attempt.status_code, attempt.error,
         now if status == "delivered" else None, delivery_pk),
    )
    return status


def drop_delivery(conn: sqlite3.Connection, delivery_pk: int, reason: str) -> None:
    """Give up a pending delivery without an attempt (its endpoint is disabled or deleted)."""
    conn.execute("UPDATE webhook_deliveries SET status='failed', last_error=? WHERE pk=?"
                 " AND status='pending'", (reason, delivery_pk))


def _target(conn: sqlite3.Connection, endpoint_pk: int) -> tuple[str, str] | str:
    """(url, secret) of the endpoint, or why it gets nothing any more."""
    row = conn.execute("SELECT url, secret, status, deleted FROM webhook_endpoints WHERE pk=?",
                       (endpoint_pk,)).fetchone()
    if row is None or row[3]:
        return "the webhook endpoint was deleted"
    if row[2] != "enabled":
        return "the webhook endpoint was disabled"
    return str(row[0]), str(row[1])


class WebhookDispatcher:
    """Runs on the event loop (`run_forever`, started by the API's lifespan): polls the
    outbox for due deliveries and sends up to `max_concurrent` at a time, at most
    MAX_PER_ENDPOINT of them to one endpoint."""

    def __init__(self, engine: Engine, *,
                 retry_base_seconds: float = DEFAULT_RETRY_BASE_SECONDS,
                 poll_interval: float = POLL_SECONDS, max_concurrent: int = MAX_CONCURRENT,
                 timeout: float = TIMEOUT_SECONDS, rng: random.Random | None = None):
        if retry_base_seconds <= 0:
            raise ValueError("retry_base_seconds must be positive")
        self.engine = engine
        self.retry_base_seconds = retry_base_seconds
        self.poll_interval = poll_interval
        self.max_concurrent = max_concurrent
        self.timeout = timeout
        self.rng = rng or random.Random()
        self._in_flight: dict[int, asyncio.Task[None]] = {}  # by delivery pk
        self._per_endpoint: dict[int, int] = {}  # endpoint pk -> deliveries in flight

    async def write(self, run: Callable[[sqlite3.Connection], Any]) -> Any:
        outcome = await self.engine.writer.submit(WriteRequest(run=run))
        if isinstance(outcome, MeteredError):
            raise outcome
        return outcome

    async def run_forever(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False,
                                     headers={"user-agent": USER_AGENT}) as client:
            try:
                while True:
                    try:
                        if self.engine.leads():  # distributed: one process sends
                            self.start_due(client)
                    except Exception:
                        log.exception("reading the webhook outbox failed; retrying in %.1f s",
                                      self.poll_interval)
                    await asyncio.sleep(self.poll_interval)
            finally:
                # Stopping: what is in flight is pending still, and is sent again after a start.
                tasks = list(self._in_flight.values())
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def start_due(self, client: httpx.AsyncClient) -> int:
        """Start sending the due deliveries that fit; returns how many started."""
        free = self.max_concurrent - len(self._in_flight)
        if free <= 0:
            return 0
        started = 0
        for delivery in due_deliveries(self.engine.reader(), now_ms(), SCAN_LIMIT):
            busy = self._per_endpoint.get(delivery.endpoint_pk, 0)
            if delivery.pk in self._in_flight or busy >= MAX_PER_ENDPOINT:
                continue
            self._per_endpoint[delivery.endpoint_pk] = busy + 1
            task = asyncio.create_task(self._deliver(client, delivery))
            self._in_flight[delivery.pk] = task
            task.add_done_callback(lambda _, d=delivery: self._done(d))
            started += 1
            if started == free:
                break
        return started

    def _done(self, delivery: Delivery) -> None:
        self._in_flight.pop(delivery.pk, None)
        left = self._per_endpoint.pop(delivery.endpoint_pk, 1) - 1
        if left:
            self._per_endpoint[delivery.endpoint_pk] = left

    async def _deliver(self, client: httpx.AsyncClient, delivery: Delivery) -> None:
        try:
            conn = self.engine.reader()
            target = _target(conn, delivery.endpoint_pk)
            if isinstance(target, str):
                await self.write(lambda c: drop_delivery(c, delivery.pk, target))
                return
            url, secret = target
            event = get_event_by_pk(conn, delivery.event_pk)
            attempt = await self._post(client, url, event.payload(), secret)
            status = await self.write(lambda c: record_attempt(
                c, delivery.pk, attempt, now_ms(), self.retry_base_seconds, self.rng))
            if status != "delivered":
                log.warning("webhook %s of %s to %s: %s (attempt %d, now %s)", delivery.pk,
                            event.id, url, attempt.error, delivery.attempts + 1, status)
        except Exception:  # (not a cancellation: the stop leaves the delivery pending)
            # Pending still: the next poll tries again. Loud, as a bug here stops deliveries.
            log.exception("delivering webhook %s (event pk %s) failed", delivery.pk,
                          delivery.event_pk)

    async def _post(self, client: httpx.AsyncClient, url: str, payload: bytes, secret: str
                    ) -> Attempt:
        headers = {"content-type": "application/json; charset=utf-8",
                   "stripe-signature": sign_payload(payload, secret, now_seconds())}
        try:
            # Streamed and closed unread: a receiver's answer body is not ours to download.
            async with client.stream("POST", url, content=payload, headers=headers) as response:
                code = response.status_code
        except Exception as exc:  # whatever stops a POST (bad URL too) fails that attempt
            return Attempt(None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH])
        return Attempt(code, None if 200 <= code < 300 else f"HTTP {code}")
