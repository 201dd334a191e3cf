"""Turning events into batch request bodies: an identifier on every event before anything is
sent (so no retry can count one twice), and chunks within the server's limits (10,000 events,
and well under its 32 MiB body limit). Pure: no I/O, shared by every sender."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from metered.client.models import EventIn
from metered.client.wire import encode_json

MAX_BATCH_EVENTS = 10_000
MAX_BATCH_BYTES = 16 << 20

Event = EventIn | Mapping[str, Any]


def with_identifier(event: Event) -> Event:
    """`event`, or a copy of it with a fresh uuid4 identifier if it has none.

    Mappings are passed on as they are otherwise: the server checks their shape and answers a
    malformed one with a per-event rejection, like any other invalid event.
    """
    if isinstance(event, EventIn):
        if event.identifier:
            return event
        return msgspec.structs.replace(event, identifier=str(uuid.uuid4()))
    if not isinstance(event, Mapping):
        raise TypeError(f"An event must be an EventIn or a mapping, not {type(event).__name__}.")
    if event.get("identifier") not in (None, ""):
        return event
    return {**event, "identifier": str(uuid.uuid4())}


def prepare_events(events: Iterable[Event]) -> list[Event]:
    """Every event with an identifier. Send what this returns (not the original events) again
    after an error, and the events that already counted answer `duplicate`."""
    return [with_identifier(e) for e in events]


@dataclass(frozen=True, slots=True)
class Chunk:
    """A batch request body: `count` events encoded as a JSON array, the first one being event
    number `first_index` of the whole input."""

    first_index: int
    count: int
    body: bytes


def chunk_events(events: Iterable[Event], *, max_events: int = MAX_BATCH_EVENTS,
                 max_bytes: int = MAX_BATCH_BYTES) -> Iterator[Chunk]:
    """Identify and encode events lazily into chunks of at most `max_events` events and about
    `max_bytes` bytes (a single larger event still goes, alone, for the server to judge)."""
    max_events = max(1, min(max_events, MAX_BATCH_EVENTS))
    encoded: list[bytes] = []
    size = 0
    first = 0
    for event in events:
        item = encode_json(with_identifier(event))
        if encoded and (len(encoded) >= max_events or size + len(item) + 1 > max_bytes):
            yield _chunk(first, encoded)
            first += len(encoded)
            encoded, size = [], 0
        encoded.append(item)
        size += len(item) + 1
    if encoded:
        yield _chunk(first, encoded)


def _chunk(first: int, encoded: list[bytes]) -> Chunk:
    return Chunk(first, len(encoded), b"[" + b",".join(encoded) + b"]")
