"""The event sender's events on the wire (pure: no I/O): an event as `send` queues it, a batch of
them encoded in one call, and the batch's answer read for its counts and refusals only.

Per event, `send` makes one small Struct (no dict of the event, no lock); msgspec encodes a
whole batch of them at once. An answer lists every event's outcome; only its counts are decoded
unless some event was refused (decoding 1,000 outcomes into objects cost more than encoding the
batch).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec

from metered.client.models import EventOutcome
from metered.client.wire import encode_json


class QueuedEvent(msgspec.Struct, omit_defaults=True, gc=False):
    """One queued event, encoded as the batch endpoint takes it. gc=False: nothing outside the
    sender ever refers to one, so it can't be part of a reference cycle, and a full buffer of
    them costs the garbage collector nothing."""

    event_name: str
    identifier: str
    payload: dict[str, Any]
    timestamp: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The event as `RejectedEvent` reports it."""
        event: dict[str, Any] = {"event_name": self.event_name, "payload": self.payload,
                                 "identifier": self.identifier}
        if self.timestamp is not None:
            event["timestamp"] = self.timestamp
        return event


@dataclass(frozen=True, slots=True)
class Refusal:
    """An event that did not count, at `index` in its batch: the server's code and message."""

    index: int
    code: str | None
    message: str


@dataclass(frozen=True, slots=True)
class Encoded:
    """A batch's body: the events at `positions` of the batch (all of them, unless some could
    not be encoded: those are `unencodable`)."""

    body: bytes
    positions: list[int] | None  # None: every event, in order
    unencodable: list[Refusal]


class _Answer(msgspec.Struct):
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    results: msgspec.Raw = msgspec.Raw(b"[]")


class AnswerError(ValueError):
    """A 2xx answer that is not a batch's answer for the events sent."""


_read_answer = msgspec.json.Decoder(_Answer, float_hook=Decimal).decode
_read_outcomes = msgspec.json.Decoder(list[EventOutcome], float_hook=Decimal).decode


def encode_batch(batch: list[QueuedEvent]) -> Encoded:
    """The batch as a JSON array. A payload msgspec cannot encode (an object of no JSON type)
    refuses its event alone, with code `payload_not_encodable`; the others go."""
    try:
        return Encoded(encode_json(batch), None, [])
    except (TypeError, ValueError, OverflowError):
        pass
    parts: list[bytes] = []
    positions: list[int] = []
    unencodable: list[Refusal] = []
    for i, event in enumerate(batch):
        try:
            parts.append(encode_json(event))
        except (TypeError, ValueError, OverflowError) as exc:
            unencodable.append(Refusal(i, "payload_not_encodable",
                                       f"The event could not be encoded as JSON: {exc}"))
            continue
        positions.append(i)
    return Encoded(b"[" + b",".join(parts) + b"]", positions, unencodable)


def read_answer(body: bytes, sent: int) -> tuple[int, int, list[Refusal]]:
    """(accepted, duplicate, refusals by index in what was sent) of a batch of `sent` events;
    AnswerError if `body` is not that."""
    try:
        answer = _read_answer(body)
        if answer.accepted + answer.duplicate + answer.rejected != sent:
            raise AnswerError(f"counts for {answer.accepted + answer.duplicate + answer.rejected}"
                              f" events, {sent} sent")
        refusals: list[Refusal] = []
        if answer.rejected:
            for outcome in _read_outcomes(answer.results):
                if outcome.status != "rejected":
                    continue
                if not 0 <= outcome.index < sent:
                    raise AnswerError(f"an outcome for event {outcome.index} of {sent}")
                error = outcome.error
                refusals.append(Refusal(outcome.index, error.code if error else None,
                                        (error.message if error else None) or "rejected"))
            if len(refusals) != answer.rejected:
                raise AnswerError(f"{answer.rejected} rejected, {len(refusals)} listed")
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise AnswerError(str(exc)) from exc
    return answer.accepted, answer.duplicate, refusals
