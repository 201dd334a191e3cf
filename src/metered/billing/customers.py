"""Customers (Stripe's /v1/customers): the parties meter events are mapped to."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from metered.accounts import Caller
from metered.clock import now_seconds
from metered.errors import NotFoundError
from metered.ids import new_id
from metered.store.pages import PageRequest, fetch_page

_COLUMNS = "pk, id, account_pk, livemode, email, name, description, metadata, created, deleted"


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

    def to_wire(self) -> dict[str, Any]:
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
            "test_clock": None,
        }


@dataclass(slots=True)
class CustomerChanges:
    email: str | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] | None = None
    provided: set[str] = field(default_factory=set)


def _row(row: tuple[Any, ...]) -> Customer:
    return Customer(
        pk=row[0], id=row[1], account_pk=row[2], livemode=bool(row[3]), email=row[4], name=row[5],
        description=row[6], metadata=json.loads(row[7]), created=row[8], deleted=bool(row[9]),
    )


def create_customer(conn: sqlite3.Connection, caller: Caller, changes: CustomerChanges
                    ) -> Customer:
    metadata = {k: v for k, v in (changes.metadata or {}).items() if v != ""}
    cur = conn.execute(
        "INSERT INTO customers (id, account_pk, livemode, email, name, description, metadata,"
        " created, deleted) VALUES (?,?,?,?,?,?,?,?,0)",
        (new_id("cus"), caller.account_pk, caller.livemode, changes.email or None,
         changes.name or None, changes.description or None, json.dumps(metadata), now_seconds()),
    )
    assert cur.lastrowid is not None
    return _by_pk(conn, cur.lastrowid)


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
                    changes: CustomerChanges) -> Customer:
    customer = get_customer(conn, caller, customer_id, allow_deleted=False)
    metadata = dict(customer.metadata)
    if changes.metadata is not None:
        if not changes.metadata and "metadata" in changes.provided:
            metadata = {}
        for key, value in changes.metadata.items():
            if value == "":
                metadata.pop(key, None)
            else:
                metadata[key] = value
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
    return _by_pk(conn, customer.pk)


def delete_customer(conn: sqlite3.Connection, caller: Caller, customer_id: str) -> Customer:
    customer = get_customer(conn, caller, customer_id, allow_deleted=False)
    conn.execute("UPDATE customers SET deleted=1 WHERE pk=?", (customer.pk,))
    return _by_pk(conn, customer.pk)


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
    """customer id -> (pk, account, mode, deleted), cached for the ingest path.

    Filled lazily from the database; updated on the event-loop thread after commits.
    """

    def __init__(self, max_entries: int = 1_000_000):
        self._entries: dict[str, tuple[int, int, bool, bool]] = {}
        self._max = max_entries
        self.generation = 0  # bumped when a customer is deleted (parse workers drop caches)

    def remember(self, customer: Customer) -> None:
        if customer.deleted:
            self.generation += 1
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[customer.id] = (
            customer.pk, customer.account_pk, customer.livemode, customer.deleted
        )

    def lookup(self, conn: sqlite3.Connection, caller: Caller, customer_id: str) -> int | None:
        """The customer's pk if it exists, is live and belongs to the caller; else None."""
        entry = self._entries.get(customer_id)
        if entry is None:
            customer = find_customer(conn, caller, customer_id)
            if customer is None:
                return None
            self.remember(customer)
            entry = self._entries[customer_id]
        pk, account_pk, livemode, deleted = entry
        if deleted or account_pk != caller.account_pk or livemode != caller.livemode:
            return None
        return pk
