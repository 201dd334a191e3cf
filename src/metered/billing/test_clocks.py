"""Test clocks (Stripe's /v1/test_helpers/test_clocks): a frozen time that the customers
attached to a clock, their events and their billing live on instead of the wall clock.

A clock exists in test mode only. Its customers are attached when created
(customers.create_customer) and never leave it; deleting the clock deletes them, as Stripe
deletes every object attached to a clock. Advancing a clock (set_clock_state) is the billing
scheduler's business: it runs the billing cycles between the old and the new time.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from metered.accounts import Caller
from metered.clock import now_seconds
from metered.errors import InvalidRequestError, NotFoundError, invalid_param
from metered.ids import new_id
from metered.store.pages import PageRequest, fetch_page

if TYPE_CHECKING:
    from metered.billing.customers import Customer

DELETES_AFTER_SECONDS = 30 * 86_400
MIN_FROZEN_TIME = 946_684_800  # 2000-01-01T00:00:00Z
MAX_FROZEN_TIME = 4_133_980_799  # 2100-12-31T23:59:59Z
MAX_NAME = 300

Status = Literal["ready", "advancing"]
STATUSES = ("ready", "advancing")

_COLUMNS = (
    "pk, id, account_pk, livemode, name, frozen_time, status, created, deletes_after, deleted"
)


@dataclass(frozen=True, slots=True)
class TestClock:
    __test__ = False  # not a pytest test class, whatever its name

    pk: int
    id: str
    account_pk: int
    livemode: bool
    name: str | None
    frozen_time: int
    status: str
    created: int
    deletes_after: int
    deleted: bool

    def to_wire(self) -> dict[str, Any]:
        if self.deleted:
            return {"id": self.id, "object": "test_helpers.test_clock", "deleted": True}
        return {
            "id": self.id,
            "object": "test_helpers.test_clock",
            "created": self.created,
            "deletes_after": self.deletes_after,
            "frozen_time": self.frozen_time,
            "livemode": self.livemode,
            "name": self.name,
            "status": self.status,
            "status_details": {},
        }


def _row(row: tuple[Any, ...]) -> TestClock:
    return TestClock(
        pk=row[0], id=row[1], account_pk=row[2], livemode=bool(row[3]), name=row[4],
        frozen_time=row[5], status=row[6], created=row[7], deletes_after=row[8],
        deleted=bool(row[9]),
    )


def iso_time(seconds: int) -> str:
    """A clock time for messages: 2025-01-31T00:00:00Z."""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_frozen_time(frozen_time: int, param: str = "frozen_time") -> None:
    """A clock's time is any second of the years 2000 to 2100."""
    if not MIN_FROZEN_TIME <= frozen_time <= MAX_FROZEN_TIME:
        raise invalid_param(
            param, f"{param} must be a time from the year 2000 to the year 2100, in seconds"
            f" since the Unix epoch ({MIN_FROZEN_TIME} to {MAX_FROZEN_TIME}); got {frozen_time}.",
        )


def create_test_clock(conn: sqlite3.Connection, caller: Caller, frozen_time: int,
                      name: str | None) -> TestClock:
    if caller.livemode:
        raise InvalidRequestError(
            "Test clocks exist in test mode only: use a test mode key (sk_test_...)."
        )
    check_frozen_time(frozen_time)
    if name is not None and len(name) > MAX_NAME:
        raise invalid_param("name", f"name must be at most {MAX_NAME} characters.")
    created = now_seconds()
    cur = conn.execute(
        "INSERT INTO test_clocks (id, account_pk, livemode, name, frozen_time, status, created,"
        " deletes_after, deleted) VALUES (?,?,?,?,?,'ready',?,?,0)",
        (new_id("clock"), caller.account_pk, caller.livemode, name or None, frozen_time,
         created, created + DELETES_AFTER_SECONDS),
    )
    assert cur.lastrowid is not None
    return get_test_clock_by_pk(conn, cur.lastrowid)


def get_test_clock_by_pk(conn: sqlite3.Connection, pk: int) -> TestClock:
    """The clock with this pk, deleted or not (a pk comes from a row that refers to it)."""
    row = conn.execute(f"SELECT {_COLUMNS} FROM test_clocks WHERE pk=?", (pk,)).fetchone()
    if row is None:
        raise NotFoundError(f"No such test_clock: pk {pk}")
    return _row(row)


def get_test_clock(conn: sqlite3.Connection, caller: Caller, clock_id: str,
                   *, param: str | None = "id") -> TestClock:
    """The caller's live clock with this id; a deleted clock, or another account's or mode's,
    is no such clock. `param` names the parameter in the error."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM test_clocks WHERE id=? AND account_pk=? AND livemode=?"
        " AND deleted=0",
        (clock_id, caller.account_pk, caller.livemode),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No such test_clock: '{clock_id}'", param=param)
    return _row(row)


def list_test_clocks(conn: sqlite3.Connection, caller: Caller, page: PageRequest
                     ) -> tuple[list[TestClock], bool]:
    result = fetch_page(conn, f"SELECT {_COLUMNS} FROM test_clocks",
                        "account_pk=? AND livemode=? AND deleted=0",
                        (caller.account_pk, caller.livemode), page)
    return [_row(r) for r in result.rows], result.has_more


def delete_test_clock(conn: sqlite3.Connection, caller: Caller, clock_id: str
                      ) -> tuple[TestClock, list[Customer]]:
    """Delete the clock and every customer attached to it, as Stripe does. Returns the deleted
    clock and customers: the caller tells the ingest path's CustomerDirectory about them."""
    from metered.billing.customers import delete_customers_on_clock  # noqa: PLC0415 - a cycle

    clock = get_test_clock(conn, caller, clock_id)
    conn.execute("UPDATE test_clocks SET deleted=1 WHERE pk=?", (clock.pk,))
    customers = delete_customers_on_clock(conn, clock)
    return get_test_clock_by_pk(conn, clock.pk), customers


def set_clock_state(conn: sqlite3.Connection, clock_pk: int, frozen_time: int,
                    status: Status) -> TestClock:
    """Move the clock to `frozen_time` with `status` (ready, or advancing while the billing
    cycles up to that time run). Any checks of the new time are the caller's."""
    if status not in STATUSES:
        raise ValueError(f"unknown test clock status {status!r}")
    conn.execute("UPDATE test_clocks SET frozen_time=?, status=? WHERE pk=?",
                 (frozen_time, status, clock_pk))
    return get_test_clock_by_pk(conn, clock_pk)


def clock_time(conn: sqlite3.Connection, clock_pk: int) -> int:
    """The clock's frozen_time: "now" for the objects attached to it."""
    row = conn.execute("SELECT frozen_time FROM test_clocks WHERE pk=?", (clock_pk,)).fetchone()
    if row is None:
        raise NotFoundError(f"No such test_clock: pk {clock_pk}")
    return int(row[0])
