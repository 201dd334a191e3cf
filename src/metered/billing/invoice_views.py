"""Invoices in Stripe's wire shape: stored ones, drafts (with their usage rated as of now) and
previews (the invoice the current period will close with)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from metered.billing.clock_time import customer_time
from metered.billing.credits import estimate_credits, line_credits
from metered.billing.invoices import Invoice
from metered.billing.lines import Line, line_wire, preview_line_id
from metered.billing.subscriptions import WireContext


@dataclass(frozen=True, slots=True)
class InvoiceView:
    """What an invoice shows: the stored invoice (None for a preview) and its lines."""

    invoice: Invoice | None
    lines: list[Line]
    customer_pk: int
    subscription_pk: int | None
    test_clock_pk: int | None
    currency: str
    livemode: bool
    period_start: int
    period_end: int
    created: int
    billing_reason: str

    @classmethod
    def of(cls, invoice: Invoice, lines: list[Line]) -> InvoiceView:
        return cls(invoice, lines, invoice.customer_pk, invoice.subscription_pk,
                   invoice.test_clock_pk, invoice.currency, invoice.livemode,
                   invoice.period_start, invoice.period_end, invoice.created,
                   invoice.billing_reason)


def _product_of_price(ctx: WireContext, price_pk: int | None) -> str | None:
    if price_pk is None:
        return None
    row = ctx.conn.execute("SELECT p.id FROM prices r JOIN products p ON p.pk = r.product_pk"
                           " WHERE r.pk=?", (price_pk,)).fetchone()
    return row[0] if row else None


def _customer(ctx: WireContext, customer_pk: int) -> tuple[str | None, str | None, str | None]:
    row = ctx.conn.execute("SELECT id, email, name FROM customers WHERE pk=?",
                           (customer_pk,)).fetchone()
    return (row[0], row[1], row[2]) if row else (None, None, None)


def _credits(conn: sqlite3.Connection, view: InvoiceView) -> list[list[tuple[str | None, int]]]:
    """Per line, what credit grants paid ((ledger transaction, amount)); for a preview or a
    draft, what they would pay if it were finalized now (no transaction yet)."""
    invoice = view.invoice
    if invoice is not None and invoice.status != "draft":
        paid = line_credits(conn, invoice.pk)
        return [list(paid.get(line.id or "", [])) for line in view.lines]
    at = customer_time(conn, view.customer_pk)
    estimate = estimate_credits(conn, view.customer_pk, view.currency,
                                [(line.price_pk, line.amount) for line in view.lines], at)
    return [[(None, amount)] if amount else [] for amount in estimate]


def _credit_wire(txn: str | None, amount: int) -> dict[str, Any]:
    return {"amount": amount, "credit_balance_transaction": txn, "discount": None,
            "type": "credit_balance_transaction"}


def invoice_wire(conn: sqlite3.Connection, view: InvoiceView) -> dict[str, Any]:
    ctx = WireContext(conn)
    invoice = view.invoice
    invoice_id = invoice.id if invoice else None
    subscription_id = ctx.id_of("subscriptions", view.subscription_pk)
    key = invoice_id or f"upcoming:{subscription_id}:{view.period_start}"
    credits_by_line = _credits(conn, view)
    lines = []
    for i, line in enumerate(view.lines):
        wire = line_wire(line, line_id=line.id or preview_line_id(key, i, line),
                         invoice_id=invoice_id, currency=view.currency, livemode=view.livemode,
                         subscription_id=subscription_id,
                         item_id=ctx.id_of("subscription_items", line.item_pk),
                         price_id=ctx.id_of("prices", line.price_pk),
                         product_id=_product_of_price(ctx, line.price_pk))
        wire["pretax_credit_amounts"] = [_credit_wire(t, a) for t, a in credits_by_line[i]]
        lines.append(wire)
    subtotal = sum(line.amount for line in view.lines)
    credits = sum(a for paid in credits_by_line for _, a in paid)
    status = invoice.status if invoice else "draft"
    total = subtotal - credits
    amount_due = max(total, 0)
    amount_paid = invoice.amount_paid if invoice else 0
    customer_id, email, name = _customer(ctx, view.customer_pk)
    return {
        "id": invoice_id,
        "object": "invoice",
        "account_country": None,
        "account_name": None,
        "amount_due": amount_due,
        "amount_overpaid": 0,
        "amount_paid": amount_paid,
        "amount_remaining": 0 if status in ("paid", "void") else amount_due - amount_paid,
        "amount_shipping": 0,
        "attempt_count": 0,
        "attempted": status != "draft",
        "auto_advance": invoice.auto_advance if invoice else False,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "automatically_finalizes_at": invoice.finalize_at if invoice else None,
        "billing_reason": view.billing_reason,
        "collection_method": "charge_automatically",
        "created": view.created,
        "currency": view.currency,
        "customer": customer_id,
        "customer_email": email,
        "customer_name": name,
        "default_payment_method": None,
        "description": invoice.description if invoice else None,
        "discounts": [],
        "due_date": None,
        "effective_at": invoice.finalized_at if invoice else None,
        "ending_balance": None if status == "draft" else 0,
        "hosted_invoice_url": None,
        "invoice_pdf": None,
        "lines": {"object": "list", "data": lines, "has_more": False,
                  "total_count": len(lines),
                  "url": f"/v1/invoices/{invoice_id}/lines" if invoice_id else None},
        "livemode": view.livemode,
        "metadata": invoice.metadata if invoice else {},
        "next_payment_attempt": None,
        "number": invoice.number if invoice else None,
        "parent": None if subscription_id is None else {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": subscription_id},
        },
        "period_end": view.period_end,
        "period_start": view.period_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "starting_balance": 0,
        "status": status,
        "status_transitions": {
            "finalized_at": invoice.finalized_at if invoice else None,
            "marked_uncollectible_at": invoice.marked_uncollectible_at if invoice else None,
            "paid_at": invoice.paid_at if invoice else None,
            "voided_at": invoice.voided_at if invoice else None,
        },
        "subtotal": subtotal,
        "subtotal_excluding_tax": subtotal,
        "test_clock": ctx.id_of("test_clocks", view.test_clock_pk),
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [_credit_wire(t, a) for paid in credits_by_line
                                        for t, a in paid],
        "total_taxes": [],
        "webhooks_delivered_at": None,
    }
