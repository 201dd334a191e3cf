"""Subscriptions and their items, as stored: reading, listing and the Stripe wire shape.

What changes them (creation, item changes, cancellation, the turn of a billing period) is in
billing.subscription_lifecycle.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from metered.accounts import Caller
from metered.errors import NotFoundError
from metered.store.pages import PageRequest, fetch_page

_COLUMNS = ("pk, id, account_pk, livemode, customer_pk, test_clock_pk, currency, status,"
            " interval, interval_count, billing_cycle_anchor, current_period_start,"
            " current_period_end, start_date, trial_start, trial_end, cancel_at_period_end,"
            " cancel_at, canceled_at, ended_at, days_until_due, collection_method,"
            " latest_invoice_pk, metadata, created")


@dataclass(frozen=True, slots=True)
class Phase:
    pk: int
    item_pk: int
    price_pk: int
    quantity: int
    start: int
    end: int | None

    def covers(self, t: int) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


@dataclass(frozen=True, slots=True)
class Item:
    pk: int
    id: str
    subscription_pk: int
    metadata: dict[str, str]
    created: int
    deleted_at: int | None
    phases: tuple[Phase, ...]

    @property
    def current(self) -> Phase:
        """The latest phase: the item's price and quantity now (or when it was removed)."""
        return self.phases[-1]


@dataclass(frozen=True, slots=True)
class Subscription:
    pk: int
    id: str
    account_pk: int
    livemode: bool
    customer_pk: int
    test_clock_pk: int | None
    currency: str
    status: str
    interval: str
    interval_count: int
    billing_cycle_anchor: int
    current_period_start: int
    current_period_end: int
    start_date: int
    trial_start: int | None
    trial_end: int | None
    cancel_at_period_end: bool
    cancel_at: int | None
    canceled_at: int | None
    ended_at: int | None
    days_until_due: int | None
    collection_method: str
    latest_invoice_pk: int | None
    metadata: dict[str, str]
    created: int
    items: tuple[Item, ...] = ()

    @property
    def live_items(self) -> tuple[Item, ...]:
        return tuple(item for item in self.items if item.deleted_at is None)

    @property
    def next_due(self) -> int | None:
        """When the billing cycle must act next: the period's end or an earlier cancel_at."""
        if self.status == "canceled":
            return None
        if self.cancel_at is not None and self.cancel_at < self.current_period_end:
            return self.cancel_at
        return self.current_period_end


def _row(row: tuple[Any, ...]) -> Subscription:
    values = list(row)
    values[3] = bool(values[3])
    values[16] = bool(values[16])
    values[23] = json.loads(values[23])
    return Subscription(*values)


def load_items(conn: sqlite3.Connection, subscription_pk: int) -> tuple[Item, ...]:
    phases: dict[int, list[Phase]] = {}
    for row in conn.execute(
        "SELECT p.pk, p.item_pk, p.price_pk, p.quantity, p.start, p.\"end\""
        " FROM subscription_item_phases p JOIN subscription_items i ON i.pk = p.item_pk"
        " WHERE i.subscription_pk=? ORDER BY p.start, p.pk", (subscription_pk,),
    ):
        phases.setdefault(row[1], []).append(Phase(*row))
    return tuple(
        Item(pk, item_id, subscription_pk, json.loads(metadata), created, deleted_at,
             tuple(phases.get(pk, ())))
        for pk, item_id, metadata, created, deleted_at in conn.execute(
            "SELECT pk, id, metadata, created, deleted_at FROM subscription_items"
            " WHERE subscription_pk=? ORDER BY pk", (subscription_pk,))
    )


def get_subscription_by_pk(conn: sqlite3.Connection, pk: int) -> Subscription:
    row = conn.execute(f"SELECT {_COLUMNS} FROM subscriptions WHERE pk=?", (pk,)).fetchone()
    assert row is not None
    sub = _row(row)
    return _with_items(sub, load_items(conn, pk))


def _with_items(sub: Subscription, items: tuple[Item, ...]) -> Subscription:
    values = {name: getattr(sub, name) for name in Subscription.__dataclass_fields__}
    values["items"] = items
    return Subscription(**values)


def get_subscription(conn: sqlite3.Connection, caller: Caller, subscription_id: str
                     ) -> Subscription:
    row = conn.execute(
        "SELECT pk FROM subscriptions WHERE id=? AND account_pk=? AND livemode=?",
        (subscription_id, caller.account_pk, caller.livemode),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No such subscription: '{subscription_id}'")
    return get_subscription_by_pk(conn, row[0])


def list_subscriptions(conn: sqlite3.Connection, caller: Caller, page: PageRequest, *,
                       customer_pk: int | None = None, status: str | None = None,
                       price_pk: int | None = None) -> tuple[list[Subscription], bool]:
    where = "account_pk=? AND livemode=?"
    args: tuple[Any, ...] = (caller.account_pk, caller.livemode)
    if customer_pk is not None:
        where += " AND customer_pk=?"
        args += (customer_pk,)
    if status is None:
        where += " AND status != 'canceled'"  # Stripe lists all but canceled by default
    elif status != "all":
        where += " AND status=?"
        args += (status,)
    if price_pk is not None:
        where += (" AND pk IN (SELECT i.subscription_pk FROM subscription_items i JOIN"
                  " subscription_item_phases p ON p.item_pk = i.pk WHERE p.price_pk=?"
                  " AND i.deleted_at IS NULL AND p.\"end\" IS NULL)")
        args += (price_pk,)
    result = fetch_page(conn, f"SELECT {_COLUMNS} FROM subscriptions", where, args, page)
    subs = [_row(r) for r in result.rows]
    return [_with_items(s, load_items(conn, s.pk)) for s in subs], result.has_more


def find_item(conn: sqlite3.Connection, caller: Caller, item_id: str) -> tuple[Subscription,
                                                                                 Item]:
    row = conn.execute(
        "SELECT i.subscription_pk FROM subscription_items i JOIN subscriptions s"
        " ON s.pk = i.subscription_pk WHERE i.id=? AND s.account_pk=? AND s.livemode=?"
        " AND i.deleted_at IS NULL", (item_id, caller.account_pk, caller.livemode),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No such subscription item: '{item_id}'")
    sub = get_subscription_by_pk(conn, row[0])
    return sub, next(item for item in sub.items if item.id == item_id)


class WireContext:
    """Ids of the objects a subscription refers to by pk, looked up once per request."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn
        self._ids: dict[tuple[str, int], str | None] = {}

    def id_of(self, table: str, pk: int | None) -> str | None:
        if pk is None:
            return None
        key = (table, pk)
        if key not in self._ids:
            row = self.conn.execute(f"SELECT id FROM {table} WHERE pk=?", (pk,)).fetchone()
            self._ids[key] = row[0] if row else None
        return self._ids[key]


def item_wire(item: Item, sub: Subscription, price: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": item.id,
        "object": "subscription_item",
        "created": item.created,
        "current_period_start": sub.current_period_start,
        "current_period_end": sub.current_period_end,
        "discounts": [],
        "metadata": item.metadata,
        "plan": None,
        "price": price,
        "quantity": None if price.get("recurring", {}).get("usage_type") == "metered"
        else item.current.quantity,
        "subscription": sub.id,
        "tax_rates": [],
    }


def subscription_wire(sub: Subscription, ctx: WireContext,
                      prices: dict[int, dict[str, Any]]) -> dict[str, Any]:
    items = [item_wire(item, sub, prices[item.current.price_pk]) for item in sub.live_items]
    return {
        "id": sub.id,
        "object": "subscription",
        "application": None,
        "automatic_tax": {"enabled": False, "liability": None},
        "billing_cycle_anchor": sub.billing_cycle_anchor,
        "billing_thresholds": None,
        "cancel_at": sub.cancel_at,
        "cancel_at_period_end": sub.cancel_at_period_end,
        "canceled_at": sub.canceled_at,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": sub.collection_method,
        "created": sub.created,
        "currency": sub.currency,
        "current_period_start": sub.current_period_start,
        "current_period_end": sub.current_period_end,
        "customer": ctx.id_of("customers", sub.customer_pk),
        "days_until_due": sub.days_until_due,
        "default_payment_method": None,
        "description": None,
        "discounts": [],
        "ended_at": sub.ended_at,
        "items": {"object": "list", "data": items, "has_more": False,
                  "total_count": len(items),
                  "url": f"/v1/subscription_items?subscription={sub.id}"},
        "latest_invoice": ctx.id_of("invoices", sub.latest_invoice_pk),
        "livemode": sub.livemode,
        "metadata": sub.metadata,
        "pending_update": None,
        "schedule": None,
        "start_date": sub.start_date,
        "status": sub.status,
        "test_clock": ctx.id_of("test_clocks", sub.test_clock_pk),
        "trial_end": sub.trial_end,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": sub.trial_start,
    }


def render_subscription(conn: sqlite3.Connection, sub: Subscription) -> dict[str, Any]:
    """The subscription's wire object, its items' prices in full."""
    from metered.billing.prices import get_price_by_pk  # noqa: PLC0415 - prices import nothing here

    prices = {item.current.price_pk: get_price_by_pk(conn, item.current.price_pk).to_wire()
              for item in sub.live_items}
    return subscription_wire(sub, WireContext(conn), prices)
