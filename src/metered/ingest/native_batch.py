"""The parse worker's native fast path: the optional `metered_native` extension (native/).

A JSON batch whose events are all plain (a known meter and customer, a plain integer value,
short strings, a timestamp in range) is decoded, checked, hashed and encoded into the worker's
columns in Rust, in one pass: about a tenth of the Python path's time per event. Any other batch,
and every batch when the extension is not installed, takes the Python path
(ingest.wire_batch, then ingest.batches), which is the reference: tests/ingest/test_native_batch.py
holds the two to the same columns and answers.

The extension is told what it needs: for each event name, the meter's plan (or None when the fast
path can't take its events), and customer ids to pks. It asks for the names and customers it
has not been told about; they are looked up here and kept with the worker's IngestContext, which
the worker drops whenever a meter changes or a customer is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from metered.accounts import Caller
from metered.ingest.batches import MAX_BATCH
from metered.ingest.events import MAX_FUTURE_SECONDS, MAX_PAST_SECONDS, dedupe_key_prefix
from metered.ingest.validation import (
    MAX_DIMENSION_VALUE,
    MAX_IDENTIFIER,
    MAX_UNIQUE_VALUE,
    IngestContext,
)
from metered.ingest.wire_batch import SMALL_PAYLOAD
from metered.metering.meters import Meter
from metered.native import extension as metered_native

MAX_CUSTOMERS = 100_000  # customer pks remembered per caller
MAX_PLANS = 10_000  # event names remembered per caller (those without a meter too)

Plan = tuple[int, bytes, str, str, tuple[str, ...], bool]


@dataclass(slots=True)
class NativeColumns:
    """A batch the extension took: every event valid, in order. Integer columns are
    little-endian int64 bytes; the segment parts and the answer are encoded."""

    keys: list[bytes]
    meter_pk: bytes
    customer_pk: bytes
    ts: bytes
    dims_idx: bytes
    scaled_hi: bytes
    scaled_lo: bytes
    dims_table: list[tuple[int, str]]
    seg_keys: bytes
    seg_customers: bytes
    seg_rest: bytes
    answer: bytes


def available() -> bool:
    return metered_native is not None


def plan_of(meter: Meter | None, caller: Caller) -> Plan | None:
    """What the extension needs to check a meter's events; None when it can't."""
    if meter is None or not meter.active or meter.formula not in ("sum", "max", "last", "count"):
        return None
    keys = (meter.customer_key, meter.value_key, *meter.dimension_keys)
    if len(set(keys)) < len(keys):
        return None  # a payload key read twice
    return (meter.pk, dedupe_key_prefix(caller.account_pk, caller.livemode, meter.event_name),
            meter.customer_key, meter.value_key, tuple(meter.dimension_keys),
            meter.formula != "count")


def native_columns(body: bytes, caller: Caller, ctx: IngestContext, now: int
                   ) -> NativeColumns | None:
    """The batch's columns if the extension can take it all, else None."""
    if metered_native is None:
        return None
    plans, customers = caller_cache(ctx, caller)
    limits = (now, now - MAX_PAST_SECONDS, now + MAX_FUTURE_SECONDS, MAX_BATCH, MAX_IDENTIFIER,
              SMALL_PAYLOAD, MAX_DIMENSION_VALUE, MAX_UNIQUE_VALUE)
    for _ in range(3):  # names first, then the customers of their events: the third call knows
        out: Any = metered_native.decode_batch(body, limits, plans, customers)
        if out is None:
            return None
        if out[0] == "ok":
            return NativeColumns(*out[1])
        _, names, customer_ids = out
        if len(plans) + len(names) > MAX_PLANS:
            plans.clear()
        for name in names:
            plans[name] = plan_of(ctx.meters.for_event(caller, name), caller)
        if not remember_customers(ctx, caller, customers, customer_ids):
            return None
    return None


def caller_cache(ctx: IngestContext, caller: Caller) -> tuple[dict[str, Any], dict[str, int]]:
    """The caller's plans (event name -> plan_of) and customer pks (id -> pk) in `ctx`, which
    the batch and the single-event paths (ingest.native_single) share."""
    key = (caller.account_pk, caller.livemode)
    cache = ctx.native.get(key)
    if cache is None:
        cache = ctx.native[key] = ({}, {})
    return cache


def remember_customers(ctx: IngestContext, caller: Caller, customers: dict[str, int],
                       customer_ids: list[str]) -> bool:
    """Look these customers up and remember their pks; False if one is unknown (that one is
    not remembered: it may be created at any time)."""
    if len(customers) + len(customer_ids) > MAX_CUSTOMERS:
        customers.clear()
    for customer_id in customer_ids:
        pk = ctx.customers.lookup(ctx.reader, caller, customer_id)
        if pk is None:
            return False
        customers[customer_id] = pk
    return True
