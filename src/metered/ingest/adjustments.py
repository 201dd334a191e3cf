"""Meter event adjustments: cancelling an accepted event, exactly once.

The raw event stays as it was; the adjustment row marks it cancelled and its contribution is
taken out of the rollups in the same transaction. Cancelling twice changes nothing the second time.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from metered.accounts import Caller
from metered.clock import now_ms
from metered.errors import NotFoundError
from metered.ids import new_id
from metered.ingest.apply import EventApplier
from metered.ingest.events import dedupe_key
from metered.ingest.segments import stored_event
from metered.metering.meters import get_meter_by_pk
from metered.metering.quantity import parse_quantity, to_scaled
from metered.metering.rollups import retract_event


@dataclass(frozen=True, slots=True)
class Adjustment:
    id: str
    event_name: str
    identifier: str
    livemode: bool
    created_ms: int

    def to_wire_v1(self) -> dict[str, object]:
        return {
            "id": self.id,
            "object": "billing.meter_event_adjustment",
            "cancel": {"identifier": self.identifier},
            "event_name": self.event_name,
            "livemode": self.livemode,
            "status": "complete",
            "type": "cancel",
        }


def cancel_event(conn: sqlite3.Connection, applier: EventApplier, caller: Caller,
                 event_name: str, identifier: str) -> Adjustment:
    """Runs on the writer thread (it consults the writer's dedupe index). On the PostgreSQL
    store the seen-set is a table: ingest.pg_adjustments."""
    if getattr(conn, "dialect", None) == "postgresql":
        from metered.ingest import pg_adjustments  # noqa: PLC0415

        return pg_adjustments.cancel_event(conn, caller, event_name, identifier)  # type: ignore[no-any-return]
    key = dedupe_key(caller.account_pk, caller.livemode, event_name, identifier)
    seq = applier.find_event(conn, key)
    if seq is None:
        raise NotFoundError(
            f"No meter event with identifier '{identifier}' for event_name '{event_name}'.",
            param="cancel[identifier]",
        )
    existing = conn.execute(
        "SELECT id, created_ms FROM meter_event_adjustments WHERE seq=?", (seq,)
    ).fetchone()
    if existing is not None:
        return Adjustment(existing[0], event_name, identifier, caller.livemode, existing[1])
    event = stored_event(conn, seq)
    assert event is not None, f"the dedupe index points at seq {seq}, which is not stored"
    meter_pk, customer_pk, dims_pk, ts, value = (
        event.meter_pk, event.customer_pk, event.dims_pk, event.ts, event.value
    )
    meter = get_meter_by_pk(conn, meter_pk)
    adjustment = Adjustment(new_id("mtrea"), event_name, identifier, caller.livemode, now_ms())
    conn.execute(
        "INSERT INTO meter_event_adjustments (id, account_pk, livemode, event_name, identifier,"
        " seq, created_ms) VALUES (?,?,?,?,?,?,?)",
        (adjustment.id, caller.account_pk, caller.livemode, event_name, identifier, seq,
         adjustment.created_ms),
    )
    scaled = to_scaled(parse_quantity(value)) if meter.formula in ("sum", "max", "last") else 0
    unique = value if meter.formula == "unique_count" else None
    retract_event(conn, meter_pk, customer_pk, dims_pk, meter.formula, ts, scaled, unique,
                  applier.pack_cache)
    return adjustment
