"""Invoices: created by the billing cycle, finalized once, then paid, voided or uncollectible.

An invoice that closes a period is a draft for the grace period (usage may still arrive), then
is finalized: its usage lines are rated and stored, it gets a number, and it never changes
again but for its status. Usage that arrives later is billed on a later invoice as adjustment
lines (billing.charges). Amounts are whole minor units; every line was rounded once.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from metered.accounts import Caller
from metered.billing.credits import apply_credits, restore_credits
from metered.billing.lines import Line, insert_lines, stored_lines
from metered.billing.metadata import merge_metadata
from metered.errors import InvalidRequestError, NotFoundError
from metered.ids import new_id
from metered.store.pages import PageRequest, fetch_page

DEFAULT_GRACE_SECONDS = 3600
STATUSES = ("draft", "open", "paid", "void", "uncollectible")
_COLUMNS = ("pk, id, account_pk, livemode, customer_pk, subscription_pk, test_clock_pk, number,"
            " status, billing_reason, currency, period_start, period_end, auto_advance,"
            " finalize_at, finalized_at, paid_at, voided_at, marked_uncollectible_at, subtotal,"
            " credits_applied, amount_paid, description, metadata, created")


@dataclass(frozen=True, slots=True)
class Invoice:
    pk: int
    id: str
    account_pk: int
    livemode: bool
    customer_pk: int
    subscription_pk: int | None
    test_clock_pk: int | None
    number: str | None
    status: str
    billing_reason: str
    currency: str
    period_start: int
    period_end: int
    auto_advance: bool
    finalize_at: int | None
    finalized_at: int | None
    paid_at: int | None
    voided_at: int | None
    marked_uncollectible_at: int | None
    subtotal: int
    credits_applied: int
    amount_paid: int
    description: str | None
    metadata: dict[str, str]
    created: int

    @property
    def total(self) -> int:
        """The subtotal less what credit grants paid (Stripe's pretax credits)."""
        return self.subtotal - self.credits_applied

    @property
    def amount_due(self) -> int:
        return max(self.total, 0)


def _row(row: tuple[Any, ...]) -> Invoice:
    values = list(row)
    values[3] = bool(values[3])
    values[13] = bool(values[13])
    values[23] = json.loads(values[23])
    return Invoice(*values)


def get_invoice_by_pk(conn: sqlite3.Connection, pk: int) -> Invoice:
    row = conn.execute(f"SELECT {_COLUMNS} FROM invoices WHERE pk=?", (pk,)).fetchone()
    assert row is not None
    return _row(row)


def get_invoice(conn: sqlite3.Connection, caller: Caller, invoice_id: str) -> Invoice:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM invoices WHERE id=? AND account_pk=? AND livemode=?",
        (invoice_id, caller.account_pk, caller.livemode),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No such invoice: '{invoice_id}'")
    return _row(row)


def list_invoices(conn: sqlite3.Connection, caller: Caller, page: PageRequest, *,
                  customer_pk: int | None = None, subscription_pk: int | None = None,
                  status: str | None = None) -> tuple[list[Invoice], bool]:
    where = "account_pk=? AND livemode=?"
    args: tuple[Any, ...] = (caller.account_pk, caller.livemode)
    for column, value in (("customer_pk", customer_pk), ("subscription_pk", subscription_pk),
                          ("status", status)):
        if value is not None:
            where += f" AND {column}=?"
            args += (value,)
    result = fetch_page(conn, f"SELECT {_COLUMNS} FROM invoices", where, args, page)
    return [_row(r) for r in result.rows], result.has_more


@dataclass(frozen=True, slots=True)
class NewInvoice:
    account_pk: int
    livemode: bool
    customer_pk: int
    subscription_pk: int | None
    test_clock_pk: int | None
    currency: str
    billing_reason: str
    period_start: int
    period_end: int  # the usage window [period_start, period_end) it closes


def create_draft(conn: sqlite3.Connection, new: NewInvoice, lines: list[Line], *, at: int,
                 finalize_at: int | None) -> int:
    """A draft with its stored lines (licensed fees, prorations); usage lines come at
    finalization. `finalize_at` None: finalized by hand only (auto_advance false)."""
    cur = conn.execute(
        "INSERT INTO invoices (id, account_pk, livemode, customer_pk, subscription_pk,"
        " test_clock_pk, status, billing_reason, currency, period_start, period_end,"
        " auto_advance, finalize_at, subtotal, credits_applied, amount_paid, metadata, created)"
        " VALUES (?,?,?,?,?,?,'draft',?,?,?,?,?,?,0,0,0,'{}',?)",
        (new_id("in"), new.account_pk, new.livemode, new.customer_pk, new.subscription_pk,
         new.test_clock_pk, new.billing_reason, new.currency, new.period_start, new.period_end,
         finalize_at is not None, finalize_at, at),
    )
    assert cur.lastrowid is not None
    insert_lines(conn, cur.lastrowid, lines)
    return cur.lastrowid


def finalize_invoice(conn: sqlite3.Connection, invoice_pk: int, closing: list[Line], at: int
                     ) -> Invoice:
    """Store the closing lines (usage, adjustments) rated just before, burn credit grants
    down against them, number the invoice and freeze it: open, or paid when nothing is due."""
    invoice = get_invoice_by_pk(conn, invoice_pk)
    if invoice.status != "draft":
        raise InvalidRequestError(
            f"This invoice is already finalized (status {invoice.status}).",
            code="invoice_not_editable")
    insert_lines(conn, invoice_pk, closing)
    subtotal = sum(line.amount for line in stored_lines(conn, invoice_pk))
    credits = apply_credits(conn, invoice_pk, invoice.customer_pk, invoice.currency, at)
    number = _next_number(conn, invoice.customer_pk)
    status = "open" if subtotal - credits > 0 else "paid"
    conn.execute(
        "UPDATE invoices SET status=?, number=?, subtotal=?, credits_applied=?, finalized_at=?,"
        " finalize_at=NULL, paid_at=? WHERE pk=?",
        (status, number, subtotal, credits, at, at if status == "paid" else None, invoice_pk),
    )
    return get_invoice_by_pk(conn, invoice_pk)


def _next_number(conn: sqlite3.Connection, customer_pk: int) -> str:
    row = conn.execute("SELECT id FROM customers WHERE pk=?", (customer_pk,)).fetchone()
    prefix = row[0][4:12].upper()  # the customer's invoice_prefix
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM invoices WHERE customer_pk=? AND number IS NOT NULL",
        (customer_pk,),
    ).fetchone()
    return f"{prefix}-{count + 1:04d}"


_TRANSITIONS = {
    "pay": ({"open", "uncollectible"}, "paid", "paid_at"),
    "void": ({"open", "uncollectible"}, "void", "voided_at"),
    "mark_uncollectible": ({"open"}, "uncollectible", "marked_uncollectible_at"),
}


def change_status(conn: sqlite3.Connection, caller: Caller, invoice_id: str, action: str,
                  at: int) -> Invoice:
    """pay (marks it paid: no card is charged), void or mark_uncollectible."""
    invoice = get_invoice(conn, caller, invoice_id)
    allowed, status, stamp = _TRANSITIONS[action]
    if invoice.status not in allowed:
        raise InvalidRequestError(
            f"You cannot {action.replace('_', ' ')} an invoice whose status is"
            f" {invoice.status}.", code="invoice_unexpected_state")
    paid = invoice.amount_due if action == "pay" else invoice.amount_paid
    conn.execute(f"UPDATE invoices SET status=?, {stamp}=?, amount_paid=? WHERE pk=?",
                 (status, at, paid, invoice.pk))
    if action == "void":
        restore_credits(conn, invoice.pk, at)
    return get_invoice_by_pk(conn, invoice.pk)


def update_invoice(conn: sqlite3.Connection, caller: Caller, invoice_id: str, *,
                   description: str | None, metadata: dict[str, str] | None,
                   auto_advance: bool | None) -> Invoice:
    invoice = get_invoice(conn, caller, invoice_id)
    merged = merge_metadata(invoice.metadata, metadata)
    if auto_advance is not None and invoice.status != "draft":
        raise InvalidRequestError("auto_advance can only change on a draft.",
                                  param="auto_advance")
    finalize_at = invoice.finalize_at
    if auto_advance is False:
        finalize_at = None
    elif auto_advance and finalize_at is None:
        finalize_at = invoice.period_end
    conn.execute(
        "UPDATE invoices SET description=?, metadata=?, auto_advance=?, finalize_at=?"
        " WHERE pk=?",
        (invoice.description if description is None else description or None,
         json.dumps(merged), finalize_at is not None if invoice.status == "draft"
         else invoice.auto_advance, finalize_at, invoice.pk),
    )
    return get_invoice_by_pk(conn, invoice.pk)
