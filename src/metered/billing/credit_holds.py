"""Credit holds (native): reserve credit before an expensive request so that a customer can
never spend beyond its balance.

`authorize` holds an amount if the customer's real-time available balance covers it: the
usable balance of its grants, less the credit its unbilled usage will take (drafts and
current periods, rated now), less the holds in force. Holds are taken one at a time (in the
writer), so two requests can never both spend the last credit. `capture` ends a hold once the
request's usage has been sent as meter events (that usage now counts as unbilled usage);
`release` ends it without usage. A hold not ended by its `expires_at` stops holding.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from metered.accounts import Caller
from metered.billing.credit_views import held, ledger_balances
from metered.errors import InsufficientCreditError, InvalidRequestError, NotFoundError
from metered.ids import new_id
from metered.store.pages import PageRequest, fetch_page

DEFAULT_TTL = 3600
MAX_TTL = 7 * 86_400
_COLUMNS = ("pk, id, account_pk, livemode, customer_pk, currency, amount, status,"
            " captured_amount, expires_at, created, metadata")


@dataclass(frozen=True, slots=True)
class Hold:
    pk: int
    id: str
    account_pk: int
    livemode: bool
    customer_pk: int
    currency: str
    amount: int
    status: str
    captured_amount: int | None
    expires_at: int
    created: int
    metadata: dict[str, str]

    def status_at(self, at: int) -> str:
        return "expired" if self.status == "authorized" and at >= self.expires_at else (
            self.status)


def _row(row: tuple[Any, ...]) -> Hold:
    values = list(row)
    values[3] = bool(values[3])
    values[11] = json.loads(values[11])
    return Hold(*values)


def hold_wire(hold: Hold, customer_id: str, at: int) -> dict[str, Any]:
    return {"id": hold.id, "object": "metered.credit_hold", "amount": hold.amount,
            "captured_amount": hold.captured_amount, "created": hold.created,
            "currency": hold.currency, "customer": customer_id, "expires_at": hold.expires_at,
            "livemode": hold.livemode, "metadata": hold.metadata,
            "status": hold.status_at(at)}


def available(conn: sqlite3.Connection, customer_pk: int, currency: str, unbilled: int,
              at: int) -> int:
    return (ledger_balances(conn, customer_pk, at).get(currency, 0)
            - held(conn, customer_pk, at).get(currency, 0) - unbilled)


def authorize(conn: sqlite3.Connection, caller: Caller, customer_pk: int, currency: str,
              amount: int, unbilled: int, ttl: int, metadata: dict[str, str], at: int) -> Hold:
    """Hold `amount`, or refuse (402) if the real-time available balance is short of it.
    `unbilled`: the credit the customer's unbilled usage will take, rated just before."""
    left = available(conn, customer_pk, currency, unbilled, at)
    if amount > left:
        raise InsufficientCreditError(
            f"The customer's available credit ({left} {currency}) does not cover {amount}.",
            code="insufficient_credit", param="amount")
    cur = conn.execute(
        f"INSERT INTO credit_holds ({_COLUMNS.removeprefix('pk, ')}) VALUES"
        " (?,?,?,?,?,?,'authorized',NULL,?,?,?)",
        (new_id("crhold"), caller.account_pk, caller.livemode, customer_pk, currency, amount,
         at + ttl, at, json.dumps(metadata)),
    )
    assert cur.lastrowid is not None
    return get_hold_by_pk(conn, cur.lastrowid)


def get_hold_by_pk(conn: sqlite3.Connection, pk: int) -> Hold:
    row = conn.execute(f"SELECT {_COLUMNS} FROM credit_holds WHERE pk=?", (pk,)).fetchone()
    assert row is not None
    return _row(row)


def get_hold(conn: sqlite3.Connection, caller: Caller, hold_id: str) -> Hold:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM credit_holds WHERE id=? AND account_pk=? AND livemode=?",
        (hold_id, caller.account_pk, caller.livemode),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No such credit hold: '{hold_id}'")
    return _row(row)


def end_hold(conn: sqlite3.Connection, caller: Caller, hold_id: str, action: str,
             amount: int | None, at: int) -> Hold:
    """capture (with the amount the request used, at most the hold's) or release."""
    hold = get_hold(conn, caller, hold_id)
    if hold.status_at(at) != "authorized":
        raise InvalidRequestError(f"This hold is {hold.status_at(at)}: it can no longer be"
                                  f" {action}d.", code="credit_hold_not_authorized")
    if amount is not None and amount > hold.amount:
        raise InvalidRequestError(f"amount must be at most the hold's {hold.amount}.",
                                  param="amount")
    captured = (hold.amount if amount is None else amount) if action == "capture" else None
    conn.execute("UPDATE credit_holds SET status=?, captured_amount=? WHERE pk=?",
                 ("captured" if action == "capture" else "released", captured, hold.pk))
    return get_hold_by_pk(conn, hold.pk)


def list_holds(conn: sqlite3.Connection, caller: Caller, page: PageRequest,
               customer_pk: int | None) -> tuple[list[Hold], bool]:
    where = "account_pk=? AND livemode=?"
    args: tuple[Any, ...] = (caller.account_pk, caller.livemode)
    if customer_pk is not None:
        where += " AND customer_pk=?"
        args += (customer_pk,)
    result = fetch_page(conn, f"SELECT {_COLUMNS} FROM credit_holds", where, args, page)
    return [_row(r) for r in result.rows], result.has_more
