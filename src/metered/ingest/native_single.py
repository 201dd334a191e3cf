"""The single-event fast path's native validation: the optional `metered_native` extension.

A form-encoded v1 meter event (POST /v1/billing/meter_events, read by api.fast_events) whose
fields are all plain (a known meter and customer, a plain integer value or none for count,
strings that JSON writes as they are, a timestamp in range) is checked, hashed and its answer
written in Rust, in one pass (native/src/single.rs): in the server, the Python validation was
~15-20 µs of the event loop's ~115 µs per request. Any other event, and every event without
the extension, goes through ingest.validation.validate_event, which is the reference:
tests/ingest/test_native_single.py holds the two to the same events and answers, and
tests/api/test_fast_events.py the fast path to the ASGI route's answers.

It shares the batch path's plans and customer pks (ingest.native_batch), kept with the
thread's IngestContext, which the engine makes anew whenever a meter changes or a customer is
deleted.
"""

from __future__ import annotations

from typing import Any

from metered.accounts import Caller
from metered.ingest.events import MAX_FUTURE_SECONDS, MAX_PAST_SECONDS, ValidatedEvent
from metered.ingest.native_batch import MAX_PLANS, caller_cache, plan_of, remember_customers
from metered.ingest.validation import (
    MAX_DIMENSION_VALUE,
    MAX_IDENTIFIER,
    MAX_PAYLOAD_BYTES,
    MAX_PAYLOAD_KEYS,
    MAX_UNIQUE_VALUE,
    IngestContext,
)
from metered.metering.quantity import SCALE
from metered.native import extension as metered_native

_UNKNOWN: Any = object()
_limits: tuple[int, tuple[int, ...]] = (0, ())


def _limits_at(now: int) -> tuple[int, ...]:
    global _limits  # noqa: PLW0603 - one tuple per second, not one per event
    if _limits[0] != now:
        _limits = (now, (now, now - MAX_PAST_SECONDS, now + MAX_FUTURE_SECONDS, MAX_IDENTIFIER,
                         MAX_PAYLOAD_KEYS, MAX_PAYLOAD_BYTES, MAX_DIMENSION_VALUE,
                         MAX_UNIQUE_VALUE))
    return _limits[1]


def native_event(body: bytes, fields: dict[str, Any], caller: Caller, ctx: IngestContext,
                 now: int) -> tuple[ValidatedEvent, bytes] | None:
    """(the event, the route's answer once it is accepted) if the extension takes it, else
    None (validate_event decides: it accepts the event or raises the precise error).
    `fields` is the form as api.fast_events read it from `body`."""
    name = fields.get("event_name")
    if metered_native is None or type(name) is not str:
        return None
    singles = ctx.singles
    known = singles.get((caller.account_pk, caller.livemode, name), _UNKNOWN)
    if known is _UNKNOWN:
        if len(singles) >= MAX_PLANS:  # names that have no meter are remembered too
            singles.clear()
        meter = ctx.meters.for_event(caller, name)
        plan = plan_of(meter, caller)
        known = singles[(caller.account_pk, caller.livemode, name)] = (
            None if plan is None else (plan, meter))
    if known is None:
        return None
    plan, meter = known
    customers = caller_cache(ctx, caller)[1]
    for _ in range(2):  # the second call knows the customer
        out = metered_native.meter_event_check(body, name, plan, customers, _limits_at(now),
                                               now, caller.livemode)
        if out is None:
            return None
        if type(out) is str:
            if not remember_customers(ctx, caller, customers, [out]):
                return None
            continue
        key, customer_pk, dims, ts, value, payload, answer = out
        scaled = int(value) * SCALE if plan[5] else 0
        return ValidatedEvent(key, meter, customer_pk, dims, ts, fields["identifier"], value,
                              scaled, payload), answer
    return None
