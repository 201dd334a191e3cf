"""Invoice lines: what one line bills, stored and rendered in Stripe's `line_item` shape."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from metered.ids import new_id

_COLUMNS = ("id, kind, subscription_item_pk, price_pk, charge, charge_group, period_start,"
            " period_end, quantity, unit_amount_decimal, amount, proration, description")


@dataclass(frozen=True, slots=True)
class Line:
    """One line. `charge` and `group` name what it bills (billing.charges): the lines of one
    (charge, group) on all invoices sum to what that usage costs now."""

    kind: str  # usage, licensed, proration, adjustment, minimum, maximum
    description: str
    period_start: int
    period_end: int
    quantity: Decimal
    amount: int  # minor units: rounded once, here
    unit_amount: Decimal | None = None
    item_pk: int | None = None
    price_pk: int | None = None
    charge: str | None = None
    group: str | None = None
    proration: bool = False
    id: str | None = None  # set once stored


def insert_lines(conn: sqlite3.Connection, invoice_pk: int, lines: list[Line]) -> None:
    conn.executemany(
        "INSERT INTO invoice_lines (id, invoice_pk, kind, subscription_item_pk, price_pk, charge,"
        " charge_group, period_start, period_end, quantity, unit_amount_decimal, amount,"
        " proration, description) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        [(line.id or new_id("il"), invoice_pk, line.kind, line.item_pk, line.price_pk,
          line.charge, line.group, line.period_start, line.period_end, decimal_text(line.quantity),
          None if line.unit_amount is None else decimal_text(line.unit_amount), line.amount,
          line.proration, line.description) for line in lines],
    )


def stored_lines(conn: sqlite3.Connection, invoice_pk: int) -> list[Line]:
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM invoice_lines WHERE invoice_pk=? ORDER BY pk", (invoice_pk,)
    ).fetchall()
    return [
        Line(kind=r[1], item_pk=r[2], price_pk=r[3], charge=r[4], group=r[5], period_start=r[6],
             period_end=r[7], quantity=Decimal(r[8]),
             unit_amount=None if r[9] is None else Decimal(r[9]), amount=r[10],
             proration=bool(r[11]), description=r[12] or "", id=r[0])
        for r in rows
    ]


def decimal_text(value: Decimal) -> str:
    """Plain notation, no exponent, no trailing zeros: Decimal('1.50E+3') -> '1500'."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def preview_line_id(invoice_key: str, index: int, line: Line) -> str:
    """A stable id for a line of an invoice that is not stored (a preview or a draft)."""
    material = f"{invoice_key}|{index}|{line.charge}|{line.group}|{line.kind}"
    return "il_tmp_" + hashlib.blake2b(material.encode(), digest_size=12).hexdigest()


def line_wire(line: Line, *, line_id: str, invoice_id: str | None, currency: str,
              livemode: bool, subscription_id: str | None, item_id: str | None,
              price_id: str | None, product_id: str | None) -> dict[str, Any]:
    quantity = line.quantity
    whole = quantity == quantity.to_integral_value()
    parent = None
    if subscription_id is not None:
        parent = {
            "type": "subscription_item_details",
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": line.proration,
                "proration_details": {"credited_items": None},
                "subscription": subscription_id,
                "subscription_item": item_id,
            },
        }
    return {
        "id": line_id,
        "object": "line_item",
        "amount": line.amount,
        "currency": currency,
        "description": line.description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": livemode,
        "metadata": {},
        "parent": parent,
        "period": {"start": line.period_start, "end": line.period_end},
        "pretax_credit_amounts": [],
        "pricing": None if price_id is None else {
            "type": "price_details",
            "price_details": {"price": price_id, "product": product_id},
            "unit_amount_decimal": (None if line.unit_amount is None
                                    else decimal_text(line.unit_amount)),
        },
        "quantity": int(quantity) if whole else None,
        "quantity_decimal": decimal_text(quantity),
        "subtotal": line.amount,
        "taxes": [],
        "metered": {"kind": line.kind, "charge_group": line.group},
    }
