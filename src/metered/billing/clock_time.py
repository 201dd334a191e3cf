"""The time a customer lives on: its test clock's frozen time, or the wall clock."""

from __future__ import annotations

import sqlite3

from metered.clock import now_seconds


def customer_time(conn: sqlite3.Connection, customer_pk: int) -> int:
    row = conn.execute(
        "SELECT t.frozen_time FROM customers c JOIN test_clocks t ON t.pk = c.test_clock_pk"
        " WHERE c.pk=?", (customer_pk,),
    ).fetchone()
    return int(row[0]) if row else now_seconds()


def on_clock(column: str, clock_pk: int | None) -> tuple[str, tuple[int, ...]]:
    """(SQL condition, its arguments) selecting the rows whose `column` names the clock (None:
    the wall clock). Spelled `IS NULL` or `= ?` rather than `IS ?`: the one text is valid SQL on
    both stores and an index on the column serves it on both (PostgreSQL's
    `IS NOT DISTINCT FROM` would scan)."""
    if clock_pk is None:
        return f"{column} IS NULL", ()
    return f"{column} = ?", (clock_pk,)
