"""Licensed fees and prorations: what a subscription's seats cost for a period or the rest of
one, to the second.

Licensed items are billed in advance for the period that starts; a shorter first period (an
anchor later than the start) is prorated against the whole period it is part of. A change of
a licensed item's price or quantity within a period credits the unused time of the old terms
and charges the new ones, each a line rounded once, waiting as pending invoice items for the
subscription's next invoice.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from decimal import Decimal

from metered.billing import cycles
from metered.billing.lines import Line
from metered.billing.prices import Price, get_price_by_pk
from metered.billing.subscriptions import Subscription
from metered.ids import new_id
from metered.pricing import prorate, rate, round_minor


def date_label(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%d %b %Y")


def product_name(conn: sqlite3.Connection, price: Price) -> str:
    row = conn.execute("SELECT name FROM products WHERE pk=?", (price.product_pk,)).fetchone()
    return price.nickname or (row[0] if row else price.id)


def full_period(sub: Subscription, start: int) -> int:
    """The length of the anchor's whole period that holds `start`: a period's own length,
    or for a first period cut short by a later anchor, the whole period it is part of."""
    first, end = cycles.period_at(sub.billing_cycle_anchor, sub.interval, sub.interval_count,
                                  start)
    return end - first


def licensed_lines(conn: sqlite3.Connection, sub: Subscription, start: int, end: int, *,
                   trial: bool) -> list[Line]:
    """The fees, in advance, of the licensed items in effect at `start` for [start, end)."""
    lines: list[Line] = []
    whole = full_period(sub, start)
    for item in sub.live_items:
        phase = next((p for p in item.phases if p.covers(start)), None)
        if phase is None:
            continue
        price = get_price_by_pk(conn, phase.price_pk)
        if price.recurring_usage_type != "licensed":
            continue
        name = product_name(conn, price)
        amount = Decimal(0) if trial else prorate(
            rate(price.terms, Decimal(phase.quantity)), end - start, whole)
        label = "Trial period for" if trial else f"{phase.quantity} ×"
        span = f"{date_label(start)} – {date_label(end)}"
        lines.append(Line(
            kind="licensed", description=f"{label} {name} ({span})",
            period_start=start, period_end=end, quantity=Decimal(phase.quantity),
            amount=round_minor(amount), unit_amount=price.terms.unit_amount,
            item_pk=item.pk, price_pk=price.pk, charge=f"L{phase.pk}:{start}:{end}",
        ))
    return lines


def proration_line(conn: sqlite3.Connection, sub: Subscription, item_pk: int, price: Price,
                   quantity: int, at: int, sign: int) -> Line | None:
    """Credit (sign -1) or charge (+1) of `quantity` of `price` from `at` to the period's end."""
    end = sub.current_period_end
    amount = prorate(rate(price.terms, Decimal(quantity)), end - at,
                     full_period(sub, sub.current_period_start))
    if not amount:
        return None
    what = "Unused time on" if sign < 0 else "Remaining time on"
    return Line(kind="proration", period_start=at, period_end=end, quantity=Decimal(quantity),
                amount=sign * round_minor(amount), item_pk=item_pk, price_pk=price.pk,
                proration=True,
                description=(f"{what} {quantity} × {product_name(conn, price)}"
                             f" after {date_label(at)}"))


def add_proration(conn: sqlite3.Connection, sub: Subscription, item_pk: int, price: Price,
                   quantity: int, at: int, sign: int) -> None:
    """A proration waiting for the subscription's next invoice."""
    line = proration_line(conn, sub, item_pk, price, quantity, at, sign)
    if line is None:
        return
    conn.execute(
        "INSERT INTO pending_invoice_items (id, subscription_pk, subscription_item_pk,"
        " price_pk, period_start, period_end, quantity, amount, description, created)"
        " VALUES (?,?,?,?,?,?,?,?,?,?)",
        (new_id("ii"), sub.pk, item_pk, price.pk, line.period_start, line.period_end,
         str(quantity), line.amount, line.description, at),
    )


def cancellation_credits(conn: sqlite3.Connection, sub: Subscription, at: int) -> list[Line]:
    """The unused licensed time a cancellation at `at` credits."""
    lines = []
    for item in sub.live_items:
        price = get_price_by_pk(conn, item.current.price_pk)
        if prorates(sub, price, at):
            line = proration_line(conn, sub, item.pk, price, item.current.quantity, at, -1)
            if line is not None:
                lines.append(line)
    return lines


def prorates(sub: Subscription, price: Price, at: int) -> bool:
    return (price.recurring_usage_type == "licensed" and sub.status == "active"
            and sub.current_period_start <= at < sub.current_period_end)


def pending_lines(conn: sqlite3.Connection, subscription_pk: int) -> list[Line]:
    rows = conn.execute(
        "SELECT p.subscription_item_pk, p.price_pk, p.period_start, p.period_end, p.quantity,"
        " p.amount, p.description, p.id FROM pending_invoice_items p"
        " WHERE p.subscription_pk=? AND p.invoice_pk IS NULL ORDER BY p.pk",
        (subscription_pk,),
    ).fetchall()
    return [Line(kind="proration", description=r[6], period_start=r[2], period_end=r[3],
                 quantity=Decimal(r[4]), amount=r[5], item_pk=r[0], price_pk=r[1],
                 proration=True) for r in rows]
