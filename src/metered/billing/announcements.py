"""Stripe events for billing changes, recorded in the transaction of the change they report
(webhooks.record_event), with the object as the API shows it then."""

from __future__ import annotations

import sqlite3

from metered.billing.credit_views import grant_wire
from metered.billing.credits import get_grant_by_pk
from metered.billing.invoice_views import InvoiceView, invoice_wire
from metered.billing.invoices import get_invoice_by_pk
from metered.billing.lines import stored_lines
from metered.billing.subscriptions import get_subscription_by_pk, render_subscription
from metered.webhooks.events import record_event


def invoice_changed(conn: sqlite3.Connection, invoice_pk: int, type: str, at: int) -> None:
    invoice = get_invoice_by_pk(conn, invoice_pk)
    obj = invoice_wire(conn, InvoiceView.of(invoice, stored_lines(conn, invoice_pk)))
    record_event(conn, invoice.account_pk, invoice.livemode, type, obj, at)


def invoice_finalized(conn: sqlite3.Connection, invoice_pk: int, at: int) -> None:
    invoice_changed(conn, invoice_pk, "invoice.finalized", at)
    if get_invoice_by_pk(conn, invoice_pk).status == "paid":  # nothing was due
        invoice_changed(conn, invoice_pk, "invoice.paid", at)


def subscription_changed(conn: sqlite3.Connection, subscription_pk: int, type: str, at: int
                         ) -> None:
    sub = get_subscription_by_pk(conn, subscription_pk)
    record_event(conn, sub.account_pk, sub.livemode, type, render_subscription(conn, sub), at)


def grant_changed(conn: sqlite3.Connection, grant_pk: int, type: str, at: int) -> None:
    grant = get_grant_by_pk(conn, grant_pk)
    record_event(conn, grant.account_pk, grant.livemode, type, grant_wire(conn, grant), at)
