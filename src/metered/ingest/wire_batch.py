"""A JSON batch decoded straight into columns, with types checked by msgspec: the worker's path.

Decoding a batch into dicts and checking each field in Python costs several microseconds per
event, most of the parse worker's time. Here msgspec decodes every event's envelope
(`event_name`, `identifier`, `timestamp`) into a typed Struct and keeps each payload as raw JSON
text; the payload is then decoded into a Struct made for its meter, holding only the keys the
meter reads (customer, value, dimensions), so the keys it does not read are skipped in C.

An event that does not fit this path (an unknown customer, a value that is not a plain
non-negative integer, a payload of 506 bytes or more, an identifier to be generated, ...) is
validated from its decoded form by BatchValidator, so its answer is exactly the one
validate_event gives. A body whose envelopes do not decode with these types (a timestamp as a
string, an event that is not an object) returns None: the caller decodes it as plain JSON and
validates it the usual way (ingest.batches). NDJSON bodies always take that way.

Stored payload text: the payload object as the client sent it (a JSON body's bytes for it),
where the other paths store msgspec's re-encoding; both decode to the same JSON value.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgspec

from metered.accounts import Caller
from metered.ingest.batches import MAX_BATCH, validate_raw
from metered.ingest.events import (
    MAX_FUTURE_SECONDS,
    MAX_PAST_SECONDS,
    EventResult,
    ValidatedEvent,
    dedupe_key_prefix,
)
from metered.ingest.validation import (
    MAX_DIMENSION_VALUE,
    MAX_IDENTIFIER,
    MAX_UNIQUE_VALUE,
    BatchValidator,
    IngestContext,
    plain_quantity,
)
from metered.metering.meters import Meter
from metered.metering.quantity import LO_BITS, LO_MASK

# A payload shorter than this cannot hold more than MAX_PAYLOAD_KEYS (100) keys: 101 keys take
# at least `{` + 101 x `"":0` + 100 commas + `}` = 506 bytes, fewer than MAX_PAYLOAD_BYTES too.
# Nor a key longer than MAX_PAYLOAD_KEY_LENGTH, nor nesting deeper than MAX_PAYLOAD_DEPTH: the
# fast paths (this one and the native one) need not check those.
SMALL_PAYLOAD = 506
_NULL = msgspec.Raw(b"null")


class _Envelope(msgspec.Struct):
    event_name: str | None = None
    identifier: str | None = None
    timestamp: int | None = None
    payload: msgspec.Raw = _NULL


class _Wrapped(msgspec.Struct):
    events: list[_Envelope]


_decode_array = msgspec.json.Decoder(list[_Envelope]).decode
_decode_wrapped = msgspec.json.Decoder(_Wrapped).decode
_decode_any = msgspec.json.Decoder().decode
_encode_json = msgspec.json.Encoder().encode


@dataclass(slots=True)
class Columns:
    """The valid events of a batch as columns, in position order, and the others' results."""

    results: list[EventResult | None]
    positions: list[int] = field(default_factory=list)
    keys: list[bytes] = field(default_factory=list)
    meter_pk: list[int] = field(default_factory=list)
    customer_pk: list[int] = field(default_factory=list)
    ts: list[int] = field(default_factory=list)
    dims_idx: list[int] = field(default_factory=list)
    scaled_hi: list[int] = field(default_factory=list)
    scaled_lo: list[int] = field(default_factory=list)
    identifier: list[str] = field(default_factory=list)
    value: list[str] = field(default_factory=list)
    payload: list[str] = field(default_factory=list)
    dims_table: dict[tuple[int, str], int] = field(default_factory=dict)

    def dims(self, meter_pk: int, dims: str) -> int:
        """The index of (meter, canonical dimension values) in the batch's table."""
        pair = (meter_pk, dims)
        idx = self.dims_table.get(pair)
        if idx is None:
            idx = self.dims_table[pair] = len(self.dims_table)
        return idx

    def number_dims_in_order(self) -> None:
        """Renumber the dimension sets by their first event's position. The fast loop numbers
        them as it meets them, before the events it leaves to the general validator; the
        writer assigns dimension-set pks in this order, which must not depend on the path."""
        order: dict[int, int] = {}
        for idx in self.dims_idx:
            order.setdefault(idx, len(order))
        if all(old == new for old, new in order.items()):
            return
        table = list(self.dims_table)
        self.dims_table = {table[old]: new for old, new in order.items()}
        self.dims_idx = [order[idx] for idx in self.dims_idx]

    def append_row(self, row: tuple[Any, ...]) -> None:
        """A fast path row: (position, key, meter, customer, ts, dims index, scaled hi, scaled
        lo, identifier, value, payload)."""
        for column, value in zip(self._row_columns(), row, strict=True):
            column.append(value)

    def _row_columns(self) -> tuple[list[Any], ...]:
        return (self.positions, self.keys, self.meter_pk, self.customer_pk, self.ts,
                self.dims_idx, self.scaled_hi, self.scaled_lo, self.identifier, self.value,
                self.payload)

    def add(self, position: int, event: ValidatedEvent) -> None:
        meter_pk = event.meter.pk
        self.append_row((position, event.key, meter_pk, event.customer_pk, event.ts,
                         self.dims(meter_pk, event.dims), event.scaled >> LO_BITS,
                         event.scaled & LO_MASK, event.identifier, event.value, event.payload))

    @classmethod
    def of(cls, valid: list[ValidatedEvent], positions: list[int],
           results: list[EventResult | None]) -> Columns:
        columns = cls(results)
        for position, event in zip(positions, valid, strict=True):
            columns.add(position, event)
        return columns


class _Plan:
    """What the fast path needs for the events of one meter, made once per batch."""

    __slots__ = ("meter", "key_prefix", "decode", "numeric", "dims_at", "dims")

    def __init__(self, meter: Meter, caller: Caller):
        self.meter = meter
        self.key_prefix = dedupe_key_prefix(caller.account_pk, caller.livemode, meter.event_name)
        self.numeric = meter.formula != "count"
        fields: list[tuple[str, Any, None]] = [("c", str | None, None)]
        rename = {"c": meter.customer_key}
        fields.append(("v", (str | int | None) if self.numeric else (str | None), None))
        rename["v"] = meter.value_key
        for i, key in enumerate(meter.dimension_keys):
            fields.append((f"d{i}", str | None, None))
            rename[f"d{i}"] = key
        if len(set(rename.values())) < len(rename):
            raise ValueError("a payload key read twice")  # not for this path
        payload_type = msgspec.defstruct("Payload", fields, rename=rename)
        self.decode = msgspec.json.Decoder(payload_type).decode
        self.dims_at = 2 if meter.dimension_keys else None
        self.dims: dict[tuple[str | None, ...], int] = {}  # values -> index in dims_table


def _plan_for(caller: Caller, ctx: IngestContext, event_name: str | None) -> _Plan | None:
    if event_name is None:
        return None
    meter = ctx.meters.for_event(caller, event_name)
    if meter is None or meter.formula not in ("sum", "max", "last", "count"):
        return None
    try:
        return _Plan(meter, caller)
    except ValueError:
        return None


def _envelopes(body: bytes) -> list[_Envelope] | None:
    start = body.lstrip()[:1]
    try:
        if start == b"[":
            return _decode_array(body)
        if start == b"{":
            return _decode_wrapped(body).events
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):  # ValidationError too
        return None  # ingest.batches refuses it, or decodes it and says what is wrong
    return None


def decode_columns(body: bytes, caller: Caller, ctx: IngestContext, now: int,
                   request_id: str = "") -> Columns | None:
    """The batch as columns, or None if its envelopes are not all typed as the fast path needs
    (then decode and validate it with ingest.batches: same answers, more time)."""
    envelopes = _envelopes(body)
    if envelopes is None or not 0 < len(envelopes) <= MAX_BATCH:
        return None
    columns = Columns([None] * len(envelopes))
    plans: dict[str | None, _Plan | None] = {}
    customers: dict[str, int] = {}
    rows: list[tuple[Any, ...]] = []  # the fast events' column values, transposed at the end
    slow: list[int] = []
    blake2b, astuple, lookup = hashlib.blake2b, msgspec.structs.astuple, ctx.customers.lookup
    oldest, newest = now - MAX_PAST_SECONDS, now + MAX_FUTURE_SECONDS
    # One loop, no calls per event beyond the C ones: this is the worker's hot path. Any check
    # that fails sends the event to `slow` (BatchValidator), before anything is appended.
    for position, envelope in enumerate(envelopes):
        name = envelope.event_name
        plan = plans[name] if name in plans else plans.setdefault(name,
                                                                   _plan_for(caller, ctx, name))
        identifier = envelope.identifier
        raw = envelope.payload
        ts = envelope.timestamp
        if ts is None:
            ts = now
        if (plan is None or identifier is None or not 0 < len(identifier) <= MAX_IDENTIFIER
                or not 0 < len(raw) < SMALL_PAYLOAD or not oldest <= ts <= newest):
            slow.append(position)
            continue
        try:
            payload = plan.decode(raw)
            key = blake2b(plan.key_prefix + identifier.encode(), digest_size=16).digest()
        except (msgspec.ValidationError, UnicodeEncodeError):  # not an object, a type, surrogates
            slow.append(position)
            continue
        customer_id = payload.c
        customer_pk = customers.get(customer_id) if customer_id is not None else None
        if customer_pk is None:
            customer_pk = lookup(ctx.reader, caller, customer_id) if customer_id else None
            if customer_pk is None:
                slow.append(position)
                continue
            customers[customer_id] = customer_pk  # type: ignore[index]
        raw_value = payload.v
        if not plan.numeric:
            value, scaled = ("" if raw_value is None else raw_value[:MAX_UNIQUE_VALUE]), 0
        else:
            quantity = plain_quantity(raw_value)
            if quantity is None:
                slow.append(position)
                continue
            value, scaled = quantity
        if plan.dims_at is None:
            dims_idx = columns.dims(plan.meter.pk, "")
        else:
            values = astuple(payload)[plan.dims_at :]
            dims_idx = plan.dims.get(values)  # type: ignore[assignment]
            if dims_idx is None:
                if not all(v is None or len(v) <= MAX_DIMENSION_VALUE for v in values):
                    slow.append(position)
                    continue
                dims_idx = plan.dims[values] = columns.dims(plan.meter.pk,
                                                            _encode_json(values).decode())
        rows.append((position, key, plan.meter.pk, customer_pk, ts, dims_idx, scaled >> LO_BITS,
                     scaled & LO_MASK, identifier, value, str(raw, "utf-8")))  # type: ignore
    if not slow:
        if rows:
            (columns.positions, columns.keys, columns.meter_pk, columns.customer_pk, columns.ts,
             columns.dims_idx, columns.scaled_hi, columns.scaled_lo, columns.identifier,
             columns.value, columns.payload) = map(list, zip(*rows, strict=True))
        return columns
    # Some events need the general validator: merge them in, in position order.
    validator = BatchValidator(caller, ctx, now)
    fast = iter(rows)
    row = next(fast, None)
    for position in slow:
        while row is not None and row[0] < position:
            columns.append_row(row)
            row = next(fast, None)
        try:
            raw_event = _as_raw(envelopes[position])
        except RecursionError:  # a payload nested too deeply to decode: ingest.batches says so
            return None
        outcome = validate_raw(validator, raw_event, position, request_id)
        if isinstance(outcome, ValidatedEvent):
            columns.add(position, outcome)
        else:
            columns.results[position] = outcome
    while row is not None:
        columns.append_row(row)
        row = next(fast, None)
    columns.number_dims_in_order()
    return columns


def _as_raw(envelope: _Envelope) -> dict[str, Any]:
    """The event as plain JSON decoding gives it (absent and null fields are the same to
    validate_event)."""
    return {"event_name": envelope.event_name, "identifier": envelope.identifier,
            "timestamp": envelope.timestamp, "payload": _decode_any(envelope.payload)}
