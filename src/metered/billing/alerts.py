"""Billing alerts (Stripe's /v1/billing/alerts): usage-threshold alerts on a meter.

An active alert watches the usage of its meter over each customer's current billing period
(the period of the customer's subscription that bills that meter), for one customer or for
all. It fires once per customer and period, when the usage reaches `gte`: a row of
alert_triggers and a `billing.alert.triggered` event, in one transaction.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from metered.accounts import Caller
from metered.billing.clock_time import on_clock
from metered.billing.lines import decimal_text
from metered.billing.subscriptions import WireContext
from metered.errors import InvalidRequestError, NotFoundError
from metered.ids import new_id
from metered.store.pages import PageRequest, fetch_page
from metered.webhooks.events import record_event

_COLUMNS = "pk, id, account_pk, livemode, title, status, meter_pk, customer_pk, gte, created"
TRANSITIONS = {"activate": ("inactive", "active"), "deactivate": ("active", "inactive"),
               "archive": (None, "archived")}


@dataclass(frozen=True, slots=True)
class Alert:
    pk: int
    id: str
    account_pk: int
    livemode: bool
    title: str
    status: str
    meter_pk: int
    customer_pk: int | None
    gte: Decimal
    created: int


def _row(row: tuple[Any, ...]) -> Alert:
    values = list(row)
    values[3] = bool(values[3])
    values[8] = Decimal(values[8])
    return Alert(*values)


def alert_wire(conn: sqlite3.Connection, alert: Alert) -> dict[str, Any]:
    ctx = WireContext(conn)
    filters = [] if alert.customer_pk is None else [
        {"customer": ctx.id_of("customers", alert.customer_pk), "type": "customer"}]
    gte = int(alert.gte) if alert.gte == alert.gte.to_integral_value() else decimal_text(
        alert.gte)
    return {
        "id": alert.id,
        "object": "billing.alert",
        "alert_type": "usage_threshold",
        "livemode": alert.livemode,
        "status": alert.status,
        "title": alert.title,
        "usage_threshold": {"filters": filters, "gte": gte,
                            "meter": ctx.id_of("meters", alert.meter_pk),
                            "recurrence": "one_time"},
    }


def create_alert(conn: sqlite3.Connection, caller: Caller, title: str, meter_pk: int,
                 customer_pk: int | None, gte: Decimal, at: int) -> Alert:
    cur = conn.execute(
        "INSERT INTO billing_alerts (id, account_pk, livemode, title, status, meter_pk,"
        " customer_pk, gte, created) VALUES (?,?,?,?,'active',?,?,?,?)",
        (new_id("alrt"), caller.account_pk, caller.livemode, title, meter_pk, customer_pk,
         decimal_text(gte), at),
    )
    assert cur.lastrowid is not None
    return get_alert_by_pk(conn, cur.lastrowid)


def get_alert_by_pk(conn: sqlite3.Connection, pk: int) -> Alert:
    row = conn.execute(f"SELECT {_COLUMNS} FROM billing_alerts WHERE pk=?", (pk,)).fetchone()
    assert row is not None
    return _row(row)


def get_alert(conn: sqlite3.Connection, caller: Caller, alert_id: str) -> Alert:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM billing_alerts WHERE id=? AND account_pk=? AND livemode=?",
        (alert_id, caller.account_pk, caller.livemode),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No such alert: '{alert_id}'")
    return _row(row)


def list_alerts(conn: sqlite3.Connection, caller: Caller, page: PageRequest,
                meter_pk: int | None) -> tuple[list[Alert], bool]:
    where = "account_pk=? AND livemode=?"
    args: tuple[Any, ...] = (caller.account_pk, caller.livemode)
    if meter_pk is not None:
        where += " AND meter_pk=?"
        args += (meter_pk,)
    result = fetch_page(conn, f"SELECT {_COLUMNS} FROM billing_alerts", where, args, page)
    return [_row(r) for r in result.rows], result.has_more


def change_alert_status(conn: sqlite3.Connection, caller: Caller, alert_id: str, action: str
                        ) -> Alert:
    alert = get_alert(conn, caller, alert_id)
    before, after = TRANSITIONS[action]
    if alert.status == "archived" or (before is not None and alert.status != before):
        raise InvalidRequestError(f"An alert whose status is {alert.status} cannot {action}.",
                                  code="alert_unexpected_state")
    conn.execute("UPDATE billing_alerts SET status=? WHERE pk=?", (after, alert.pk))
    return get_alert_by_pk(conn, alert.pk)


@dataclass(frozen=True, slots=True)
class Watch:
    """One alert over one customer's current period: what an evaluation reads."""

    alert_pk: int
    customer_pk: int
    meter_pk: int
    gte: Decimal
    period_start: int
    period_end: int


def watches(conn: sqlite3.Connection, clock_pk: int | None) -> list[Watch]:
    """Every active alert × customer whose current period (of a subscription billing the
    alert's meter) has no trigger yet, for customers on the clock (None: the wall clock)."""
    clock, clock_args = on_clock("s.test_clock_pk", clock_pk)
    rows = conn.execute(
        "SELECT DISTINCT a.pk, s.customer_pk, a.meter_pk, a.gte, s.current_period_start,"
        " s.current_period_end FROM billing_alerts a"
        " JOIN prices r ON r.meter_pk = a.meter_pk AND r.account_pk = a.account_pk"
        " AND r.livemode = a.livemode"
        " JOIN subscription_item_phases p ON p.price_pk = r.pk AND p.\"end\" IS NULL"
        " JOIN subscription_items i ON i.pk = p.item_pk AND i.deleted_at IS NULL"
        " JOIN subscriptions s ON s.pk = i.subscription_pk AND s.status = 'active'"
        f" WHERE a.status = 'active' AND {clock}"
        " AND (a.customer_pk IS NULL OR a.customer_pk = s.customer_pk)"
        " AND NOT EXISTS (SELECT 1 FROM alert_triggers t WHERE t.alert_pk = a.pk"
        " AND t.customer_pk = s.customer_pk AND t.period_start = s.current_period_start)"
        " ORDER BY a.pk, s.customer_pk, s.current_period_start",
        clock_args,
    ).fetchall()
    return [Watch(r[0], r[1], r[2], Decimal(r[3]), r[4], r[5]) for r in rows]


def trigger_alert(conn: sqlite3.Connection, watch: Watch, value: Decimal, at: int) -> bool:
    """Record that the alert fired for the customer's period (once: False if it had)."""
    alert = get_alert_by_pk(conn, watch.alert_pk)
    if alert.status != "active":
        return False
    cur = conn.execute(
        "INSERT INTO alert_triggers (alert_pk, customer_pk, period_start, value,"
        " triggered_at) VALUES (?,?,?,?,?)"
        " ON CONFLICT (alert_pk, customer_pk, period_start) DO NOTHING",
        (watch.alert_pk, watch.customer_pk, watch.period_start, decimal_text(value), at),
    )
    if cur.rowcount == 0:
        return False
    ctx = WireContext(conn)
    obj = {"object": "billing.alert_triggered", "alert": alert_wire(conn, alert),
           "created": at, "customer": ctx.id_of("customers", watch.customer_pk),
           "livemode": alert.livemode,
           "value": int(value) if value == value.to_integral_value() else decimal_text(value)}
    event_id = record_event(conn, alert.account_pk, alert.livemode, "billing.alert.triggered",
                            obj, at)
    conn.execute("UPDATE alert_triggers SET event_id=? WHERE alert_pk=? AND customer_pk=?"
                 " AND period_start=?",
                 (event_id, watch.alert_pk, watch.customer_pk, watch.period_start))
    return True
