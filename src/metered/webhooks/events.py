"""Stripe's event objects (/v1/events): recorded with the change they report, and read back.

`record_event` runs inside the transaction of the change, so an event exists if and only if
its change committed, and it queues the event's deliveries (the outbox) in that transaction
too: an event is never lost between the change and the webhook.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

import msgspec

from metered.accounts import Caller
from metered.clock import now_ms
from metered.errors import NotFoundError
from metered.ids import new_id
from metered.store.pages import PageRequest, fetch_page

# The version events are rendered in: the one every answer names in Stripe-Version
# (api.responses.STRIPE_VERSION; a test holds them equal, as webhooks may not import api).
API_VERSION = "2025-09-30.clover"

WILDCARD = "*"
EVENT_TYPES = (
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "invoice.updated",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.trial_will_end",
    "billing.credit_grant.created",
    "billing.credit_grant.updated",
    "billing.alert.triggered",
    "v1.billing.meter.error_report_triggered",
    "v1.billing.meter.no_meter_found",
    "test_helpers.test_clock.advancing",
    "test_helpers.test_clock.ready",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "product.created",
    "price.created",
)
_KNOWN = frozenset(EVENT_TYPES)

# The wire objects billing code passes are the ones it answers with: Decimals and
# msgspec.Raw numbers are written exactly, as the API writes them (api.http).
_encode = msgspec.json.Encoder(decimal_format="number").encode

_COLUMNS = (
    "pk, id, account_pk, livemode, type, api_version, data, created, request_id,"
    " (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.event_pk = events.pk"
    " AND d.status != 'delivered')"
)


@dataclass(frozen=True, slots=True)
class Event:
    pk: int
    id: str
    account_pk: int
    livemode: bool
    type: str
    api_version: str
    data: str  # JSON text: {"object": ..., "previous_attributes": ...}
    created: int
    request_id: str | None
    pending_webhooks: int  # deliveries not (yet) successful

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "event",
            "api_version": self.api_version,
            "created": self.created,
            "data": msgspec.Raw(self.data.encode()),  # verbatim: no float round trip
            "livemode": self.livemode,
            "pending_webhooks": self.pending_webhooks,
            "request": {"id": self.request_id, "idempotency_key": None},
            "type": self.type,
        }

    def payload(self) -> bytes:
        """The body of a webhook delivery: the event's JSON, as signed."""
        return _encode(self.to_wire())


def _row(row: tuple[Any, ...]) -> Event:
    values = list(row)
    values[3] = bool(values[3])
    return Event(*values)


def record_event(conn: sqlite3.Connection, account_pk: int, livemode: bool, type: str,
                 obj: dict[str, Any], at: int, previous_attributes: dict[str, Any] | None = None,
                 *, request_id: str | None = None) -> str:
    """Record an event of `type` about `obj` (its wire object) at `at` (Unix seconds, the
    object's time: a test clock's for its objects), and queue a delivery to every enabled
    endpoint of the account and mode that listens to it. Call it in the transaction of the
    change it reports. Returns the event's id."""
    if type not in _KNOWN:
        raise ValueError(f"unknown event type {type!r}: add it to webhooks.events.EVENT_TYPES")
    event_id = new_id("evt")
    data = _encode({"object": obj, "previous_attributes": previous_attributes}).decode()
    cur = conn.execute(
        "INSERT INTO events (id, account_pk, livemode, type, api_version, data, created,"
        " request_id) VALUES (?,?,?,?,?,?,?,?)",
        (event_id, account_pk, livemode, type, API_VERSION, data, at, request_id),
    )
    endpoints = conn.execute(
        "SELECT pk, enabled_events FROM webhook_endpoints WHERE account_pk=? AND livemode=?"
        " AND status='enabled' AND deleted=0 ORDER BY pk", (account_pk, livemode),
    ).fetchall()
    due = now_ms()  # deliveries run on the wall clock, whatever clock the object lives on
    for endpoint_pk, enabled in endpoints:
        listens = json.loads(enabled)
        if type in listens or WILDCARD in listens:
            conn.execute(
                "INSERT INTO webhook_deliveries (event_pk, endpoint_pk, attempts,"
                " next_attempt_at, status) VALUES (?,?,0,?,'pending')",
                (cur.lastrowid, endpoint_pk, due),
            )
    return event_id


def changed_attributes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Stripe's `previous_attributes` of an *.updated event: the old value of every field that
    changed; within a changed object (metadata), of its changed keys only (None: it was
    added)."""
    previous: dict[str, Any] = {}
    for key in before.keys() | after.keys():
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            previous[key] = changed_attributes(old, new)
        else:
            previous[key] = old
    return previous


def get_event(conn: sqlite3.Connection, caller: Caller, event_id: str) -> Event:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM events WHERE id=? AND account_pk=? AND livemode=?",
        (event_id, caller.account_pk, caller.livemode),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No such event: '{event_id}'")
    return _row(row)


def get_event_by_pk(conn: sqlite3.Connection, pk: int) -> Event:
    row = conn.execute(f"SELECT {_COLUMNS} FROM events WHERE pk=?", (pk,)).fetchone()
    assert row is not None
    return _row(row)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """`type` (exact, or a pattern with * wildcards), `types` (any of), `created` as
    [(operator, time)], `delivery_success` (every delivery succeeded or not)."""

    type: str | None = None
    types: tuple[str, ...] = ()
    created: tuple[tuple[str, int], ...] = ()
    delivery_success: bool | None = None


def matching_types(pattern: str) -> tuple[str, ...]:
    """The known event types that `pattern` (a type, or with * wildcards) names."""
    if WILDCARD not in pattern:
        return (pattern,)
    regex = re.compile(".*".join(re.escape(part) for part in pattern.split(WILDCARD)))
    return tuple(t for t in EVENT_TYPES if regex.fullmatch(t))


_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<=", "eq": "="}


def list_events(conn: sqlite3.Connection, caller: Caller, page: PageRequest,
                flt: EventFilter) -> tuple[list[Event], bool]:
    where = "account_pk=? AND livemode=?"
    args: tuple[Any, ...] = (caller.account_pk, caller.livemode)
    if flt.type is not None:
        # A pattern (Stripe's `type` filter takes * wildcards) is matched against the known
        # types here, which are all the stored ones: `type IN (...)` means the same on both
        # stores (no GLOB on PostgreSQL; LIKE would take `_` as a wildcard).
        matching = matching_types(flt.type)
        where += f" AND type IN ({','.join('?' * len(matching))})" if matching else " AND 1=0"
        args += matching
    if flt.types:
        where += f" AND type IN ({','.join('?' * len(flt.types))})"
        args += flt.types
    for op, value in flt.created:
        where += f" AND created {_OPERATORS[op]} ?"
        args += (value,)
    if flt.delivery_success is not None:
        where += (" AND NOT EXISTS" if flt.delivery_success else " AND EXISTS") + (
            " (SELECT 1 FROM webhook_deliveries d WHERE d.event_pk = events.pk"
            " AND d.status != 'delivered')")
    result = fetch_page(conn, f"SELECT {_COLUMNS} FROM events", where, args, page)
    return [_row(r) for r in result.rows], result.has_more
