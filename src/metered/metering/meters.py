"""Billing meters: how events with one event_name are mapped to customers and aggregated."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from metered.accounts import Caller
from metered.clock import now_seconds
from metered.errors import NotFoundError, invalid_param
from metered.ids import new_id
from metered.store.pages import Page, PageRequest, fetch_page

FORMULAS = ("sum", "count", "last", "max", "unique_count")
EVENT_TIME_WINDOWS = ("hour", "day")
MAX_DIMENSIONS = 8
_KEY_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,100}$")

_COLUMNS = (
    "pk, id, account_pk, livemode, display_name, event_name, formula, customer_key, value_key,"
    " dimension_keys, event_time_window, status, created, updated, deactivated_at"
)


@dataclass(frozen=True, slots=True)
class Meter:
    pk: int
    id: str
    account_pk: int
    livemode: bool
    display_name: str
    event_name: str
    formula: str
    customer_key: str
    value_key: str
    dimension_keys: tuple[str, ...]
    event_time_window: str | None
    status: str
    created: int
    updated: int
    deactivated_at: int | None

    @property
    def active(self) -> bool:
        return self.status == "active"

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "billing.meter",
            "created": self.created,
            "customer_mapping": {"event_payload_key": self.customer_key, "type": "by_id"},
            "default_aggregation": {"formula": self.formula},
            "dimension_payload_keys": list(self.dimension_keys),
            "display_name": self.display_name,
            "event_name": self.event_name,
            "event_time_window": self.event_time_window,
            "livemode": self.livemode,
            "status": self.status,
            "status_transitions": {"deactivated_at": self.deactivated_at},
            "updated": self.updated,
            "value_settings": {"event_payload_key": self.value_key},
        }


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """What a caller asks for when creating a meter (already validated for shape)."""

    display_name: str
    event_name: str
    formula: str
    customer_key: str = "stripe_customer_id"
    value_key: str = "value"
    dimension_keys: tuple[str, ...] = ()
    event_time_window: str | None = None


def _row_to_meter(row: tuple[Any, ...]) -> Meter:
    return Meter(
        pk=row[0], id=row[1], account_pk=row[2], livemode=bool(row[3]), display_name=row[4],
        event_name=row[5], formula=row[6], customer_key=row[7], value_key=row[8],
        dimension_keys=tuple(json.loads(row[9])), event_time_window=row[10], status=row[11],
        created=row[12], updated=row[13], deactivated_at=row[14],
    )


def validate_spec(spec: MeterSpec) -> None:
    if spec.formula not in FORMULAS:
        raise invalid_param(
            "default_aggregation[formula]",
            f"Invalid default_aggregation[formula]: must be one of {', '.join(FORMULAS)}.",
        )
    if not _KEY_RE.match(spec.event_name):
        raise invalid_param(
            "event_name", "event_name must be 1-100 characters of letters, digits and _ . : -"
        )
    for param, key in (
        ("customer_mapping[event_payload_key]", spec.customer_key),
        ("value_settings[event_payload_key]", spec.value_key),
    ):
        if not _KEY_RE.match(key):
            raise invalid_param(param, f"{param} must be 1-100 characters of letters, digits, _.:-")
    if len(spec.dimension_keys) > MAX_DIMENSIONS:
        raise invalid_param(
            "dimension_payload_keys", f"A meter can declare at most {MAX_DIMENSIONS} dimensions."
        )
    if len(set(spec.dimension_keys)) != len(spec.dimension_keys):
        raise invalid_param("dimension_payload_keys", "dimension_payload_keys must be distinct.")
    for key in spec.dimension_keys:
        if not _KEY_RE.match(key) or key in (spec.customer_key, spec.value_key):
            raise invalid_param(
                "dimension_payload_keys",
                f"Invalid dimension key {key!r}: it must be a payload key other than the customer"
                " and value keys.",
            )


def create_meter(conn: sqlite3.Connection, caller: Caller, spec: MeterSpec) -> Meter:
    validate_spec(spec)
    if _active_meter_for_event(conn, caller, spec.event_name) is not None:
        raise invalid_param(
            "event_name",
            f"An active meter with event_name '{spec.event_name}' already exists.",
            code="resource_already_exists",
        )
    now = now_seconds()
    meter_id = new_id("mtr")
    columns = _COLUMNS.replace("pk, ", "", 1)
    cur = conn.execute(
        f"INSERT INTO meters ({columns}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (meter_id, caller.account_pk, caller.livemode, spec.display_name, spec.event_name,
         spec.formula, spec.customer_key, spec.value_key, json.dumps(list(spec.dimension_keys)),
         spec.event_time_window, "active", now, now, None),
    )
    assert cur.lastrowid is not None
    return get_meter_by_pk(conn, cur.lastrowid)


def _active_meter_for_event(conn: sqlite3.Connection, caller: Caller, event_name: str
                            ) -> Meter | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM meters WHERE account_pk=? AND livemode=? AND event_name=?"
        " AND status='active'",
        (caller.account_pk, caller.livemode, event_name),
    ).fetchone()
    return _row_to_meter(row) if row else None


def get_meter_by_pk(conn: sqlite3.Connection, pk: int) -> Meter:
    row = conn.execute(f"SELECT {_COLUMNS} FROM meters WHERE pk=?", (pk,)).fetchone()
    assert row is not None
    return _row_to_meter(row)


def get_meter(conn: sqlite3.Connection, caller: Caller, meter_id: str) -> Meter:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM meters WHERE id=? AND account_pk=? AND livemode=?",
        (meter_id, caller.account_pk, caller.livemode),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No such billing meter: '{meter_id}'")
    return _row_to_meter(row)


def update_meter(conn: sqlite3.Connection, caller: Caller, meter_id: str,
                 display_name: str | None) -> Meter:
    meter = get_meter(conn, caller, meter_id)
    if display_name is not None:
        conn.execute(
            "UPDATE meters SET display_name=?, updated=? WHERE pk=?",
            (display_name, now_seconds(), meter.pk),
        )
    return get_meter_by_pk(conn, meter.pk)


def set_meter_status(conn: sqlite3.Connection, caller: Caller, meter_id: str,
                     active: bool) -> Meter:
    meter = get_meter(conn, caller, meter_id)
    if meter.active == active:
        state = "active" if active else "inactive"
        raise invalid_param("id", f"The meter '{meter_id}' is already {state}.",
                            code="meter_status_unchanged")
    now = now_seconds()
    if active:
        other = _active_meter_for_event(conn, caller, meter.event_name)
        if other is not None:
            # 400 as for create_meter, not 409: SDKs retry a 409 and raise it as an APIError.
            raise invalid_param(
                "event_name",
                f"Another active meter ('{other.id}') uses event_name '{meter.event_name}'.",
                code="resource_already_exists",
            )
        conn.execute(
            "UPDATE meters SET status='active', deactivated_at=NULL, updated=? WHERE pk=?",
            (now, meter.pk),
        )
    else:
        conn.execute(
            "UPDATE meters SET status='inactive', deactivated_at=?, updated=? WHERE pk=?",
            (now, now, meter.pk),
        )
    return get_meter_by_pk(conn, meter.pk)


def list_meters(conn: sqlite3.Connection, caller: Caller, page: PageRequest,
                status: str | None = None) -> tuple[list[Meter], bool]:
    where = "account_pk=? AND livemode=?"
    args: tuple[Any, ...] = (caller.account_pk, caller.livemode)
    if status is not None:
        where += " AND status=?"
        args += (status,)
    result: Page = fetch_page(conn, f"SELECT {_COLUMNS} FROM meters", where, args, page)
    return [_row_to_meter(r) for r in result.rows], result.has_more


def load_all_meters(conn: sqlite3.Connection) -> list[Meter]:
    return [_row_to_meter(r) for r in conn.execute(f"SELECT {_COLUMNS} FROM meters ORDER BY pk")]


class MeterRegistry:
    """Active meters by (account, mode, event_name), kept in memory for the ingest path.

    Mutated only on the event-loop thread, after the transaction that changed a meter commits.
    """

    def __init__(self, meters: list[Meter]):
        self._by_event: dict[tuple[int, bool, str], Meter] = {}
        self._by_pk: dict[int, Meter] = {}
        self.generation = 0  # bumped on every change (parse workers drop their caches)
        for meter in meters:
            self.remember(meter)

    def remember(self, meter: Meter) -> None:
        self.generation += 1
        old = self._by_pk.get(meter.pk)
        if old is not None:
            key = (old.account_pk, old.livemode, old.event_name)
            if self._by_event.get(key) is old:
                del self._by_event[key]
        self._by_pk[meter.pk] = meter
        if meter.active:
            self._by_event[(meter.account_pk, meter.livemode, meter.event_name)] = meter

    def for_event(self, caller: Caller, event_name: str) -> Meter | None:
        return self._by_event.get((caller.account_pk, caller.livemode, event_name))

    def by_pk(self, pk: int) -> Meter | None:
        return self._by_pk.get(pk)

    def inactive_with_event(self, caller: Caller, event_name: str) -> Meter | None:
        for meter in self._by_pk.values():
            if (meter.account_pk, meter.livemode, meter.event_name) == (
                caller.account_pk, caller.livemode, event_name
            ):
                return meter
        return None
