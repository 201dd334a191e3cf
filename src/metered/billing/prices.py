"""Prices (Stripe's /v1/prices): what a product costs, per unit or in tiers, once or per period.

A metered price rates the usage of one billing meter; natively it may also rate by the meter's
dimensions and bound each period's total. `Price.terms` is what metered.pricing rates with.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, cast

from metered.accounts import Caller
from metered.billing.metadata import merge_metadata
from metered.billing.price_specs import (
    MAX_LOOKUP_KEY,
    MAX_NICKNAME,
    ParamNames,
    PriceSpec,
    PriceTier,
    plain,
    validate_price_spec,
    whole,
)
from metered.billing.products import (
    Product,
    create_product,
    get_product,
)
from metered.clock import now_seconds
from metered.errors import NotFoundError, invalid_param
from metered.ids import new_id
from metered.metering.meters import get_meter
from metered.pricing.models import (
    BillingScheme,
    DimensionalRate,
    PriceTerms,
    RoundMode,
    Tier,
    TiersMode,
    TransformQuantity,
)
from metered.store.pages import PageRequest, fetch_page

__all__ = [
    "Price", "PriceChanges", "PriceFilters", "PriceSpec", "PriceTier", "create_price",
    "get_price", "get_price_by_pk", "list_prices", "update_price",
]

_STORED = (
    "id, account_pk, livemode, product_pk, active, currency, type, billing_scheme,"
    " unit_amount_decimal, tiers_mode, tiers, transform_divide_by, transform_round,"
    " recurring_interval, recurring_interval_count, recurring_usage_type, meter_pk, lookup_key,"
    " nickname, dimensional, minimum_amount, maximum_amount, metadata, created"
)
_COLUMNS = (
    f"pk, {_STORED},"
    " (SELECT products.id FROM products WHERE products.pk = prices.product_pk),"
    " (SELECT meters.id FROM meters WHERE meters.pk = prices.meter_pk)"
)


@dataclass(frozen=True, slots=True)
class Price:
    pk: int
    id: str
    account_pk: int
    livemode: bool
    product_pk: int
    product_id: str
    active: bool
    currency: str
    type: str  # one_time or recurring
    billing_scheme: str  # per_unit or tiered
    unit_amount_decimal: Decimal | None  # per_unit
    tiers_mode: str | None
    tiers: tuple[PriceTier, ...]
    transform_divide_by: int | None
    transform_round: str | None
    recurring_interval: str | None
    recurring_interval_count: int | None
    recurring_usage_type: str | None
    meter_pk: int | None
    meter_id: str | None
    lookup_key: str | None
    nickname: str | None
    dimension_keys: tuple[str, ...]  # the `dimensional` column, with `rates`
    rates: tuple[DimensionalRate, ...]
    minimum_amount: int | None
    maximum_amount: int | None
    metadata: dict[str, str]
    created: int

    @property
    def metered(self) -> bool:
        return self.recurring_usage_type == "metered"

    @property
    def transform_quantity(self) -> TransformQuantity | None:
        if self.transform_divide_by is None:
            return None
        return TransformQuantity(self.transform_divide_by, cast(RoundMode, self.transform_round))

    @property
    def terms(self) -> PriceTerms:
        return PriceTerms(
            billing_scheme=cast(BillingScheme, self.billing_scheme),
            unit_amount=self.unit_amount_decimal,
            tiers=tuple(
                Tier(
                    up_to=None if t.up_to is None else Decimal(t.up_to),
                    unit_amount=t.unit_amount if t.unit_amount is not None else Decimal(0),
                    flat_amount=t.flat_amount if t.flat_amount is not None else Decimal(0),
                )
                for t in self.tiers
            ),
            tiers_mode=cast(TiersMode | None, self.tiers_mode),
            transform_quantity=self.transform_quantity,
            dimension_keys=self.dimension_keys,
            rates=self.rates,
            minimum_amount=self.minimum_amount,
            maximum_amount=self.maximum_amount,
        )

    def to_wire(self, product: Product | None = None) -> dict[str, Any]:
        """`product`: the product's object, when the caller expanded it."""
        recurring = None
        if self.recurring_interval is not None:
            recurring = {
                "aggregate_usage": None,
                "interval": self.recurring_interval,
                "interval_count": self.recurring_interval_count,
                "meter": self.meter_id,
                "trial_period_days": None,
                "usage_type": self.recurring_usage_type,
            }
        transform = self.transform_quantity
        unit = self.unit_amount_decimal
        return {
            "id": self.id,
            "object": "price",
            "active": self.active,
            "billing_scheme": self.billing_scheme,
            "created": self.created,
            "currency": self.currency,
            "custom_unit_amount": None,
            "livemode": self.livemode,
            "lookup_key": self.lookup_key,
            "metadata": self.metadata,
            "nickname": self.nickname,
            "product": product.to_wire() if product is not None else self.product_id,
            "recurring": recurring,
            "tax_behavior": "unspecified",
            "tiers": (
                [t.to_wire() for t in self.tiers] if self.billing_scheme == "tiered" else None
            ),
            "tiers_mode": self.tiers_mode,
            "transform_quantity": (
                None if transform is None
                else {"divide_by": transform.divide_by, "round": transform.round}
            ),
            "type": self.type,
            "unit_amount": whole(unit),
            "unit_amount_decimal": None if unit is None else plain(unit),
            "metered": self._metered_wire(),
        }

    def _metered_wire(self) -> dict[str, Any] | None:
        if not self.dimension_keys and self.minimum_amount is None and self.maximum_amount is None:
            return None
        return {
            "dimension_keys": list(self.dimension_keys),
            "rates": [_rate_to_json(rate) for rate in self.rates],
            "minimum_amount": self.minimum_amount,
            "maximum_amount": self.maximum_amount,
        }


@dataclass(slots=True)
class PriceChanges:
    """An update: only `active`, `metadata`, `nickname` and `lookup_key` can change."""

    active: bool | None = None
    metadata: dict[str, str] | None = None
    nickname: str | None = None  # "" clears it
    lookup_key: str | None = None  # "" clears it
    transfer_lookup_key: bool = False
    provided: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class PriceFilters:
    active: bool | None = None
    currency: str | None = None
    product: str | None = None  # a product id
    type: str | None = None
    lookup_keys: tuple[str, ...] = ()
    interval: str | None = None
    usage_type: str | None = None
    meter: str | None = None  # a meter id


def _rate_to_json(rate: DimensionalRate) -> dict[str, Any]:
    return {"dimensions": dict(rate.dimensions), "unit_amount_decimal": plain(rate.unit_amount)}


def _row(row: tuple[Any, ...]) -> Price:
    dimensional = json.loads(row[20]) if row[20] else {}
    return Price(
        pk=row[0], id=row[1], account_pk=row[2], livemode=bool(row[3]), product_pk=row[4],
        product_id=row[25], active=bool(row[5]), currency=row[6], type=row[7],
        billing_scheme=row[8], unit_amount_decimal=None if row[9] is None else Decimal(row[9]),
        tiers_mode=row[10], tiers=tuple(PriceTier.from_stored(t) for t in json.loads(row[11])),
        transform_divide_by=row[12], transform_round=row[13], recurring_interval=row[14],
        recurring_interval_count=row[15], recurring_usage_type=row[16], meter_pk=row[17],
        meter_id=row[26], lookup_key=row[18], nickname=row[19],
        dimension_keys=tuple(dimensional.get("dimension_keys", ())),
        rates=tuple(
            DimensionalRate(
                dimensions=tuple(sorted(r["dimensions"].items())),
                unit_amount=Decimal(r["unit_amount_decimal"]),
            )
            for r in dimensional.get("rates", ())
        ),
        minimum_amount=row[21], maximum_amount=row[22], metadata=json.loads(row[23]),
        created=row[24],
    )


def get_price_by_pk(conn: sqlite3.Connection, pk: int) -> Price:
    row = conn.execute(f"SELECT {_COLUMNS} FROM prices WHERE pk=?", (pk,)).fetchone()
    assert row is not None
    return _row(row)


def get_price(conn: sqlite3.Connection, caller: Caller, price_id: str,
              *, param: str = "id") -> Price:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM prices WHERE id=? AND account_pk=? AND livemode=?",
        (price_id, caller.account_pk, caller.livemode),
    ).fetchone()
    if row is None:
        raise NotFoundError(f"No such price: '{price_id}'", param=param)
    return _row(row)


def _claim_lookup_key(conn: sqlite3.Connection, caller: Caller, lookup_key: str,
                      transfer: bool, param: str, price_pk: int | None = None) -> None:
    """Makes `lookup_key` free for the price `price_pk` (or a new price): moved from the price
    that has it with `transfer`, else refused."""
    row = conn.execute(
        "SELECT pk, id FROM prices WHERE account_pk=? AND livemode=? AND lookup_key=?",
        (caller.account_pk, caller.livemode, lookup_key),
    ).fetchone()
    if row is None or row[0] == price_pk:
        return
    if not transfer:
        raise invalid_param(
            param,
            f"A price (`{row[1]}`) already uses that lookup key. Pass transfer_lookup_key=true"
            " to move it to this price.",
            code="resource_already_exists",
        )
    conn.execute("UPDATE prices SET lookup_key=NULL WHERE pk=?", (row[0],))


def _meter_pk(conn: sqlite3.Connection, caller: Caller, spec: PriceSpec,
              name: ParamNames) -> int | None:
    """The metered price's meter, which must hold every dimension key the price rates by."""
    if spec.recurring is None or not spec.recurring.meter:
        return None
    try:
        meter = get_meter(conn, caller, spec.recurring.meter)
    except NotFoundError as exc:
        raise NotFoundError(exc.message, param=name("recurring", "meter")) from None
    for key in spec.dimension_keys:
        if key not in meter.dimension_keys:
            raise invalid_param(
                name("metered", "dimension_keys"),
                f"'{key}' is not a dimension of meter '{meter.id}' (its dimension_payload_keys:"
                f" {', '.join(meter.dimension_keys) or 'none'}).",
            )
    return meter.pk


def _dimensional_json(spec: PriceSpec) -> str | None:
    if not spec.dimension_keys:
        return None
    return json.dumps({
        "dimension_keys": list(spec.dimension_keys),
        "rates": [_rate_to_json(rate) for rate in spec.rates],
    })


def create_price(conn: sqlite3.Connection, caller: Caller, spec: PriceSpec,
                 *, param_prefix: str = "") -> Price:
    """`param_prefix` names the spec's params in errors when it is part of another request
    (`default_price_data` of a product)."""
    validate_price_spec(spec, param_prefix)
    name = ParamNames(param_prefix)
    meter_pk = _meter_pk(conn, caller, spec, name)
    if spec.product is not None:
        product_pk = get_product(conn, caller, spec.product, param=name("product")).pk
    else:
        assert spec.product_data is not None
        product_pk = create_product(
            conn, caller, spec.product_data, param_prefix=name("product_data")
        ).pk
    if spec.lookup_key:
        _claim_lookup_key(conn, caller, spec.lookup_key, spec.transfer_lookup_key,
                          name("lookup_key"))
    recurring, transform = spec.recurring, spec.transform_quantity
    metadata = {k: v for k, v in spec.metadata.items() if v != ""}
    cur = conn.execute(
        f"INSERT INTO prices ({_STORED}) VALUES ({','.join('?' * 24)})",
        (new_id("price"), caller.account_pk, caller.livemode, product_pk, spec.active,
         spec.currency, spec.type, spec.billing_scheme,
         None if spec.unit_amount is None else plain(spec.unit_amount), spec.tiers_mode,
         json.dumps([t.to_stored() for t in spec.tiers]),
         None if transform is None else transform.divide_by,
         None if transform is None else transform.round,
         None if recurring is None else recurring.interval,
         None if recurring is None else recurring.interval_count,
         None if recurring is None else recurring.usage_type,
         meter_pk, spec.lookup_key or None, spec.nickname or None, _dimensional_json(spec),
         spec.minimum_amount, spec.maximum_amount, json.dumps(metadata), now_seconds()),
    )
    assert cur.lastrowid is not None
    return get_price_by_pk(conn, cur.lastrowid)


def update_price(conn: sqlite3.Connection, caller: Caller, price_id: str,
                 changes: PriceChanges) -> Price:
    price = get_price(conn, caller, price_id)
    provided = changes.provided
    active = price.active if changes.active is None else changes.active
    if price.active and not active and conn.execute(
        "SELECT 1 FROM products WHERE default_price_pk=?", (price.pk,)
    ).fetchone():
        raise invalid_param(
            "active",
            "This price cannot be archived because it is the default price of its product."
            " Set another default_price on the product first.",
        )
    nickname = (changes.nickname if "nickname" in provided else price.nickname) or None
    if nickname is not None and len(nickname) > MAX_NICKNAME:
        raise invalid_param("nickname", f"nickname can be at most {MAX_NICKNAME} characters.")
    lookup_key = price.lookup_key
    if "lookup_key" in provided:
        lookup_key = changes.lookup_key or None
    if changes.transfer_lookup_key and lookup_key is None:
        raise invalid_param("transfer_lookup_key", "transfer_lookup_key requires a lookup_key.")
    if lookup_key is not None:
        if len(lookup_key) > MAX_LOOKUP_KEY:
            raise invalid_param("lookup_key", f"lookup_key can be at most {MAX_LOOKUP_KEY}"
                                " characters.")
        _claim_lookup_key(conn, caller, lookup_key, changes.transfer_lookup_key, "lookup_key",
                          price_pk=price.pk)
    metadata = merge_metadata(price.metadata, changes.metadata, "metadata" in provided)
    conn.execute(
        "UPDATE prices SET active=?, nickname=?, lookup_key=?, metadata=? WHERE pk=?",
        (active, nickname, lookup_key, json.dumps(metadata), price.pk),
    )
    return get_price_by_pk(conn, price.pk)


def list_prices(conn: sqlite3.Connection, caller: Caller, page: PageRequest,
                filters: PriceFilters | None = None) -> tuple[list[Price], bool]:
    """The caller's prices, newest first; an unknown product or meter id matches none."""
    f = filters or PriceFilters()
    where = "account_pk=? AND livemode=?"
    args: tuple[Any, ...] = (caller.account_pk, caller.livemode)
    scoped = "id=? AND account_pk=prices.account_pk AND livemode=prices.livemode"
    for column, value in (
        ("active", f.active), ("currency", f.currency), ("type", f.type),
        ("recurring_interval", f.interval), ("recurring_usage_type", f.usage_type),
        ("product_pk", f.product), ("meter_pk", f.meter),
    ):
        if value is None:
            continue
        if column == "product_pk":
            where += f" AND product_pk=(SELECT pk FROM products WHERE {scoped})"
        elif column == "meter_pk":
            where += f" AND meter_pk=(SELECT pk FROM meters WHERE {scoped})"
        else:
            where += f" AND {column}=?"
        args += (value,)
    if f.lookup_keys:
        where += f" AND lookup_key IN ({','.join('?' * len(f.lookup_keys))})"
        args += f.lookup_keys
    result = fetch_page(conn, f"SELECT {_COLUMNS} FROM prices", where, args, page)
    return [_row(r) for r in result.rows], result.has_more
