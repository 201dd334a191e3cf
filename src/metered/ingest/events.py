"""The meter event as it travels from validation to the writer, and per-event outcomes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import msgspec

from metered.metering.meters import Meter

DEDUPE_DAYS = 35
MAX_PAST_SECONDS = DEDUPE_DAYS * 86_400
MAX_FUTURE_SECONDS = 300

Status = Literal["accepted", "duplicate", "rejected"]


def dedupe_key(account_pk: int, livemode: bool, event_name: str, identifier: str) -> bytes:
    """The exactly-once key: never the timestamp (see ARCHITECTURE.md, invariant 2)."""
    material = dedupe_key_prefix(account_pk, livemode, event_name) + identifier.encode()
    return hashlib.blake2b(material, digest_size=16).digest()


def dedupe_key_prefix(account_pk: int, livemode: bool, event_name: str) -> bytes:
    """What dedupe_key hashes before the identifier's UTF-8 (the batch paths compute it once
    per meter, then hash prefix + identifier for each event)."""
    return f"{account_pk}\x1f{int(livemode)}\x1f{event_name}\x1f".encode()


@dataclass(slots=True)
class ValidatedEvent:
    key: bytes
    meter: Meter
    customer_pk: int
    dims: str  # canonical JSON of the meter's dimension values, "" when it declares none
    ts: int
    identifier: str
    value: str  # canonical decimal text for numeric formulas; the raw text for unique_count
    scaled: int  # value * 10**12 for numeric formulas, 0 for count and unique_count
    payload: str  # JSON text of the payload object (as sent in a JSON batch, else re-encoded)


class EventResult(msgspec.Struct, frozen=True):
    """One event's outcome (a Struct: thousands are made per batch, cheaply)."""

    status: Status
    identifier: str | None
    code: str | None = None
    message: str | None = None
    param: str | None = None

    def to_wire(self, index: int) -> WireResult:
        error = None
        if self.status == "rejected":
            error = {"code": self.code, "message": self.message, "param": self.param}
        return WireResult(index, self.identifier, self.status, error)


class WireResult(msgspec.Struct, omit_defaults=True):
    """An event's entry in a batch answer; `error` only when rejected."""

    index: int
    identifier: str | None
    status: str
    error: dict[str, str | None] | None = None


ACCEPTED_NEW = "accepted"
DUPLICATE = "duplicate"
