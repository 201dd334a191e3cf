"""Billing credits (Stripe's /v1/billing/credit_grants): grants, their ledger, balances, and
their burn-down when an invoice is finalized.

Every movement of a balance is a row of `credit_ledger`, appended and never changed: granted
(+), applied to an invoice line (-), expired (-), voided (-), given back when the invoice is
voided (+). A grant's balance at a time is its ledger's sum, or 0 before it is effective and
from its expiry or void on.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from metered.accounts import Caller
from metered.billing.clock_time import on_clock
from metered.billing.credit_burn import GrantBalance, LineShare, burn_down
from metered.billing.metadata import merge_metadata
from metered.billing.prices import get_price, get_price_by_pk
from metered.errors import InvalidRequestError, NotFoundError, invalid_param
from metered.ids import new_id
from metered.store.pages import PageRequest, fetch_page

_COLUMNS = ("pk, id, account_pk, livemode, customer_pk, test_clock_pk, name, category,"
            " currency, amount, price_pks, priority, effective_at, expires_at, expired,"
            " voided_at, metadata, created, updated")


@dataclass(frozen=True, slots=True)
class CreditGrant:
    pk: int
    id: str
    account_pk: int
    livemode: bool
    customer_pk: int
    test_clock_pk: int | None
    name: str | None
    category: str
    currency: str
    amount: int
    price_pks: tuple[int, ...] | None
    priority: int
    effective_at: int
    expires_at: int | None
    expired: bool
    voided_at: int | None
    metadata: dict[str, str]
    created: int
    updated: int

    def usable_at(self, at: int) -> bool:
        return (self.voided_at is None and self.effective_at <= at
                and (self.expires_at is None or at < self.expires_at))


def _row(row: tuple[Any, ...]) -> CreditGrant:
    values = list(row)
    values[3] = bool(values[3])
    values[10] = None if values[10] is None else tuple(json.loads(values[10]))
    values[14] = bool(values[14])
    values[16] = json.loads(values[16])
    return CreditGrant(*values)


@dataclass(slots=True)
class GrantSpec:
    customer_pk: int
    test_clock_pk: int | None
    currency: str
    amount: int
    price_ids: list[str] | None  # None: every metered price
    category: str = "paid"
    priority: int = 50
    effective_at: int | None = None
    expires_at: int | None = None
    name: str | None = None
    metadata: dict[str, str] | None = None


def _ledger(conn: sqlite3.Connection, grant: CreditGrant, kind: str, amount: int, at: int,
            invoice_pk: int | None = None, line_id: str | None = None) -> None:
    conn.execute(
        "INSERT INTO credit_ledger (id, account_pk, livemode, grant_pk, customer_pk, kind,"
        " amount, invoice_pk, invoice_line_id, effective_at, created)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (new_id("cbtxn"), grant.account_pk, grant.livemode, grant.pk, grant.customer_pk, kind,
         amount, invoice_pk, line_id, at, at),
    )


def create_grant(conn: sqlite3.Connection, caller: Caller, spec: GrantSpec, at: int
                 ) -> CreditGrant:
    price_pks = None
    if spec.price_ids is not None:
        price_pks = []
        for i, price_id in enumerate(spec.price_ids):
            param = f"applicability_config[scope][prices][{i}][id]"
            price = get_price(conn, caller, price_id, param=param)
            if price.recurring_usage_type != "metered":
                raise invalid_param(param, f"Credits apply to metered prices only: {price_id}"
                                    " is not metered.")
            price_pks.append(price.pk)
    effective_at = at if spec.effective_at is None else spec.effective_at
    if spec.expires_at is not None and spec.expires_at <= effective_at:
        raise invalid_param("expires_at", "expires_at must be after effective_at.")
    cur = conn.execute(
        f"INSERT INTO credit_grants ({_COLUMNS.removeprefix('pk, ')}) VALUES"
        " (?,?,?,?,?,?,?,?,?,?,?,?,?,0,NULL,?,?,?)",
        (new_id("credgr"), caller.account_pk, caller.livemode, spec.customer_pk,
         spec.test_clock_pk, spec.name, spec.category, spec.currency, spec.amount,
         None if price_pks is None else json.dumps(price_pks), spec.priority, effective_at,
         spec.expires_at, json.dumps(spec.metadata or {}), at, at),
    )
    assert cur.lastrowid is not None
    grant = get_grant_by_pk(conn, cur.lastrowid)
    _ledger(conn, grant, "credits_granted", spec.amount, effective_at)
    return grant


def get_grant_by_pk(conn: sqlite3.Connection, pk: int) -> CreditGrant:
    row = conn.execute(f"SELECT {_COLUMNS} FROM credit_grants WHERE pk=?", (pk,)).fetchone()
    assert row is not None
    return _row(row)


def get_grant(conn: sqlite3.Connection, caller: Caller, grant_id: str) -> CreditGrant:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM credit_grants WHERE id=? AND account_pk=? AND livemode=?",
        (grant_id, caller.account_pk, caller.livemode),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No such credit grant: '{grant_id}'")
    return _row(row)


def list_grants(conn: sqlite3.Connection, caller: Caller, page: PageRequest,
                customer_pk: int | None) -> tuple[list[CreditGrant], bool]:
    where = "account_pk=? AND livemode=?"
    args: tuple[Any, ...] = (caller.account_pk, caller.livemode)
    if customer_pk is not None:
        where += " AND customer_pk=?"
        args += (customer_pk,)
    result = fetch_page(conn, f"SELECT {_COLUMNS} FROM credit_grants", where, args, page)
    return [_row(r) for r in result.rows], result.has_more


def balance(conn: sqlite3.Connection, grant: CreditGrant, at: int) -> int:
    if not grant.usable_at(at):
        return 0
    (total,) = conn.execute("SELECT COALESCE(SUM(amount), 0) FROM credit_ledger"
                            " WHERE grant_pk=?", (grant.pk,)).fetchone()
    return max(int(total), 0)


def customer_grants(conn: sqlite3.Connection, customer_pk: int, currency: str | None = None
                    ) -> list[CreditGrant]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM credit_grants WHERE customer_pk=? ORDER BY pk",
                        (customer_pk,)).fetchall()
    grants = [_row(r) for r in rows]
    return [g for g in grants if currency is None or g.currency == currency]


def _settle_grant(conn: sqlite3.Connection, grant: CreditGrant, kind: str, at: int) -> None:
    """Write off what is left of the grant (expired or voided)."""
    (left,) = conn.execute("SELECT COALESCE(SUM(amount), 0) FROM credit_ledger"
                           " WHERE grant_pk=?", (grant.pk,)).fetchone()
    if left > 0:
        _ledger(conn, grant, kind, -int(left), at)


def expire_grant(conn: sqlite3.Connection, caller: Caller, grant_id: str, at: int
                 ) -> CreditGrant:
    grant = get_grant(conn, caller, grant_id)
    if grant.voided_at is not None or grant.expired:
        raise InvalidRequestError("This credit grant is already voided or expired.",
                                  code="credit_grant_not_active")
    conn.execute("UPDATE credit_grants SET expires_at=?, updated=? WHERE pk=?",
                 (max(at, grant.effective_at), at, grant.pk))
    return expire_due_grant(conn, grant.pk, at)


def expire_due_grant(conn: sqlite3.Connection, grant_pk: int, at: int) -> CreditGrant:
    """At its expiry: the rest of its balance expires (billing scheduler, or expire now)."""
    grant = get_grant_by_pk(conn, grant_pk)
    if not grant.expired:
        _settle_grant(conn, grant, "credits_expired", grant.expires_at or at)
        conn.execute("UPDATE credit_grants SET expired=1 WHERE pk=?", (grant.pk,))
    return get_grant_by_pk(conn, grant.pk)


def void_grant(conn: sqlite3.Connection, caller: Caller, grant_id: str, at: int
               ) -> CreditGrant:
    grant = get_grant(conn, caller, grant_id)
    if grant.voided_at is not None or grant.expired:
        raise InvalidRequestError("This credit grant is already voided or expired.",
                                  code="credit_grant_not_active")
    _settle_grant(conn, grant, "credits_voided", at)
    conn.execute("UPDATE credit_grants SET voided_at=?, updated=? WHERE pk=?",
                 (at, at, grant.pk))
    return get_grant_by_pk(conn, grant.pk)


def update_grant(conn: sqlite3.Connection, caller: Caller, grant_id: str, *,
                 expires_at: int | None | str, metadata: dict[str, str] | None, at: int
                 ) -> CreditGrant:
    """expires_at: a time, "" to never expire, None to leave it."""
    grant = get_grant(conn, caller, grant_id)
    if expires_at is not None:
        if grant.voided_at is not None or grant.expired:
            raise InvalidRequestError("This credit grant is already voided or expired.",
                                      code="credit_grant_not_active")
        new = None if expires_at == "" else int(expires_at)
        if new is not None and new <= max(at, grant.effective_at):
            raise invalid_param("expires_at", "expires_at must be in the future and after"
                                " effective_at.")
        conn.execute("UPDATE credit_grants SET expires_at=? WHERE pk=?", (new, grant.pk))
    if metadata is not None:
        conn.execute("UPDATE credit_grants SET metadata=? WHERE pk=?",
                     (json.dumps(merge_metadata(grant.metadata, metadata)), grant.pk))
    conn.execute("UPDATE credit_grants SET updated=? WHERE pk=?", (at, grant.pk))
    return get_grant_by_pk(conn, grant.pk)


# --- invoices ----------------------------------------------------------------------------------

def apply_credits(conn: sqlite3.Connection, invoice_pk: int, customer_pk: int, currency: str,
                  at: int) -> int:
    """Burn the customer's grants down against the invoice's lines (at its finalization, in
    its transaction); returns the amount the credits paid."""
    grants = [
        GrantBalance(g.pk, balance(conn, g, at), g.priority, g.expires_at, g.category,
                     g.effective_at, None if g.price_pks is None else frozenset(g.price_pks))
        for g in customer_grants(conn, customer_pk, currency)
    ]
    grants = [g for g in grants if g.balance > 0]
    if not grants:
        return 0
    rows = conn.execute(
        "SELECT l.id, l.price_pk, l.amount FROM invoice_lines l WHERE l.invoice_pk=?"
        " ORDER BY l.pk", (invoice_pk,)).fetchall()
    metered = {pk: get_price_by_pk(conn, pk).recurring_usage_type == "metered"
               for pk in {r[1] for r in rows if r[1] is not None}}
    lines = [LineShare(i, price_pk, metered.get(price_pk, False), amount)
             for i, (_, price_pk, amount) in enumerate(rows)]
    by_pk = {g.pk: g for g in customer_grants(conn, customer_pk)}
    applied = 0
    for application in burn_down(grants, lines):
        _ledger(conn, by_pk[application.grant_pk], "credits_applied", -application.amount, at,
                invoice_pk, rows[application.line_index][0])
        applied += application.amount
    return applied


def restore_credits(conn: sqlite3.Connection, invoice_pk: int, at: int) -> None:
    """A voided invoice gives back the credits it used."""
    rows = conn.execute(
        "SELECT grant_pk, amount, invoice_line_id FROM credit_ledger WHERE invoice_pk=?"
        " AND kind='credits_applied' ORDER BY pk", (invoice_pk,)).fetchall()
    for grant_pk, amount, line_id in rows:
        _ledger(conn, get_grant_by_pk(conn, grant_pk), "credits_application_invoice_voided",
                -amount, at, invoice_pk, line_id)


def line_credits(conn: sqlite3.Connection, invoice_pk: int) -> dict[str, list[tuple[str, int]]]:
    """Per invoice line id: (ledger transaction id, amount paid by credits)."""
    out: dict[str, list[tuple[str, int]]] = {}
    for txn_id, line_id, amount in conn.execute(
        "SELECT id, invoice_line_id, amount FROM credit_ledger WHERE invoice_pk=?"
        " AND kind='credits_applied' ORDER BY pk", (invoice_pk,),
    ):
        out.setdefault(line_id, []).append((txn_id, -amount))
    return out


def due_expiries(conn: sqlite3.Connection, clock_pk: int | None, until: int
                 ) -> tuple[int, int] | None:
    """(grant pk, expires_at) of the earliest expiry not yet written, by `until`."""
    clock, clock_args = on_clock("test_clock_pk", clock_pk)
    row = conn.execute(
        "SELECT pk, expires_at FROM credit_grants WHERE expired=0 AND voided_at IS NULL"
        f" AND expires_at IS NOT NULL AND expires_at <= ? AND {clock}"
        " ORDER BY expires_at, pk LIMIT 1", (until, *clock_args),
    ).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def estimate_credits(conn: sqlite3.Connection, customer_pk: int, currency: str,
                     lines: list[tuple[int | None, int]], at: int) -> list[int]:
    """What the grants would pay of each (price pk, amount) line if the invoice were
    finalized at `at` (a preview or a draft): the amount per line, nothing written."""
    grants = [
        GrantBalance(g.pk, balance(conn, g, at), g.priority, g.expires_at, g.category,
                     g.effective_at, None if g.price_pks is None else frozenset(g.price_pks))
        for g in customer_grants(conn, customer_pk, currency)
    ]
    metered = {pk: get_price_by_pk(conn, pk).recurring_usage_type == "metered"
               for pk in {p for p, _ in lines if p is not None}}
    shares = [LineShare(i, p, metered.get(p, False), a) for i, (p, a) in enumerate(lines)]
    paid = [0] * len(lines)
    for application in burn_down([g for g in grants if g.balance > 0], shares):
        paid[application.line_index] += application.amount
    return paid
