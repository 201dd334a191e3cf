"""Charges: the metered usage a subscription bills, rated into invoice lines.

A charge is one subscription item phase (a price over an interval of time) within one billing
period. Its usage is read from the meter's rollups over the minutes of the phase that fall in
the period: an event belongs to the period that holds its minute, so periods split usage
exactly. A charge is rated whenever an invoice needs it: at finalization, for a draft or a
preview, and again at each later finalization while late events may still change it (the
lateness window), which bills the difference as adjustment lines (ARCHITECTURE.md invariant 6).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from decimal import Decimal

from metered.billing.lines import Line, decimal_text
from metered.billing.prices import Price, get_price_by_pk
from metered.billing.prorations import product_name
from metered.ingest.events import MAX_PAST_SECONDS
from metered.metering.meters import get_meter_by_pk
from metered.metering.pending import PendingPacks
from metered.metering.summaries import SummaryQuery, summarize
from metered.pricing import (
    PriceTerms,
    bound_total,
    dimensional_unit_amount,
    rate,
    round_minor,
)

# A finalized period's usage is rated again at each finalization until one happens after
# events for it can no longer arrive: the lateness window, plus a day for the grace period.
RERATE_SECONDS = MAX_PAST_SECONDS + 86_400
BOUND_GROUPS = ("minimum", "maximum")


@dataclass(frozen=True, slots=True)
class Charge:
    item_pk: int
    phase_pk: int
    price_pk: int
    period_start: int  # the billing period the usage belongs to
    period_end: int
    usage_start: int  # the part of the period the phase covers, in whole minutes
    usage_end: int

    @property
    def key(self) -> str:
        return f"{self.phase_pk}:{self.period_start}:{self.period_end}"


def _floor(t: int) -> int:
    return t - t % 60


def _ceil(t: int) -> int:
    return _floor(t + 59)


# Each phase with: the end of the subscription (if it ended), and whether a later phase of
# the same item follows it (a change of price or quantity) or it is the item's last.
_PHASES = (
    "SELECT p.item_pk, p.pk, p.price_pk, p.start, p.\"end\", s.ended_at,"
    " EXISTS(SELECT 1 FROM subscription_item_phases n WHERE n.item_pk = p.item_pk"
    " AND n.pk != p.pk AND n.start >= p.start AND n.pk > p.pk)"
    " FROM subscription_item_phases p JOIN subscription_items i ON i.pk = p.item_pk"
    " JOIN subscriptions s ON s.pk = i.subscription_pk"
)


def metered_charges(conn: sqlite3.Connection, subscription_pk: int, start: int, end: int
                    ) -> list[Charge]:
    """The charges of the subscription's metered item phases within the period [start, end)."""
    rows = conn.execute(
        f"{_PHASES} JOIN prices r ON r.pk = p.price_pk"
        " WHERE i.subscription_pk=? AND r.recurring_usage_type='metered'"
        " AND p.start <= ? AND (p.\"end\" IS NULL OR p.\"end\" >= ?) ORDER BY i.pk, p.start",
        (subscription_pk, end, start),
    ).fetchall()
    charges = [_charge(row, start, end) for row in rows]
    return [c for c in charges if c is not None]


def _charge(row: tuple[int, ...], start: int, end: int) -> Charge | None:
    """Usage is counted by whole minutes: a minute belongs to the phase in effect at its
    start, so that consecutive periods and phases split it exactly once; the last minute of a
    subscription or of a removed item is counted whole (nothing comes after to take it)."""
    item_pk, phase_pk, price_pk, phase_start, phase_end, ended_at, followed = row
    closing = end == ended_at
    window = (_floor(start), _ceil(end) if closing else _floor(end))
    if phase_end is None:
        phase = (_floor(phase_start), window[1])
    else:
        phase = (_floor(phase_start), _floor(phase_end) if followed else _ceil(phase_end))
    used = (max(window[0], phase[0]), min(window[1], phase[1]))
    if used[0] >= used[1]:  # no minute of it: nothing to bill, not even a base fee
        return None
    return Charge(item_pk, phase_pk, price_pk, start, end, used[0], used[1])


def charge_of_key(conn: sqlite3.Connection, key: str) -> Charge | None:
    phase_pk, start, end = (int(part) for part in key.split(":"))
    row = conn.execute(f"{_PHASES} WHERE p.pk=?", (phase_pk,)).fetchone()
    return None if row is None else _charge(row, start, end)


class Rater:
    """Rates charges for one customer from the rollups (and the writer's pending cells)."""

    def __init__(self, conn: sqlite3.Connection, pending: PendingPacks, customer_pk: int):
        self.conn = conn
        self.pending = pending
        self.customer_pk = customer_pk
        self._prices: dict[int, Price] = {}
        self._products: dict[int, str] = {}  # by price pk: its line label

    def price(self, pk: int) -> Price:
        price = self._prices.get(pk)
        if price is None:
            price = self._prices[pk] = get_price_by_pk(self.conn, pk)
        return price

    def product_name(self, price: Price) -> str:
        name = self._products.get(price.pk)
        if name is None:
            name = self._products[price.pk] = product_name(self.conn, price)
        return name

    def usage(self, price: Price, charge: Charge) -> list[tuple[dict[str, str | None], Decimal]]:
        """(dimension values, quantity) per group: one group without dimensional pricing."""
        terms = price.terms
        if charge.usage_start >= charge.usage_end or price.meter_pk is None:
            return [] if terms.dimensional else [({}, Decimal(0))]
        meter = get_meter_by_pk(self.conn, price.meter_pk)
        query = SummaryQuery(meter, self.customer_pk, charge.usage_start, charge.usage_end,
                             None, terms.dimension_keys)
        summaries = summarize(self.conn, query, self.pending)
        if not terms.dimensional:
            total = sum((Decimal(s.value) for s in summaries), Decimal(0))
            return [({}, total)]
        return [(dict(s.dimensions or {}), Decimal(s.value)) for s in summaries if s.value]

    def lines(self, charge: Charge) -> list[Line]:
        """The charge's lines as it costs now: a line per group, and the minimum's true-up or
        the maximum's credit."""
        price = self.price(charge.price_pk)
        terms = price.terms
        name = self.product_name(price)
        out: list[Line] = []
        for dims, quantity in self.usage(price, charge):
            if terms.dimensional:
                unit = dimensional_unit_amount(terms, dims)
                group_terms = PriceTerms(unit_amount=unit,
                                         transform_quantity=terms.transform_quantity)
                amount = rate(group_terms, quantity)
                group = json.dumps(dims, sort_keys=True, separators=(",", ":"))
                label = f"{name} ({', '.join(f'{k}: {v}' for k, v in sorted(dims.items()))})"
            else:
                unit = terms.unit_amount if terms.billing_scheme == "per_unit" else None
                amount, group, label = rate(terms, quantity), "", name
            out.append(Line(
                kind="usage", description=f"{decimal_text(quantity)} × {label}",
                period_start=charge.period_start, period_end=charge.period_end,
                quantity=quantity, amount=round_minor(amount), unit_amount=unit,
                item_pk=charge.item_pk, price_pk=price.pk, charge=charge.key, group=group,
            ))
        extra = bound_total(terms, sum(line.amount for line in out))
        if extra:
            kind = "minimum" if extra > 0 else "maximum"
            out.append(Line(
                kind=kind, description=f"{name}: {kind} of the period",
                period_start=charge.period_start, period_end=charge.period_end,
                quantity=Decimal(1), amount=extra, item_pk=charge.item_pk, price_pk=price.pk,
                charge=charge.key, group=kind,
            ))
        return out


def billed_charges(conn: sqlite3.Connection, subscription_pk: int
                   ) -> dict[str, dict[str, tuple[Decimal, int]]]:
    """What finalized invoices billed per charge and group, for the charges still open: no
    line of theirs on a void invoice, and no invoice of the subscription finalized once their
    period's lateness window had passed (that one billed every event the period can ever
    get). {charge: {group: (quantity, amount)}}."""
    rows = conn.execute(
        "SELECT l.charge, l.charge_group, l.quantity, l.amount, v.status FROM invoice_lines l"
        " JOIN invoices v ON v.pk = l.invoice_pk"
        " WHERE v.subscription_pk=? AND v.status IN ('open','paid','uncollectible','void')"
        " AND l.charge IS NOT NULL AND l.charge_group IS NOT NULL AND NOT EXISTS ("
        "  SELECT 1 FROM invoices w WHERE w.subscription_pk = v.subscription_pk"
        "  AND w.finalized_at >= l.period_end + ?)",
        (subscription_pk, RERATE_SECONDS),
    ).fetchall()
    billed: dict[str, dict[str, tuple[Decimal, int]]] = {}
    voided: set[str] = set()
    for charge, group, quantity, amount, status in rows:
        if status == "void":
            voided.add(charge)
            continue
        q, a = billed.setdefault(charge, {}).get(group, (Decimal(0), 0))
        billed[charge][group] = (q + Decimal(quantity), a + amount)
    return {c: groups for c, groups in billed.items() if c not in voided}


def adjustment_lines(rater: Rater, subscription_pk: int, skip: set[str]) -> list[Line]:
    """Lines that bring each finalized charge (but those in `skip`) to what it costs now."""
    out: list[Line] = []
    billed = billed_charges(rater.conn, subscription_pk)
    for key, groups in sorted(billed.items()):
        charge = None if key in skip else charge_of_key(rater.conn, key)
        if charge is None:
            continue
        current = {line.group or "": line for line in rater.lines(charge)}
        for group in sorted(set(groups) | set(current)):
            billed_q, billed_amount = groups.get(group, (Decimal(0), 0))
            line = current.get(group)
            now_q = line.quantity if line else Decimal(0)
            now_amount = line.amount if line else 0
            if now_q == billed_q and now_amount == billed_amount:
                continue
            label = line.description if line else f"{group} usage"
            out.append(Line(
                kind="adjustment", description=f"Adjustment for late usage: {label}",
                period_start=charge.period_start, period_end=charge.period_end,
                quantity=now_q - billed_q, amount=now_amount - billed_amount,
                unit_amount=line.unit_amount if line else None, item_pk=charge.item_pk,
                price_pk=charge.price_pk, charge=key, group=group,
            ))
    return out


def closing_lines(rater: Rater, subscription_pk: int, start: int, end: int) -> list[Line]:
    """The lines rated when an invoice closes the usage window [start, end): the window's
    usage, then adjustments of earlier finalized periods still open to late events."""
    charges = metered_charges(rater.conn, subscription_pk, start, end)
    lines = [line for charge in charges for line in rater.lines(charge)]
    return lines + adjustment_lines(rater, subscription_pk, {c.key for c in charges})
