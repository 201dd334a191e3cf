"""Customers (Stripe's /v1/customers): the parties meter events are mapped to.

A customer created on a test clock (billing.test_clocks) lives on the clock's time for good.
Every change records its event (customer.created, .updated, .deleted) in its transaction.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, replace
from typing import Any

from metered.accounts import Caller
from metered.billing.clock_time import customer_time
from metered.billing.metadata import merge_metadata
from metered.billing.test_clocks import TestClock, get_test_clock
from metered.clock import now_seconds
from metered.errors import InvalidRequestError, NotFoundError
from metered.ids import new_id
from metered.store.pages import PageRequest, fetch_page
from metered.webhooks.events import changed_attributes, record_event

_COLUMNS = (
    "pk, id, account_pk, livemode, email, name, description, metadata, created, deleted,"
    " test_clock_pk, (SELECT c.id FROM test_clocks c WHERE c.pk = customers.test_clock_pk)"
)


@dataclass(frozen=True, slots=True)
class Customer:
    pk: int
    id: str
    account_pk: int
    livemode: bool
    email: str | None
    name: str | None
    description: str | None
    metadata: dict[str, str]
    created: int
    deleted: bool
    test_clock_pk: int | None = None  # the test clock it lives on, None for the wall clock
    test_clock_id: str | None = None

    def to_wire(self, test_clock: dict[str, Any] | None = None) -> dict[str, Any]:
        """`test_clock`: the clock's object, when expanded (else its id is shown)."""
        if self.deleted:
            return {"id": self.id, "object": "customer", "deleted": True}
        return {
            "id": self.id,
            "object": "customer",
            "address": None,
            "balance": 0,
            "created": self.created,
            "currency": None,
            "default_source": None,
            "delinquent": False,
            "description": self.description,
            "discount": None,
            "email": self.email,
            "invoice_prefix": self.id[4:12].upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": self.livemode,
            "metadata": self.metadata,
            "name": self.name,
            "next_invoice_sequence": 1,
            "phone": None,
            "preferred_locales": [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": test_clock if test_clock is not None else self.test_clock_id,
        }


@dataclass(slots=True)
class CustomerChanges:
    email: str | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    test_clock: str | None = None  # a clock id: on create only (a customer never changes clock)
    provided: set[str] = field(default_factory=set)


def _row(row: tuple[Any, ...]) -> Customer:
    return Customer(
        pk=row[0], id=row[1], account_pk=row[2], livemode=bool(row[3]), email=row[4], name=row[5],
        description=row[6], metadata=json.loads(row[7]), created=row[8], deleted=bool(row[9]),
        test_clock_pk=row[10], test_clock_id=row[11],
    )


def create_customer(conn: sqlite3.Connection, caller: Caller, changes: CustomerChanges,
                    *, request_id: str | None = None) -> Customer:
    metadata = {k: v for k, v in (changes.metadata or {}).items() if v != ""}
    clock_pk, created = None, now_seconds()
    if changes.test_clock:  # created at the clock's time, as on Stripe
        clock = get_test_clock(conn, caller, changes.test_clock, param="test_clock")
        clock_pk, created = clock.pk, clock.frozen_time
    cur = conn.execute(
        "INSERT INTO customers (id, account_pk, livemode, email, name, description, metadata,"
        " created, deleted, test_clock_pk) VALUES (?,?,?,?,?,?,?,?,0,?)",
        (new_id("cus"), caller.account_pk, caller.livemode, changes.email or None,
         changes.name or None, changes.description or None, json.dumps(metadata), created,
         clock_pk),
    )
    assert cur.lastrowid is not None
    customer = _by_pk(conn, cur.lastrowid)
    record_event(conn, caller.account_pk, caller.livemode, "customer.created",
                 customer.to_wire(), customer.created, request_id=request_id)
    return customer


def _by_pk(conn: sqlite3.Connection, pk: int) -> Customer:
    row = conn.execute(f"SELECT {_COLUMNS} FROM customers WHERE pk=?", (pk,)).fetchone()
    assert row is not None
    return _row(row)


def find_customer(conn: sqlite3.Connection, caller: Caller, customer_id: str) -> Customer | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM customers WHERE id=? AND account_pk=? AND livemode=?",
        (customer_id, caller.account_pk, caller.livemode),
    ).fetchone()
    return _row(row) if row else None


def get_customer(conn: sqlite3.Connection, caller: Caller, customer_id: str,
                 *, allow_deleted: bool = True) -> Customer:
    customer = find_customer(conn, caller, customer_id)
    if customer is None or (customer.deleted and not allow_deleted):
        raise NotFoundError(f"No such customer: '{customer_id}'")
    return customer


def update_customer(conn: sqlite3.Connection, caller: Caller, customer_id: str,
                    changes: CustomerChanges, *, request_id: str | None = None) -> Customer:
    """customer.updated is recorded if a field changed, as on Stripe."""
    if "test_clock" in changes.provided:
        raise InvalidRequestError(
            "A customer's test_clock can only be set when the customer is created.",
            code="parameter_unknown", param="test_clock",
        )
    customer = get_customer(conn, caller, customer_id, allow_deleted=False)
    metadata = merge_metadata(customer.metadata, changes.metadata,
                              "metadata" in changes.provided)
    values = {
        "email": changes.email if "email" in changes.provided else customer.email,
        "name": changes.name if "name" in changes.provided else customer.name,
        "description": (
            changes.description if "description" in changes.provided else customer.description
        ),
    }
    conn.execute(
        "UPDATE customers SET email=?, name=?, description=?, metadata=? WHERE pk=?",
        (values["email"] or None, values["name"] or None, values["description"] or None,
         json.dumps(metadata), customer.pk),
    )
    updated = _by_pk(conn, customer.pk)
    before, after = customer.to_wire(), updated.to_wire()
    previous = changed_attributes(before, after)
    if previous:
        record_event(conn, caller.account_pk, caller.livemode, "customer.updated", after,
                     customer_time(conn, customer.pk), previous, request_id=request_id)
    return updated


def delete_customer(conn: sqlite3.Connection, caller: Caller, customer_id: str,
                    *, request_id: str | None = None) -> Customer:
    """customer.deleted carries the customer as it was, as on Stripe."""
    customer = get_customer(conn, caller, customer_id, allow_deleted=False)
    record_event(conn, caller.account_pk, caller.livemode, "customer.deleted",
                 customer.to_wire(), customer_time(conn, customer.pk), request_id=request_id)
    conn.execute("UPDATE customers SET deleted=1 WHERE pk=?", (customer.pk,))
    return _by_pk(conn, customer.pk)


def delete_customers_on_clock(conn: sqlite3.Connection, clock: TestClock) -> list[Customer]:
    """Delete every customer attached to a test clock (the clock is being deleted)."""
    where = "account_pk=? AND livemode=? AND test_clock_pk=? AND deleted=0"  # account's index
    args = (clock.account_pk, clock.livemode, clock.pk)
    rows = conn.execute(f"SELECT {_COLUMNS} FROM customers WHERE {where} ORDER BY pk",
                        args).fetchall()
    for row in rows:
        record_event(conn, clock.account_pk, clock.livemode, "customer.deleted",
                     _row(row).to_wire(), clock.frozen_time)
    conn.execute(f"UPDATE customers SET deleted=1 WHERE {where}", args)
    return [replace(_row(row), deleted=True) for row in rows]


def list_customers(conn: sqlite3.Connection, caller: Caller, page: PageRequest,
                   email: str | None = None) -> tuple[list[Customer], bool]:
    where = "account_pk=? AND livemode=? AND deleted=0"
    args: tuple[Any, ...] = (caller.account_pk, caller.livemode)
    if email is not None:
        where += " AND email=?"
        args += (email,)
    result = fetch_page(conn, f"SELECT {_COLUMNS} FROM customers", where, args, page)
    return [_row(r) for r in result.rows], result.has_more


class CustomerDirectory:
    """customer id -> (pk, account, mode, deleted, test clock pk), cached for the ingest path.

    Filled lazily from the database; updated on the event-loop thread after commits. A
    customer's clock is set when it is created and never changes, so an entry only goes stale
    when the customer is deleted.
    """

    def __init__(self, max_entries: int = 1_000_000):
        self._entries: dict[str, tuple[int, int, bool, bool, int | None]] = {}
        self._max = max_entries
        self.generation = 0  # bumped when a customer is deleted (parse workers drop caches)

    def remember(self, customer: Customer) -> None:
        if customer.deleted:
            self.generation += 1
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[customer.id] = (
            customer.pk, customer.account_pk, customer.livemode, customer.deleted,
            customer.test_clock_pk,
        )

    def forget_all(self) -> None:
        """Drop every entry (other processes may have deleted customers): reloaded lazily."""
        self._entries = {}
        self.generation += 1

    def lookup(self, conn: sqlite3.Connection, caller: Caller, customer_id: str) -> int | None:
        """The customer's pk if the ingest fast paths may take its events: it exists, is live,
        belongs to the caller and lives on the wall clock; else None. A customer on a test
        clock is None here, so that its events fall back to validate_event (resolve), which
        checks their timestamps against the clock's time."""
        entry = self._entries.get(customer_id)
        if entry is None:
            entry = self._load(conn, caller, customer_id)
            if entry is None:
                return None
        pk, account_pk, livemode, deleted, clock_pk = entry
        if (deleted or account_pk != caller.account_pk or livemode != caller.livemode
                or clock_pk is not None):
            return None
        return pk

    def resolve(self, conn: sqlite3.Connection, caller: Caller, customer_id: str
                ) -> tuple[int, int | None] | None:
        """(pk, test clock pk or None) if the customer exists, is live and belongs to the
        caller; else None."""
        entry = self._entries.get(customer_id)
        if entry is None:
            entry = self._load(conn, caller, customer_id)
            if entry is None:
                return None
        pk, account_pk, livemode, deleted, clock_pk = entry
        if deleted or account_pk != caller.account_pk or livemode != caller.livemode:
            return None
        return pk, clock_pk

    def _load(self, conn: sqlite3.Connection, caller: Caller, customer_id: str
              ) -> tuple[int, int, bool, bool, int | None] | None:
        customer = find_customer(conn, caller, customer_id)
        if customer is None:
            return None
        self.remember(customer)
        return self._entries[customer_id]
