"""Checking one meter event against its meter, synchronously, with Stripe's error codes."""

from __future__ import annotations

import hashlib
import re
import sqlite3
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from metered.accounts import Caller
from metered.billing.customers import CustomerDirectory
from metered.billing.test_clocks import TestClock, get_test_clock_by_pk, iso_time
from metered.errors import InvalidRequestError, invalid_param, missing_param
from metered.ingest.events import (
    MAX_FUTURE_SECONDS,
    MAX_PAST_SECONDS,
    ValidatedEvent,
    dedupe_key,
    dedupe_key_prefix,
)
from metered.metering.meters import MeterRegistry
from metered.metering.quantity import QuantityError, parse_scaled

# The limits of one meter event, the same on every path (docs/limits.md; api.limits lists them
# all). The native fast paths are handed these values and leave an event past one of them to
# validate_event, which refuses it naming the param.
MAX_EVENT_NAME = 100
MAX_IDENTIFIER = 255  # Stripe documents 100: every identifier Stripe takes is taken
MAX_PAYLOAD_KEYS = 100
# Longer than any key a meter can read (100): a bound, not a format. Kept above what a payload
# of the batch fast paths (under wire_batch.SMALL_PAYLOAD, 506 bytes) can hold, so that those
# paths, the Rust one included, need not check it.
MAX_PAYLOAD_KEY_LENGTH = 500
MAX_PAYLOAD_BYTES = 16_384  # the payload as JSON, in UTF-8 bytes
# Nesting of JSON values in a payload (the payload itself is level 1): far below the decoder's
# recursion bound, so that a stored payload always decodes and encodes again. Above what a
# payload under 506 bytes can reach (~250), for the same reason as MAX_PAYLOAD_KEY_LENGTH.
MAX_PAYLOAD_DEPTH = 256
MAX_UNIQUE_VALUE = 256
MAX_DIMENSION_VALUE = 200
_SCALE = 10**12
_json_encode = msgspec.json.Encoder().encode
_ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T", re.ASCII)
_INT_RE = re.compile(r"-?[0-9]{1,19}")


@dataclass(slots=True)
class IngestContext:
    meters: MeterRegistry
    customers: CustomerDirectory
    reader: sqlite3.Connection
    # The native fast path's plans and customer pks per caller (ingest.native_batch).
    native: dict[tuple[int, bool], tuple[dict[str, Any], dict[str, int]]] = field(
        default_factory=dict)
    # The single-event path's (plan, meter) per (account, livemode, event name), or None when
    # the extension can't take the meter's events (ingest.native_single).
    singles: dict[tuple[int, bool, str], Any] = field(default_factory=dict)


def parse_timestamp(raw: object, now: int, param: str = "timestamp",
                    *, clock: TestClock | None = None) -> int:
    """The event's time, checked against the window around `now`: the wall clock's, or the
    frozen time of the test clock the event's customer lives on (`clock`)."""
    if raw is None or raw == "":
        return now
    if isinstance(raw, bool):
        raise invalid_param(param, "timestamp must be a Unix timestamp in seconds.")
    if isinstance(raw, int):
        ts = raw
    elif isinstance(raw, str) and _INT_RE.fullmatch(raw):
        ts = int(raw)
    elif isinstance(raw, str) and _ISO_RE.match(raw):
        try:
            parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError as exc:
            raise invalid_param(param, f"Invalid timestamp: {raw[:64]}.") from exc
        if parsed.tzinfo is None:
            raise invalid_param(param, "An ISO 8601 timestamp must carry a time zone.")
        ts = int(parsed.timestamp())
    else:
        raise invalid_param(param, "timestamp must be a Unix timestamp in seconds.")
    if ts > now + MAX_FUTURE_SECONDS:
        message = "The timestamp is more than 5 minutes in the future."
        if clock is not None:
            message = "The timestamp is more than 5 minutes after " + _clock_window(clock)
        raise InvalidRequestError(message, code="timestamp_in_future", param=param)
    if ts < now - MAX_PAST_SECONDS:
        message = "The timestamp is more than 35 days in the past."
        if clock is not None:
            message = "The timestamp is more than 35 days before " + _clock_window(clock)
        raise InvalidRequestError(message, code="timestamp_too_far_in_past", param=param)
    return ts


def _clock_window(clock: TestClock) -> str:
    now = clock.frozen_time
    return (f"the time of the customer's test clock {clock.id} ({iso_time(now)}): the events"
            f" of its customers must fall between {iso_time(now - MAX_PAST_SECONDS)} and"
            f" {iso_time(now + MAX_FUTURE_SECONDS)}.")


def _live_clock(ctx: IngestContext, clock_pk: int, clocks: dict[int, TestClock] | None
                ) -> TestClock | None:
    """The test clock a customer lives on (looked up once per batch with `clocks`), or None
    once it is deleted (and its customers with it)."""
    clock = clocks.get(clock_pk) if clocks is not None else None
    if clock is None:
        clock = get_test_clock_by_pk(ctx.reader, clock_pk)
        if clocks is not None:
            clocks[clock_pk] = clock
    return None if clock.deleted else clock


def _payload_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise TypeError


def validate_event(raw: Mapping[str, Any], caller: Caller, ctx: IngestContext, now: int,
                   *, default_identifier: str | None = None,
                   clocks: dict[int, TestClock] | None = None) -> ValidatedEvent:
    """The event checked against its meter, or the precise error. `now` is the wall clock's;
    an event of a customer on a test clock is checked against the clock's time instead (the
    fast paths leave those events here: CustomerDirectory.lookup). `clocks`: test clocks by
    pk, kept for the rest of a batch."""
    event_name = raw.get("event_name")
    if event_name is None or event_name == "":
        raise missing_param("event_name")
    if not isinstance(event_name, str) or len(event_name) > MAX_EVENT_NAME:
        raise invalid_param(
            "event_name", f"event_name must be a string of at most {MAX_EVENT_NAME} characters."
        )
    meter = ctx.meters.for_event(caller, event_name)
    if meter is None:
        if ctx.meters.inactive_with_event(caller, event_name) is not None:
            raise InvalidRequestError(
                f"The meter for event_name '{event_name}' is inactive.",
                code="archived_meter", param="event_name",
            )
        raise InvalidRequestError(
            f"No active meter was found for event_name '{event_name}'.",
            code="no_meter", param="event_name",
        )

    identifier = raw.get("identifier")
    if identifier is None or identifier == "":
        identifier = default_identifier or uuid.uuid4().hex
    elif not isinstance(identifier, str) or len(identifier) > MAX_IDENTIFIER:
        raise invalid_param(
            "identifier", f"identifier must be a string of at most {MAX_IDENTIFIER} characters."
        )

    payload = raw.get("payload")
    if not isinstance(payload, Mapping):
        if payload is None or payload == "":
            raise missing_param("payload")
        raise invalid_param("payload", "payload must be an object.")
    check_payload_shape(payload)

    customer_id = payload.get(meter.customer_key)
    if customer_id is None or customer_id == "":
        raise InvalidRequestError(
            f"The payload has no '{meter.customer_key}' to map the event to a customer.",
            code="meter_event_no_customer_defined", param=f"payload[{meter.customer_key}]",
        )
    if not isinstance(customer_id, str):
        raise invalid_param(f"payload[{meter.customer_key}]", "The customer id must be a string.")
    found = ctx.customers.resolve(ctx.reader, caller, customer_id)
    clock = None
    if found is not None and found[1] is not None:  # the customer lives on a test clock
        clock = _live_clock(ctx, found[1], clocks)
        if clock is None:  # deleted, and its customers with it
            found = None
    if found is None:
        raise InvalidRequestError(
            f"No such customer: '{customer_id[:100]}'.",
            code="meter_event_customer_not_found", param=f"payload[{meter.customer_key}]",
        )
    customer_pk = found[0]
    if clock is not None:
        now = clock.frozen_time

    value: str
    scaled = 0
    raw_value = payload.get(meter.value_key)
    if meter.formula == "count":
        value = "" if raw_value is None else str(raw_value)[:MAX_UNIQUE_VALUE]
    elif raw_value is None or raw_value == "":
        raise InvalidRequestError(
            f"The payload has no '{meter.value_key}' value.",
            code="meter_event_value_not_found", param=f"payload[{meter.value_key}]",
        )
    elif meter.formula == "unique_count":
        try:
            value = _payload_text(raw_value)
        except TypeError:
            raise InvalidRequestError(
                "A unique_count value must be a string or a number.",
                code="meter_event_invalid_value", param=f"payload[{meter.value_key}]",
            ) from None
        if len(value) > MAX_UNIQUE_VALUE:
            raise InvalidRequestError(
                f"A unique_count value can have at most {MAX_UNIQUE_VALUE} characters.",
                code="meter_event_invalid_value", param=f"payload[{meter.value_key}]",
            )
    else:
        try:
            value, scaled = parse_scaled(raw_value)
        except QuantityError as exc:
            code = (
                "meter_event_value_too_many_digits" if "digits" in str(exc)
                else "meter_event_invalid_value"
            )
            raise InvalidRequestError(
                f"The value in the event payload {exc}. Received {str(raw_value)[:64]!r}.",
                code=code, param=f"payload[{meter.value_key}]",
            ) from None

    dims = ""
    if meter.dimension_keys:
        dim_values = []
        for key in meter.dimension_keys:
            dim = payload.get(key)
            if dim is not None:
                try:
                    dim = _payload_text(dim)
                except TypeError:
                    raise invalid_param(
                        f"payload[{key}]", "A dimension value must be a string or a number."
                    ) from None
                if len(dim) > MAX_DIMENSION_VALUE:
                    raise invalid_param(
                        f"payload[{key}]", f"A dimension value can have at most"
                        f" {MAX_DIMENSION_VALUE} characters.")
            dim_values.append(dim)
        dims = _json_encode(dim_values).decode()

    ts = parse_timestamp(raw.get("timestamp"), now, clock=clock)
    try:
        payload_bytes = _json_encode(payload)
    except (TypeError, ValueError, msgspec.EncodeError) as exc:
        raise invalid_param("payload", "payload must hold only JSON values.") from exc
    if len(payload_bytes) > MAX_PAYLOAD_BYTES:  # UTF-8 bytes, as the native paths count them
        raise invalid_param(
            "payload", f"payload must be at most {MAX_PAYLOAD_BYTES} bytes as JSON (UTF-8)."
        )
    payload_json = payload_bytes.decode()

    return ValidatedEvent(
        key=dedupe_key(caller.account_pk, caller.livemode, event_name, identifier),
        meter=meter, customer_pk=customer_pk, dims=dims, ts=ts, identifier=identifier,
        value=value, scaled=scaled, payload=payload_json,
    )


def check_payload_shape(payload: Mapping[str, Any]) -> None:
    """The payload's number of keys, their lengths and its nesting, each within its limit;
    checked before anything reads deeper into it (str() of a value nested a thousand levels
    deep raises RecursionError)."""
    if len(payload) > MAX_PAYLOAD_KEYS:
        raise invalid_param("payload", f"payload can have at most {MAX_PAYLOAD_KEYS} keys.")
    if max(map(len, payload), default=0) > MAX_PAYLOAD_KEY_LENGTH:  # keys are text (JSON, form)
        key = next(k for k in payload if len(k) > MAX_PAYLOAD_KEY_LENGTH)
        raise invalid_param(f"payload[{key}]", "A payload key can have at most"
                            f" {MAX_PAYLOAD_KEY_LENGTH} characters.")
    for value in payload.values():
        if type(value) is dict or type(value) is list:  # only then is there nesting to walk
            if nesting_exceeds(payload, MAX_PAYLOAD_DEPTH):
                raise invalid_param("payload", f"payload can nest objects and arrays at most"
                                    f" {MAX_PAYLOAD_DEPTH} levels deep.")
            break


def nesting_exceeds(value: object, limit: int) -> bool:
    """Whether `value` nests objects and arrays more than `limit` levels deep (an object of
    scalars is one level). Breadth first, without recursion."""
    level, depth = [value], 0
    while True:
        containers = [item for item in level if isinstance(item, dict | list)]
        if not containers:
            return False
        depth += 1
        if depth > limit:
            return True
        level = [child for item in containers
                 for child in (item.values() if isinstance(item, dict) else item)]


def plain_quantity(raw_value: object) -> tuple[str, int] | None:
    """(canonical text, value * 10**12) of a non-negative integer value of at most 15 digits,
    sent as a JSON number or as ASCII digits; None for anything else (parse_scaled decides)."""
    if type(raw_value) is str and 0 < len(raw_value) <= 15 and raw_value.isdigit() and (
        raw_value.isascii()
    ):
        value = raw_value.lstrip("0") or "0"
        return value, int(value) * _SCALE
    if type(raw_value) is int and 0 <= raw_value < 10**15:
        return str(raw_value), raw_value * _SCALE
    return None


@dataclass(slots=True)
class _Plan:
    """What validating an event of one meter needs, looked up once per batch."""

    meter: Any
    key_prefix: bytes
    customer_key: str
    value_key: str
    dimension_keys: tuple[str, ...]


class BatchValidator:
    """validate_event for the many events of one request, faster for the common case.

    A well-typed event of an active sum, max or last meter (string identifier, known customer,
    plain integer value, string dimensions, integer timestamp) takes a straight path with the
    meter, its dedupe-key prefix and the customers looked up once per request. Anything else
    (a customer on a test clock included) goes through validate_event, which accepts it or
    raises the precise error: both paths give the same answer for every input
    (tests/ingest/test_batch_validator.py).
    """

    def __init__(self, caller: Caller, ctx: IngestContext, now: int):
        self.caller = caller
        self.ctx = ctx
        self.now = now
        self._plans: dict[str, _Plan | None] = {}
        self._customers: dict[str, int] = {}
        self._dims: dict[tuple[object, ...], str] = {}
        self._clocks: dict[int, TestClock] = {}  # test clocks by pk (validate_event)

    def _plan(self, event_name: str) -> _Plan | None:
        meter = self.ctx.meters.for_event(self.caller, event_name)
        plan = None
        if meter is not None and meter.formula in ("sum", "max", "last"):
            prefix = dedupe_key_prefix(self.caller.account_pk, self.caller.livemode, event_name)
            plan = _Plan(meter, prefix, meter.customer_key, meter.value_key,
                         tuple(meter.dimension_keys))
        self._plans[event_name] = plan
        return plan

    def __call__(self, raw: Mapping[str, Any]) -> ValidatedEvent:
        event = self._fast(raw) if type(raw) is dict else None
        return event or validate_event(raw, self.caller, self.ctx, self.now, clocks=self._clocks)

    def _fast(self, raw: dict[str, Any]) -> ValidatedEvent | None:
        name = raw.get("event_name")
        if type(name) is not str:
            return None
        plan = self._plans[name] if name in self._plans else self._plan(name)
        identifier = raw.get("identifier")
        payload = raw.get("payload")
        if (plan is None or type(identifier) is not str or not 0 < len(identifier) <= MAX_IDENTIFIER
                or type(payload) is not dict or len(payload) > MAX_PAYLOAD_KEYS):
            return None
        customer_id = payload.get(plan.customer_key)
        if type(customer_id) is not str:
            return None
        customer_pk = self._customers.get(customer_id)
        if customer_pk is None:
            customer_pk = self.ctx.customers.lookup(self.ctx.reader, self.caller, customer_id)
            if customer_pk is None:
                return None
            self._customers[customer_id] = customer_pk
        quantity = plain_quantity(payload.get(plan.value_key))
        if quantity is None:
            return None
        value, scaled = quantity
        dims = ""
        if plan.dimension_keys:
            values = tuple(payload.get(k) for k in plan.dimension_keys)
            try:
                dims_text = self._dims.get(values)
            except TypeError:  # an unhashable value (object, array): not a dimension value
                return None
            if dims_text is None:
                if not all(v is None or (type(v) is str and len(v) <= MAX_DIMENSION_VALUE)
                           for v in values):
                    return None
                dims_text = self._dims[values] = _json_encode(list(values)).decode()
            dims = dims_text
        ts = raw.get("timestamp")
        if ts is None:
            ts = self.now
        elif type(ts) is not int or not (
            self.now - MAX_PAST_SECONDS <= ts <= self.now + MAX_FUTURE_SECONDS
        ):
            return None
        try:
            payload_json = _json_encode(payload)
            material = plan.key_prefix + identifier.encode()
        except (TypeError, ValueError, RecursionError, msgspec.EncodeError):  # lone surrogates
            return None
        if len(payload_json) > MAX_PAYLOAD_BYTES:
            return None
        # A payload of at most 500 bytes holds no key longer than 500 characters and no
        # nesting deeper than 250 levels: only a longer one is looked into.
        if len(payload_json) > MAX_PAYLOAD_KEY_LENGTH and (
            any(len(k) > MAX_PAYLOAD_KEY_LENGTH for k in payload)
            or nesting_exceeds(payload, MAX_PAYLOAD_DEPTH)
        ):
            return None
        key = hashlib.blake2b(material, digest_size=16).digest()
        return ValidatedEvent(key, plan.meter, customer_pk, dims, ts, identifier, value, scaled,
                              payload_json.decode())
