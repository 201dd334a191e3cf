"""`client.events`: one event on Stripe's v1 endpoint, batches on the native endpoint, and
cancellations (v1 meter event adjustments)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, BinaryIO

from metered.client.batching import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    Event,
    chunk_events,
    prepare_events,
)
from metered.client.models import BatchResult, MeterEvent, MeterEventAdjustment
from metered.client.ndjson import NdjsonResult, read_batches
from metered.client.sender import EventSender
from metered.client.transport import Transport
from metered.client.wire import ApiRequest

BATCH_PATH = "/v1/metered/events/batch"


class Events:
    def __init__(self, transport: Transport,
                 sender_factory: Callable[[], EventSender] | None = None):
        self._transport = transport
        self._sender_factory = sender_factory or (lambda: EventSender(transport))
        self._sender: EventSender | None = None
        self._lock = threading.Lock()

    @property
    def sender(self) -> EventSender:
        """The background sender, started on first use."""
        with self._lock:
            if self._sender is None:
                self._sender = self._sender_factory()
            return self._sender

    def send(self, event_name: str, payload: Mapping[str, Any], *,
             identifier: str | None = None, timestamp: int | None = None) -> str:
        """Queue one event for the background sender and return its identifier at once.
        Batches go out by size and time; `flush()` waits for them (see metered.client.sender
        for retries, errors and the buffer's bound)."""
        sender = self.sender
        # Later calls go straight to the sender's `send`: one Python call fewer on the
        # application's hot path (a fifth of what queueing an event costs).
        self.send = sender.send  # type: ignore[method-assign]
        return sender.send(event_name, payload, identifier=identifier, timestamp=timestamp)

    def flush(self, timeout: float | None = None) -> None:
        """Block until every event `send` queued so far is answered."""
        if self._sender is not None:
            self._sender.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        if self._sender is not None:
            self._sender.close(timeout)

    def create(self, event_name: str, payload: Mapping[str, Any], *,
               identifier: str | None = None, timestamp: int | None = None) -> MeterEvent:
        """One event on Stripe's endpoint. Without `identifier` a uuid4 is chosen before the
        first attempt. An identifier already used raises InvalidRequestError with code
        `duplicate_meter_event` (Stripe's behaviour; `send_batch` answers `duplicate`)."""
        body: dict[str, Any] = {"event_name": event_name, "payload": dict(payload),
                                "identifier": identifier or str(uuid.uuid4())}
        if timestamp is not None:
            body["timestamp"] = timestamp
        return self._transport.send(ApiRequest.post("/v1/billing/meter_events", body),
                                    MeterEvent)

    def send_batch(self, events: Iterable[Event], *, chunk_size: int = MAX_BATCH_EVENTS,
                   max_chunk_bytes: int = MAX_BATCH_BYTES) -> BatchResult:
        """Send events (EventIn or dicts of the same shape) on the native batch endpoint, in
        chunks of at most `chunk_size` (<= 10,000) events, each chunk durable when answered.

        Every event gets an outcome, at its position in `events`: accepted, duplicate (its
        identifier already counted) or rejected with the reason. Events without an identifier
        get a uuid4 before the first attempt, so the client's own retries never count one twice.
        If a chunk fails for good (an exception), the chunks before it have been applied: to
        resend safely, pass `prepare(events)` (identifiers fixed) rather than the raw events.
        """
        parts: list[tuple[int, BatchResult]] = []
        for chunk in chunk_events(events, max_events=chunk_size, max_bytes=max_chunk_bytes):
            result = self._transport.send(ApiRequest.post(BATCH_PATH, chunk.body), BatchResult)
            parts.append((chunk.first_index, result))
        return BatchResult.combine(parts)

    def send_ndjson(self, source: BinaryIO, *, batch_size: int = 1_000,
                    on_batch: Callable[[NdjsonResult], None] | None = None) -> NdjsonResult:
        """Stream an NDJSON file (opened in binary) through the batch endpoint, `batch_size`
        events a request, in constant memory; `on_batch` sees the running totals after each.
        If a batch fails for good the error propagates; the totals seen so far say how far it
        got. Resending the file is then safe for the lines that carry an identifier."""
        result = NdjsonResult()
        for batch in read_batches(source, batch_size):
            answer = (self.send_batch(batch.events, chunk_size=batch_size) if batch.events
                      else BatchResult())
            result.add(batch, answer)
            if on_batch is not None:
                on_batch(result)
        return result

    @staticmethod
    def prepare(events: Iterable[Event]) -> list[Event]:
        """The events, each with an identifier (a uuid4 where it had none)."""
        return prepare_events(events)

    def cancel(self, event_name: str, identifier: str) -> MeterEventAdjustment:
        """Cancel the event `identifier` of `event_name`: its usage stops counting."""
        body = {"event_name": event_name, "type": "cancel", "cancel": {"identifier": identifier}}
        request = ApiRequest.post("/v1/billing/meter_event_adjustments", body)
        return self._transport.send(request, MeterEventAdjustment)
