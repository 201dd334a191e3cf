"""Stripe's list envelope and cursor parameters (limit, starting_after, ending_before)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from metered.accounts import Caller
from metered.api import limits
from metered.api.params import Params
from metered.errors import InvalidRequestError, NotFoundError
from metered.store.pages import PageRequest


def page_limit(params: Params) -> int:
    """`limit`: 1 to 100 objects a page, 10 when absent (as on Stripe)."""
    limit = params.int("limit", minimum=limits.MIN_PAGE_LIMIT, maximum=limits.MAX_PAGE_LIMIT)
    return limit or limits.DEFAULT_PAGE_LIMIT


def page_request(params: Params, conn: sqlite3.Connection, table: str,
                 caller: Caller | None = None) -> PageRequest:
    """`caller` scopes the cursors: another account's or mode's id is no such object."""
    limit = page_limit(params)
    after = params.str("starting_after")
    before = params.str("ending_before")
    if after and before:
        raise InvalidRequestError(
            "You may only specify one of these parameters: starting_after, ending_before.",
            param="ending_before",
        )
    return PageRequest(
        limit=limit,
        starting_after_pk=_cursor_pk(conn, table, after, "starting_after", caller),
        ending_before_pk=_cursor_pk(conn, table, before, "ending_before", caller),
    )


def _cursor_pk(conn: sqlite3.Connection, table: str, object_id: str | None, param: str,
               caller: Caller | None) -> int | None:
    if not object_id:
        return None
    if caller is None:
        row = conn.execute(f"SELECT pk FROM {table} WHERE id=?", (object_id,)).fetchone()
    else:
        row = conn.execute(
            f"SELECT pk FROM {table} WHERE id=? AND account_pk=? AND livemode=?",
            (object_id, caller.account_pk, caller.livemode),
        ).fetchone()
    if row is None:
        raise NotFoundError(f"No such object: '{object_id}'", param=param)
    return int(row[0])


def list_envelope(url: str, data: Sequence[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {"object": "list", "data": list(data), "has_more": has_more, "url": url}


def page_of(params: Params, data: Sequence[dict[str, Any]], param_prefix: str = ""
            ) -> tuple[list[dict[str, Any]], bool]:
    """A page of a short list held in memory (a subscription's items, an invoice's lines), in
    the list's order: `limit`, and `starting_after` / `ending_before` by object id."""
    limit = page_limit(params)
    after = params.str("starting_after")
    before = params.str("ending_before")
    if after and before:
        raise InvalidRequestError(
            "You may only specify one of these parameters: starting_after, ending_before.",
            param="ending_before",
        )
    ids = [item.get("id") for item in data]
    if after or before:
        cursor = after or before
        if cursor not in ids:
            raise NotFoundError(f"No such object: '{cursor}'",
                                param="starting_after" if after else "ending_before")
        at = ids.index(cursor)
        if after:
            rest = list(data[at + 1:])
            return rest[:limit], len(rest) > limit
        head = list(data[:at])
        return head[-limit:], len(head) > limit
    return list(data[:limit]), len(data) > limit
