"""What happens to a subscription: creation, item changes, cancellation and the turn of each
billing period, with the invoices these make.

Licensed items are billed in advance (the period that starts) and metered items in arrears
(the period that ends), as on Stripe; their fees and prorations are billing.prorations'.
Every function takes the time it acts at (`at`): the wall clock, or a test clock's time.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from metered.accounts import Caller
from metered.billing import cycles
from metered.billing.announcements import invoice_changed
from metered.billing.invoices import NewInvoice, create_draft
from metered.billing.lines import Line
from metered.billing.metadata import merge_metadata
from metered.billing.prices import Price, get_price, get_price_by_pk
from metered.billing.prorations import (
    add_proration,
    cancellation_credits,
    licensed_lines,
    pending_lines,
    prorates,
)
from metered.billing.subscriptions import (
    Item,
    Phase,
    Subscription,
    get_subscription_by_pk,
)
from metered.errors import InvalidRequestError, invalid_param
from metered.ids import new_id

PRORATION_BEHAVIORS = ("create_prorations", "none", "always_invoice")


@dataclass(slots=True)
class ItemChange:
    """One entry of `items[]`: a new item (price), a change (id with price and/or quantity),
    or a removal (id with deleted)."""

    id: str | None = None
    price_id: str | None = None
    quantity: int | None = None
    deleted: bool = False
    metadata: dict[str, str] | None = None
    param: str = "items"  # the entry's parameter name ("items[0]"), "" when top-level

    def name(self, field: str) -> str:
        """The parameter an error about `field` names: items[0][price], or price."""
        return f"{self.param}[{field}]" if self.param else field


@dataclass(slots=True)
class SubscriptionSpec:
    customer_pk: int
    test_clock_pk: int | None
    items: list[ItemChange]
    billing_cycle_anchor: int | None = None
    trial_end: int | None = None
    trial_period_days: int | None = None
    cancel_at_period_end: bool = False
    cancel_at: int | None = None
    days_until_due: int | None = None
    collection_method: str = "charge_automatically"
    metadata: dict[str, str] = field(default_factory=dict)


def _check_price(price: Price, currency: str | None, interval: tuple[str, int] | None,
                 param: str) -> None:
    if price.type != "recurring":
        raise invalid_param(param, f"The price {price.id} is not recurring: a subscription"
                            " item needs a recurring price.")
    if not price.active:
        raise invalid_param(param, f"The price {price.id} is not active.")
    if currency is not None and price.currency != currency:
        raise invalid_param(param, "All prices of a subscription must share one currency"
                            f" ({currency}); {price.id} is in {price.currency}.")
    if interval is not None and (price.recurring_interval, price.recurring_interval_count) != (
            interval):
        raise invalid_param(param, "All prices of a subscription must have the same billing"
                            f" interval; {price.id} differs.")


def _quantity_for(price: Price, change: ItemChange, default: int) -> int:
    if price.recurring_usage_type == "metered":
        if change.quantity not in (None, 1):
            raise invalid_param(change.name("quantity"),
                                "A metered price's item takes no quantity: usage is metered.")
        return 1
    return default if change.quantity is None else change.quantity


def _invoice(conn: sqlite3.Connection, sub: Subscription, reason: str, usage: tuple[int, int],
             lines: list[Line], at: int, finalize_at: int | None) -> int:
    new = NewInvoice(sub.account_pk, sub.livemode, sub.customer_pk, sub.pk, sub.test_clock_pk,
                     sub.currency, reason, usage[0], usage[1])
    lines = lines + pending_lines(conn, sub.pk)
    invoice_pk = create_draft(conn, new, lines, at=at, finalize_at=finalize_at)
    invoice_changed(conn, invoice_pk, "invoice.created", at)
    conn.execute("UPDATE pending_invoice_items SET invoice_pk=? WHERE subscription_pk=?"
                 " AND invoice_pk IS NULL", (invoice_pk, sub.pk))
    conn.execute("UPDATE subscriptions SET latest_invoice_pk=? WHERE pk=?", (invoice_pk, sub.pk))
    return invoice_pk


# --- creation -------------------------------------------------------------------------------

def create_subscription(conn: sqlite3.Connection, caller: Caller, spec: SubscriptionSpec,
                        at: int) -> tuple[Subscription, int]:
    """The subscription and its first invoice (licensed fees in advance; finalized at once by
    the caller: billing.runner). Returns (subscription, invoice pk)."""
    if not spec.items:
        raise invalid_param("items", "A subscription needs at least one item.")
    prices: list[Price] = []
    for change in spec.items:
        if change.price_id is None:
            raise invalid_param(change.name("price"), "Each item needs a price.")
        price = get_price(conn, caller, change.price_id)
        first = prices[0] if prices else None
        _check_price(price, first.currency if first else None,
                     (first.recurring_interval, first.recurring_interval_count) if first else None,
                     change.name("price"))
        if any(p.pk == price.pk for p in prices):
            raise invalid_param(change.name("price"),
                                f"The price {price.id} is on two items of the subscription.")
        prices.append(price)
    interval, count = prices[0].recurring_interval, prices[0].recurring_interval_count
    trial_end = spec.trial_end
    if trial_end is None and spec.trial_period_days:
        trial_end = at + spec.trial_period_days * cycles.DAY
    if trial_end is not None and trial_end <= at:
        trial_end = None  # trial_end=now: no trial
    anchor = spec.billing_cycle_anchor or trial_end or at
    if anchor < at:
        raise invalid_param("billing_cycle_anchor", "billing_cycle_anchor must not be in the"
                            " past.")
    if trial_end is None and anchor > cycles.boundary(at, interval, count, 1):
        raise invalid_param("billing_cycle_anchor", "billing_cycle_anchor must be within one"
                            " billing period of the start.")
    start, end = (at, trial_end) if trial_end else cycles.first_period(at, anchor, interval,
                                                                        count)
    cur = conn.execute(
        "INSERT INTO subscriptions (id, account_pk, livemode, customer_pk, test_clock_pk,"
        " currency, status, interval, interval_count, billing_cycle_anchor,"
        " current_period_start, current_period_end, start_date, trial_start, trial_end,"
        " cancel_at_period_end, cancel_at, days_until_due, collection_method, metadata,"
        " created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (new_id("sub"), caller.account_pk, caller.livemode, spec.customer_pk,
         spec.test_clock_pk, prices[0].currency, "trialing" if trial_end else "active",
         interval, count, anchor, start, end, at, at if trial_end else None, trial_end,
         spec.cancel_at_period_end, spec.cancel_at, spec.days_until_due,
         spec.collection_method, _json(spec.metadata), at),
    )
    assert cur.lastrowid is not None
    for change, price in zip(spec.items, prices, strict=True):
        _insert_item(conn, cur.lastrowid, price, _quantity_for(price, change, 1), change, at)
    sub = get_subscription_by_pk(conn, cur.lastrowid)
    lines = licensed_lines(conn, sub, start, end, trial=trial_end is not None)
    # Due at once: finalized by the scheduler (the API asks it to right away).
    invoice_pk = _invoice(conn, sub, "subscription_create", (at, at), lines, at, at)
    return get_subscription_by_pk(conn, sub.pk), invoice_pk


def _json(value: dict[str, str]) -> str:
    return json.dumps({k: v for k, v in value.items() if v != ""})


def _insert_item(conn: sqlite3.Connection, subscription_pk: int, price: Price, quantity: int,
                 change: ItemChange, at: int) -> int:
    if quantity < 0:
        raise invalid_param(change.name("quantity"), "quantity must not be negative.")
    cur = conn.execute(
        "INSERT INTO subscription_items (id, subscription_pk, metadata, created)"
        " VALUES (?,?,?,?)", (new_id("si"), subscription_pk, _json(change.metadata or {}), at),
    )
    assert cur.lastrowid is not None
    conn.execute("INSERT INTO subscription_item_phases (item_pk, price_pk, quantity, start)"
                 " VALUES (?,?,?,?)", (cur.lastrowid, price.pk, quantity, at))
    return cur.lastrowid


# --- changes --------------------------------------------------------------------------------

def change_items(conn: sqlite3.Connection, caller: Caller, sub: Subscription,
                 changes: list[ItemChange], proration_behavior: str, at: int) -> None:
    """Add, change and remove items at `at`. A change closes the item's phase and opens one;
    licensed terms prorate unless proration_behavior is none."""
    if sub.status == "canceled":
        raise InvalidRequestError("A canceled subscription can no longer change.",
                                  code="subscription_canceled")
    prorating = proration_behavior != "none"
    for change in changes:
        item = _item(sub, change) if change.id else None
        if item is None:
            if change.deleted:
                raise invalid_param(change.name("deleted"), "deleted needs an item id.")
            price = _price_for(conn, caller, sub, change, None)
            quantity = _quantity_for(price, change, 1)
            item_pk = _insert_item(conn, sub.pk, price, quantity, change, at)
            if prorating and prorates(sub, price, at):
                add_proration(conn, sub, item_pk, price, quantity, at, +1)
            continue
        old = item.current
        old_price = get_price_by_pk(conn, old.price_pk)
        if change.deleted:
            _close_phase(conn, old, at)
            conn.execute("UPDATE subscription_items SET deleted_at=? WHERE pk=?", (at, item.pk))
            if prorating and prorates(sub, old_price, at):
                add_proration(conn, sub, item.pk, old_price, old.quantity, at, -1)
            continue
        price = _price_for(conn, caller, sub, change, old_price) if change.price_id else old_price
        quantity = _quantity_for(price, change, old.quantity if price.pk == old.price_pk else 1)
        if change.metadata is not None:
            conn.execute("UPDATE subscription_items SET metadata=? WHERE pk=?",
                         (_json(merge_metadata(item.metadata, change.metadata)), item.pk))
        if (price.pk, quantity) == (old.price_pk, old.quantity):
            continue
        _close_phase(conn, old, at, replaced=True)
        conn.execute("INSERT INTO subscription_item_phases (item_pk, price_pk, quantity, start)"
                     " VALUES (?,?,?,?)", (item.pk, price.pk, quantity, at))
        if prorating and prorates(sub, old_price, at):
            add_proration(conn, sub, item.pk, old_price, old.quantity, at, -1)
        if prorating and prorates(sub, price, at):
            add_proration(conn, sub, item.pk, price, quantity, at, +1)
    if not get_subscription_by_pk(conn, sub.pk).live_items:
        raise invalid_param("items", "A subscription must keep at least one item: cancel it"
                            " instead.")


def _item(sub: Subscription, change: ItemChange) -> Item:
    for item in sub.live_items:
        if item.id == change.id:
            return item
    raise invalid_param(change.name("id"),
                        f"No such subscription item on {sub.id}: '{change.id}'")


def _price_for(conn: sqlite3.Connection, caller: Caller, sub: Subscription,
               change: ItemChange, replacing: Price | None) -> Price:
    if change.price_id is None:
        raise invalid_param(change.name("price"), "A new item needs a price.")
    price = get_price(conn, caller, change.price_id)
    _check_price(price, sub.currency, (sub.interval, sub.interval_count),
                 change.name("price"))
    taken = {item.current.price_pk for item in sub.live_items}
    if price.pk in taken and (replacing is None or replacing.pk != price.pk):
        raise invalid_param(change.name("price"),
                            f"The price {price.id} is already on an item of {sub.id}.")
    return price


def _close_phase(conn: sqlite3.Connection, phase: Phase, at: int, *, replaced: bool = False
                 ) -> None:
    """End the phase at `at`; one that a new phase replaces at the very instant it began was
    never in effect and goes."""
    if replaced and phase.start >= at:
        conn.execute("DELETE FROM subscription_item_phases WHERE pk=?", (phase.pk,))
    else:
        conn.execute("UPDATE subscription_item_phases SET \"end\"=? WHERE pk=?", (at, phase.pk))


def invoice_now(conn: sqlite3.Connection, sub: Subscription, at: int) -> int | None:
    """always_invoice: the pending prorations on an invoice of their own, at once."""
    if not pending_lines(conn, sub.pk):
        return None
    return _invoice(conn, sub, "subscription_update", (at, at), [], at, at)


def set_cancellation(conn: sqlite3.Connection, sub: Subscription, *,
                     cancel_at_period_end: bool | None, cancel_at: int | None | str) -> None:
    """cancel_at_period_end, or cancel_at (a time, or "" to clear it)."""
    if sub.status == "canceled":
        raise InvalidRequestError("A canceled subscription can no longer change.",
                                  code="subscription_canceled")
    if cancel_at_period_end is not None:
        conn.execute("UPDATE subscriptions SET cancel_at_period_end=? WHERE pk=?",
                     (cancel_at_period_end, sub.pk))
    if cancel_at is not None:
        conn.execute("UPDATE subscriptions SET cancel_at=? WHERE pk=?",
                     (None if cancel_at == "" else cancel_at, sub.pk))


# --- the end of a period, and cancellation ---------------------------------------------------

def cancel_now(conn: sqlite3.Connection, sub: Subscription, at: int, *, prorate_unused: bool,
               final_invoice: bool, grace: int) -> int | None:
    """End the subscription at `at`: usage up to then goes on a final invoice (a draft for
    the grace period), with the unused licensed time credited if `prorate_unused`."""
    if sub.status == "canceled":
        raise InvalidRequestError("This subscription is already canceled.",
                                  code="subscription_canceled")
    if prorate_unused:
        for line in cancellation_credits(conn, sub, at):
            assert line.item_pk is not None and line.price_pk is not None
            add_proration(conn, sub, line.item_pk, get_price_by_pk(conn, line.price_pk),
                           int(line.quantity), at, -1)
    for item in sub.live_items:
        if item.current.end is None:
            _close_phase(conn, item.current, at)
    conn.execute("UPDATE subscriptions SET status='canceled', canceled_at=?, ended_at=?,"
                 " cancel_at=NULL, cancel_at_period_end=0 WHERE pk=?", (at, at, sub.pk))
    if not final_invoice:
        conn.execute("DELETE FROM pending_invoice_items WHERE subscription_pk=?"
                     " AND invoice_pk IS NULL", (sub.pk,))
        return None
    usage_from = max(sub.current_period_start, sub.trial_end or 0)
    return _invoice(conn, sub, "subscription_update", (min(usage_from, at), at), [], at,
                    at + grace)


def turn_period(conn: sqlite3.Connection, subscription_pk: int, grace: int) -> int | None:
    """Act on the subscription's next due time (billing.runner calls this once that time has
    come): cancel at cancel_at, or close the period and open the next one, with the invoice
    of the closed period's usage and the new period's licensed fees."""
    sub = get_subscription_by_pk(conn, subscription_pk)
    due = sub.next_due
    if due is None:
        return None
    if due < sub.current_period_end or sub.cancel_at == due:  # cancel_at
        return cancel_now(conn, sub, due, prorate_unused=due < sub.current_period_end,
                          final_invoice=True, grace=grace)
    start, end = sub.current_period_start, sub.current_period_end
    trial_ended = sub.status == "trialing"
    usage = (end, end) if trial_ended else (start, end)  # usage in a trial is free
    if sub.cancel_at_period_end:
        for item in sub.live_items:
            if item.current.end is None:
                _close_phase(conn, item.current, end)
        conn.execute("UPDATE subscriptions SET status='canceled', canceled_at=?, ended_at=?,"
                     " cancel_at_period_end=0 WHERE pk=?", (end, end, sub.pk))
        return _invoice(conn, sub, "subscription_cycle", usage, [], end, end + grace)
    anchor = sub.billing_cycle_anchor if not trial_ended else end
    next_start, next_end = cycles.next_period(anchor, sub.interval, sub.interval_count, end)
    conn.execute(
        "UPDATE subscriptions SET status='active', current_period_start=?,"
        " current_period_end=?, billing_cycle_anchor=? WHERE pk=?",
        (next_start, next_end, anchor, sub.pk),
    )
    turned = get_subscription_by_pk(conn, sub.pk)
    lines = licensed_lines(conn, turned, next_start, next_end, trial=False)
    return _invoice(conn, turned, "subscription_cycle", usage, lines, end, end + grace)
