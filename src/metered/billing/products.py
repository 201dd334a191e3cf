"""Products (Stripe's /v1/products): what is sold; its prices say for how much."""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from metered.accounts import Caller
from metered.billing.metadata import merge_metadata
from metered.clock import now_seconds
from metered.errors import InvalidRequestError, NotFoundError, invalid_param
from metered.ids import new_id
from metered.store.pages import PageRequest, fetch_page

if TYPE_CHECKING:
    from metered.billing.price_specs import PriceSpec
    from metered.billing.prices import Price

MAX_NAME = 250
MAX_DESCRIPTION = 5000
MAX_UNIT_LABEL = 12  # as on Stripe
_CUSTOM_ID = re.compile(r"[A-Za-z0-9_\-]{1,200}")

_COLUMNS = (
    "pk, id, account_pk, livemode, name, description, active, unit_label, default_price_pk,"
    " (SELECT prices.id FROM prices WHERE prices.pk = products.default_price_pk),"
    " metadata, created, updated, deleted"
)


@dataclass(frozen=True, slots=True)
class Product:
    pk: int
    id: str
    account_pk: int
    livemode: bool
    name: str
    description: str | None
    active: bool
    unit_label: str | None
    default_price_pk: int | None
    default_price_id: str | None
    metadata: dict[str, str]
    created: int
    updated: int
    deleted: bool

    def to_wire(self, default_price: Price | None = None) -> dict[str, Any]:
        """`default_price`: the default price's object, when the caller expanded it."""
        if self.deleted:
            return {"id": self.id, "object": "product", "deleted": True}
        return {
            "id": self.id,
            "object": "product",
            "active": self.active,
            "created": self.created,
            "default_price": (
                default_price.to_wire() if default_price is not None else self.default_price_id
            ),
            "description": self.description,
            "images": [],
            "livemode": self.livemode,
            "marketing_features": [],
            "metadata": self.metadata,
            "name": self.name,
            "package_dimensions": None,
            "shippable": None,
            "statement_descriptor": None,
            "tax_code": None,
            "type": "service",
            "unit_label": self.unit_label,
            "updated": self.updated,
            "url": None,
        }


@dataclass(frozen=True, slots=True)
class ProductSpec:
    """What a caller asks for when creating a product (`product_data` of a price, too)."""

    name: str
    id: str | None = None  # a custom id; prod_... when None
    description: str | None = None
    active: bool = True
    metadata: dict[str, str] = field(default_factory=dict)
    unit_label: str | None = None
    default_price_data: PriceSpec | None = None  # created with the product, as its default


@dataclass(slots=True)
class ProductChanges:
    """An update: only the fields named in `provided` change ("" clears a text field)."""

    name: str | None = None
    description: str | None = None
    active: bool | None = None
    metadata: dict[str, str] | None = None
    unit_label: str | None = None
    default_price: str | None = None  # a price id of this product; "" clears it
    provided: set[str] = field(default_factory=set)


def _row(row: tuple[Any, ...]) -> Product:
    return Product(
        pk=row[0], id=row[1], account_pk=row[2], livemode=bool(row[3]), name=row[4],
        description=row[5], active=bool(row[6]), unit_label=row[7], default_price_pk=row[8],
        default_price_id=row[9], metadata=json.loads(row[10]), created=row[11], updated=row[12],
        deleted=bool(row[13]),
    )


def _check_text(param: str, value: str | None, max_length: int) -> None:
    if value is not None and len(value) > max_length:
        raise invalid_param(param, f"{param} must be at most {max_length} characters.")


def _check_spec(spec: ProductSpec, prefix: str) -> None:
    def name(key: str) -> str:
        return f"{prefix}[{key}]" if prefix else key

    if not spec.name:
        raise invalid_param(name("name"), f"{name('name')} must not be empty.")
    _check_text(name("name"), spec.name, MAX_NAME)
    _check_text(name("description"), spec.description, MAX_DESCRIPTION)
    _check_text(name("unit_label"), spec.unit_label, MAX_UNIT_LABEL)
    if spec.id is not None and not _CUSTOM_ID.fullmatch(spec.id):
        raise invalid_param(
            name("id"), "A product id must be 1-200 letters, digits, underscores or hyphens."
        )


def create_product(conn: sqlite3.Connection, caller: Caller, spec: ProductSpec,
                   *, param_prefix: str = "") -> Product:
    """Creates the product and, with `default_price_data`, its default price.

    `param_prefix` names the spec's params in errors (`product_data` when a price creates it).
    """
    _check_spec(spec, param_prefix)
    product_id = spec.id or new_id("prod")
    if conn.execute("SELECT 1 FROM products WHERE id=?", (product_id,)).fetchone():
        raise invalid_param(param_prefix + "[id]" if param_prefix else "id",
                            "Product already exists.", code="resource_already_exists")
    now = now_seconds()
    metadata = {k: v for k, v in spec.metadata.items() if v != ""}
    cur = conn.execute(
        "INSERT INTO products (id, account_pk, livemode, name, description, active, unit_label,"
        " default_price_pk, metadata, created, updated, deleted)"
        " VALUES (?,?,?,?,?,?,?,NULL,?,?,?,0)",
        (product_id, caller.account_pk, caller.livemode, spec.name, spec.description or None,
         spec.active, spec.unit_label or None, json.dumps(metadata), now, now),
    )
    assert cur.lastrowid is not None
    if spec.default_price_data is not None:
        # Deferred: prices build on products (a price's product_data creates a product).
        from metered.billing.prices import create_price

        price = create_price(
            conn, caller, replace(spec.default_price_data, product=product_id, product_data=None),
            param_prefix="default_price_data",
        )
        conn.execute("UPDATE products SET default_price_pk=? WHERE pk=?", (price.pk, cur.lastrowid))
    return get_product_by_pk(conn, cur.lastrowid)


def get_product_by_pk(conn: sqlite3.Connection, pk: int) -> Product:
    row = conn.execute(f"SELECT {_COLUMNS} FROM products WHERE pk=?", (pk,)).fetchone()
    assert row is not None
    return _row(row)


def find_product(conn: sqlite3.Connection, caller: Caller, product_id: str) -> Product | None:
    """The caller's product with this id, deleted or not; None if there is none."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM products WHERE id=? AND account_pk=? AND livemode=?",
        (product_id, caller.account_pk, caller.livemode),
    ).fetchone()
    return _row(row) if row else None


def get_product(conn: sqlite3.Connection, caller: Caller, product_id: str,
                *, param: str = "id") -> Product:
    """The caller's live product; a deleted one is no such product, as on Stripe."""
    product = find_product(conn, caller, product_id)
    if product is None or product.deleted:
        raise NotFoundError(f"No such product: '{product_id}'", param=param)
    return product


def _default_price_pk(conn: sqlite3.Connection, caller: Caller, product: Product,
                      price_id: str) -> int | None:
    if price_id == "":
        return None
    row = conn.execute(
        "SELECT pk, product_pk, active FROM prices WHERE id=? AND account_pk=? AND livemode=?",
        (price_id, caller.account_pk, caller.livemode),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No such price: '{price_id}'", param="default_price")
    if row[1] != product.pk:
        raise invalid_param(
            "default_price", f"The price '{price_id}' does not belong to product '{product.id}'."
        )
    if not row[2]:
        raise invalid_param(
            "default_price",
            f"The price '{price_id}' is archived (inactive): only an active price can be the"
            " default price.",
        )
    return int(row[0])


def update_product(conn: sqlite3.Connection, caller: Caller, product_id: str,
                   changes: ProductChanges) -> Product:
    product = get_product(conn, caller, product_id)
    provided = changes.provided

    def pick(key: str, current: Any) -> Any:
        return getattr(changes, key) if key in provided else current

    name = pick("name", product.name)
    if "name" in provided and not name:
        raise invalid_param("name", "name must not be empty.")
    _check_text("name", name, MAX_NAME)
    description = pick("description", product.description) or None
    _check_text("description", description, MAX_DESCRIPTION)
    unit_label = pick("unit_label", product.unit_label) or None
    _check_text("unit_label", unit_label, MAX_UNIT_LABEL)
    active = pick("active", None)
    if active is None:
        active = product.active
    default_price_pk = product.default_price_pk
    if "default_price" in provided and changes.default_price is not None:
        default_price_pk = _default_price_pk(conn, caller, product, changes.default_price)
    conn.execute(
        "UPDATE products SET name=?, description=?, active=?, unit_label=?, default_price_pk=?,"
        " metadata=?, updated=? WHERE pk=?",
        (name, description, active, unit_label, default_price_pk,
         json.dumps(merge_metadata(product.metadata, changes.metadata,
                                   "metadata" in provided)), now_seconds(), product.pk),
    )
    return get_product_by_pk(conn, product.pk)


def delete_product(conn: sqlite3.Connection, caller: Caller, product_id: str) -> Product:
    """Deletes a product without prices; one with prices can only be archived, as on Stripe."""
    product = get_product(conn, caller, product_id)
    if conn.execute("SELECT 1 FROM prices WHERE product_pk=? LIMIT 1", (product.pk,)).fetchone():
        raise InvalidRequestError(
            "This product cannot be deleted because it has one or more prices. Archive it"
            " instead (active=false).",
            code="resource_in_use", param="id",
        )
    conn.execute(
        "UPDATE products SET deleted=1, active=0, updated=? WHERE pk=?",
        (now_seconds(), product.pk),
    )
    return get_product_by_pk(conn, product.pk)


def list_products(conn: sqlite3.Connection, caller: Caller, page: PageRequest,
                  *, active: bool | None = None, ids: tuple[str, ...] = ()
                  ) -> tuple[list[Product], bool]:
    where = "account_pk=? AND livemode=? AND deleted=0"
    args: tuple[Any, ...] = (caller.account_pk, caller.livemode)
    if active is not None:
        where += " AND active=?"
        args += (active,)
    if ids:
        where += f" AND id IN ({','.join('?' * len(ids))})"
        args += ids
    result = fetch_page(conn, f"SELECT {_COLUMNS} FROM products", where, args, page)
    return [_row(r) for r in result.rows], result.has_more
