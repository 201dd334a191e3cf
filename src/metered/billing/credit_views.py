"""Credit grants, ledger transactions and balance summaries in Stripe's wire shapes."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from metered.accounts import Caller
from metered.billing.credits import CreditGrant, balance, customer_grants
from metered.billing.subscriptions import WireContext
from metered.errors import NotFoundError
from metered.store.pages import PageRequest, fetch_page

CREDITS = ("credits_granted", "credits_application_invoice_voided")


def money(currency: str, value: int) -> dict[str, Any]:
    return {"monetary": {"currency": currency, "value": value}, "type": "monetary"}


def grant_wire(conn: sqlite3.Connection, grant: CreditGrant) -> dict[str, Any]:
    ctx = WireContext(conn)
    scope: dict[str, Any] = {"price_type": "metered", "prices": None}
    if grant.price_pks is not None:
        scope = {"price_type": None,
                 "prices": [{"id": ctx.id_of("prices", pk)} for pk in grant.price_pks]}
    return {
        "id": grant.id,
        "object": "billing.credit_grant",
        "amount": money(grant.currency, grant.amount),
        "applicability_config": {"scope": scope},
        "category": grant.category,
        "created": grant.created,
        "customer": ctx.id_of("customers", grant.customer_pk),
        "customer_account": None,
        "effective_at": grant.effective_at,
        "expires_at": grant.expires_at,
        "livemode": grant.livemode,
        "metadata": grant.metadata,
        "name": grant.name,
        "priority": grant.priority,
        "test_clock": ctx.id_of("test_clocks", grant.test_clock_pk),
        "updated": grant.updated,
        "voided_at": grant.voided_at,
    }


_TXN = ("l.pk, l.id, l.livemode, l.kind, l.amount, l.invoice_pk, l.invoice_line_id,"
        " l.effective_at, l.created, g.id, g.currency, g.test_clock_pk")
# The ledger joined to its grants, under plain column names (store.pages pages by `pk`).
_LEDGER = ("SELECT pk, id, livemode, kind, amount, invoice_pk, invoice_line_id, effective_at,"
           " created, grant_id, currency, test_clock_pk FROM (SELECT l.pk AS pk, l.id AS id,"
           " l.livemode AS livemode, l.kind AS kind, l.amount AS amount,"
           " l.invoice_pk AS invoice_pk, l.invoice_line_id AS invoice_line_id,"
           " l.effective_at AS effective_at, l.created AS created, g.id AS grant_id,"
           " g.currency AS currency, g.test_clock_pk AS test_clock_pk,"
           " l.account_pk AS account_pk, l.customer_pk AS customer_pk, l.grant_pk AS grant_pk"
           " FROM credit_ledger l JOIN credit_grants g ON g.pk = l.grant_pk) AS ledger")


@dataclass(frozen=True, slots=True)
class LedgerFilter:
    customer_pk: int
    grant_pk: int | None = None


def list_transactions(conn: sqlite3.Connection, caller: Caller, page: PageRequest,
                      where: LedgerFilter) -> tuple[list[dict[str, Any]], bool]:
    clause = "account_pk=? AND livemode=? AND customer_pk=?"
    args: tuple[Any, ...] = (caller.account_pk, caller.livemode, where.customer_pk)
    if where.grant_pk is not None:
        clause += " AND grant_pk=?"
        args += (where.grant_pk,)
    result = fetch_page(conn, _LEDGER, clause, args, page)
    ctx = WireContext(conn)
    return [_txn_wire(ctx, row) for row in result.rows], result.has_more


def get_transaction(conn: sqlite3.Connection, caller: Caller, txn_id: str) -> dict[str, Any]:
    row = conn.execute(
        f"SELECT {_TXN} FROM credit_ledger l JOIN credit_grants g ON g.pk = l.grant_pk"
        " WHERE l.id=? AND l.account_pk=? AND l.livemode=?",
        (txn_id, caller.account_pk, caller.livemode),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No such credit balance transaction: '{txn_id}'")
    return _txn_wire(WireContext(conn), row)


def _txn_wire(ctx: WireContext, row: tuple[Any, ...]) -> dict[str, Any]:
    (_, txn_id, livemode, kind, amount, invoice_pk, line_id, effective_at, created, grant_id,
     currency, clock_pk) = row
    invoice = None
    if invoice_pk is not None:
        invoice = {"invoice": ctx.id_of("invoices", invoice_pk), "invoice_line_item": line_id}
    credit = debit = None
    if kind in CREDITS:
        credit = {"amount": money(currency, abs(amount)), "type": kind,
                  "credits_application_invoice_voided":
                      invoice if kind == "credits_application_invoice_voided" else None}
    else:
        debit = {"amount": money(currency, abs(amount)), "type": kind,
                 "credits_applied": invoice if kind == "credits_applied" else None}
    return {
        "id": txn_id,
        "object": "billing.credit_balance_transaction",
        "created": created,
        "credit": credit,
        "credit_grant": grant_id,
        "debit": debit,
        "effective_at": effective_at,
        "livemode": bool(livemode),
        "test_clock": ctx.id_of("test_clocks", clock_pk),
        "type": "credit" if credit else "debit",
    }


def ledger_balances(conn: sqlite3.Connection, customer_pk: int, at: int,
                    grants: list[CreditGrant] | None = None) -> dict[str, int]:
    """Per currency: the usable balance of the customer's grants (all, or `grants`)."""
    out: dict[str, int] = {}
    for grant in customer_grants(conn, customer_pk) if grants is None else grants:
        out[grant.currency] = out.get(grant.currency, 0) + balance(conn, grant, at)
    return out


def held(conn: sqlite3.Connection, customer_pk: int, at: int) -> dict[str, int]:
    """Per currency: the credit held by authorizations still in force."""
    return {currency: int(total) for currency, total in conn.execute(
        "SELECT currency, SUM(amount) FROM credit_holds WHERE customer_pk=?"
        " AND status='authorized' AND expires_at > ? GROUP BY currency", (customer_pk, at))}
