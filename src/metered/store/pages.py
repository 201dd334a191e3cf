"""Cursor pagination over a table, newest first, as Stripe lists are."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int = 10
    starting_after_pk: int | None = None
    ending_before_pk: int | None = None


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Any]
    has_more: bool


def fetch_page(conn: sqlite3.Connection, select_sql: str, where: str, args: tuple[Any, ...],
               page: PageRequest) -> Page:
    """`select_sql` is `SELECT ... FROM t`; rows are ordered by `pk` descending."""
    args_list = list(args)
    if page.ending_before_pk is not None:
        sql = f"{select_sql} WHERE {where} AND pk > ? ORDER BY pk ASC LIMIT ?"
        rows = conn.execute(sql, [*args_list, page.ending_before_pk, page.limit + 1]).fetchall()
        has_more = len(rows) > page.limit
        rows = rows[: page.limit]
        rows.reverse()
        return Page(rows, has_more)
    if page.starting_after_pk is not None:
        where = f"{where} AND pk < ?"
        args_list.append(page.starting_after_pk)
    sql = f"{select_sql} WHERE {where} ORDER BY pk DESC LIMIT ?"
    rows = conn.execute(sql, [*args_list, page.limit + 1]).fetchall()
    return Page(rows[: page.limit], len(rows) > page.limit)
