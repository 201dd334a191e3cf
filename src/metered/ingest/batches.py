"""Decoding and validating a batch of events: JSON arrays, `{"events": [...]}` and NDJSON.

Pure of HTTP and of the writer: the API runs it on the event loop for small batches and in a
parse worker process (ingest.parse_pool) for large ones; both give the same answers.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from metered.accounts import Caller
from metered.errors import InvalidRequestError, MeteredError
from metered.ingest.events import EventResult, ValidatedEvent
from metered.ingest.validation import BatchValidator, IngestContext

log = logging.getLogger("metered.ingest")
MAX_BATCH = 10_000
NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/ndjson")
_decoder = msgspec.json.Decoder()


def decode_batch(body: bytes, content_type: str) -> list[Any]:
    """The raw events of a request body, or an InvalidRequestError for the whole request."""
    if not body.strip():
        raise InvalidRequestError("The batch is empty.", code="parameter_missing")
    if content_type in NDJSON_TYPES:
        events = []
        for number, line in enumerate(body.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                events.append(_decoder.decode(line))
            except (msgspec.DecodeError, UnicodeDecodeError) as exc:
                raise InvalidRequestError(
                    f"Line {number} is not valid JSON: {exc}.", code="parameter_invalid_json"
                ) from exc
            except RecursionError as exc:
                raise too_deep(f"Line {number}") from exc
            if len(events) > MAX_BATCH:
                break
    else:
        try:
            decoded = _decoder.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise InvalidRequestError(
                f"Invalid JSON body: {exc}.", code="parameter_invalid_json"
            ) from exc
        except RecursionError as exc:
            raise too_deep("The JSON body") from exc
        events = decoded.get("events") if isinstance(decoded, dict) else decoded
        if not isinstance(events, list):
            raise InvalidRequestError(
                "The batch must be a JSON array of events, an object with an `events` array,"
                " or NDJSON (Content-Type: application/x-ndjson).",
            )
    if len(events) > MAX_BATCH:
        raise InvalidRequestError(
            f"A batch can hold at most {MAX_BATCH} events; split it.",
            code="batch_too_large",
            param="events",
        )
    if not events:
        raise InvalidRequestError("The batch is empty.", code="parameter_missing", param="events")
    return events


def too_deep(what: str) -> InvalidRequestError:
    """JSON nested deeper than the decoder follows (msgspec raises RecursionError near
    Python's recursion limit, ~1,000 levels): refused whole, as malformed JSON is."""
    return InvalidRequestError(
        f"{what} nests arrays and objects too deeply to be decoded.",
        code="parameter_invalid_json",
    )


Validated = tuple[list[ValidatedEvent], list[int], list[EventResult | None]]


def validate_events(raw_events: list[Any], caller: Caller, ctx: IngestContext, now: int,
                    request_id: str = "") -> Validated:
    """(valid events, their positions, a result per position: set for the rejected ones)."""
    validator = BatchValidator(caller, ctx, now)
    valid: list[ValidatedEvent] = []
    positions: list[int] = []
    results: list[EventResult | None] = [None] * len(raw_events)
    for i, raw in enumerate(raw_events):
        outcome = validate_raw(validator, raw, i, request_id)
        if isinstance(outcome, ValidatedEvent):
            valid.append(outcome)
            positions.append(i)
        else:
            results[i] = outcome
    return valid, positions, results


def validate_raw(validator: BatchValidator, raw: Any, position: int,
                 request_id: str = "") -> ValidatedEvent | EventResult:
    """One decoded event of a batch: valid, or its rejection."""
    if not isinstance(raw, dict):
        return EventResult(
            "rejected", None, "parameter_invalid", "Each event must be a JSON object.", None
        )
    try:
        return validator(raw)
    except MeteredError as exc:
        identifier = raw.get("identifier")
        return EventResult(
            "rejected", identifier if isinstance(identifier, str) else None,
            exc.code, exc.message, exc.param,
        )
    except (ValueError, TypeError, RecursionError):
        # A validation bug must cost one event its answer, not the whole batch: log it loudly.
        log.exception("validating event %d of %s raised", position, request_id)
        identifier = raw.get("identifier")
        return EventResult(
            "rejected", identifier if isinstance(identifier, str) else None,
            "parameter_invalid", "This event could not be validated.", None,
        )


def batch_body(results: list[EventResult | None]) -> dict[str, Any]:
    """The answer to a batch: counts, and each event's outcome at its index."""
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    wire = []
    for i, result in enumerate(results):
        assert result is not None
        counts[result.status] += 1
        wire.append(result.to_wire(i))
    return {"object": "metered.event_batch", **counts, "results": wire}
