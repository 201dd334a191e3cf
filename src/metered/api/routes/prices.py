"""/v1/prices: create, retrieve, update, list; `expand[]=product`.

`price_spec` reads a price's create params into a PriceSpec (also the products route's
`default_price_data`, through `default_price_spec`): the shapes and types of every field, with
the offending param named; the rules between fields are billing.price_specs'.
"""

from __future__ import annotations

import re
import sqlite3
from decimal import Decimal
from typing import TYPE_CHECKING, Any, cast

from metered.api.expand import check_expand
from metered.api.http import Request, Response
from metered.api.pagination import list_envelope, page_request
from metered.api.params import Params
from metered.billing import prices as domain
from metered.billing.price_specs import (
    BILLING_SCHEMES,
    INTERVALS,
    MAX_AMOUNT,
    MAX_DIMENSION_KEYS,
    MAX_DIMENSION_VALUE,
    MAX_INTERVAL_COUNT,
    MAX_LOOKUP_KEY,
    MAX_NICKNAME,
    MAX_QUANTITY,
    MAX_RATES,
    MAX_TIERS,
    ROUND_MODES,
    TIERS_MODES,
    USAGE_TYPES,
    PriceSpec,
    PriceTier,
    RecurringSpec,
    parse_amount_decimal,
)
from metered.billing.products import (
    MAX_NAME,
    MAX_UNIT_LABEL,
    Product,
    ProductSpec,
    get_product_by_pk,
)
from metered.errors import invalid_param, missing_param
from metered.pricing.models import DimensionalRate, RoundMode, TransformQuantity

if TYPE_CHECKING:
    from metered.api.app import App

CREATE_PARAMS = (
    "currency", "product", "product_data", "unit_amount", "unit_amount_decimal",
    "billing_scheme", "tiers_mode", "tiers", "transform_quantity", "recurring", "lookup_key",
    "transfer_lookup_key", "nickname", "metadata", "active", "metered",
)
UPDATE_PARAMS = ("active", "metadata", "nickname", "lookup_key", "transfer_lookup_key")
LIST_PARAMS = ("limit", "starting_after", "ending_before", "active", "currency", "product",
               "type", "lookup_keys", "recurring")
_INDEX = re.compile(r"[0-9]{1,6}")


def object_list(params: Params, key: str, max_items: int) -> list[Params]:
    """An array of objects: a list, or an object keyed "0", "1", ... (in index order)."""
    raw, name = params.raw(key), params.name(key)
    if raw is None or raw == "":
        return []
    if isinstance(raw, dict):
        if not all(_INDEX.fullmatch(k) for k in raw):
            raise invalid_param(name, f"Invalid array: {name}.")
        raw = [raw[k] for k in sorted(raw, key=int)]
    if not isinstance(raw, list):
        raise invalid_param(name, f"Invalid array: {name}.")
    if len(raw) > max_items:
        raise invalid_param(name, f"{name} can have at most {max_items} items.")
    items = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict):
            raise invalid_param(f"{name}[{i}]", f"Invalid object: {name}[{i}].")
        items.append(Params(item, f"{name}[{i}]"))
    return items


def amount(params: Params, key: str) -> Decimal | None:
    """`key` (whole minor units) or `key_decimal` (a decimal string): at most one of them."""
    decimal_key = f"{key}_decimal"
    whole_given = params.raw(key) not in (None, "")
    decimal_given = params.raw(decimal_key) not in (None, "")
    if whole_given and decimal_given:
        raise invalid_param(
            params.name(decimal_key),
            f"You may only specify one of these parameters: {params.name(key)},"
            f" {params.name(decimal_key)}.",
        )
    if whole_given:
        return Decimal(cast(int, params.int(key, minimum=0, maximum=MAX_AMOUNT)))
    if decimal_given:
        return parse_amount_decimal(params.raw(decimal_key), params.name(decimal_key))
    return None


def _refuse_custom_unit_amount(params: Params) -> None:
    if "custom_unit_amount" in params:
        raise invalid_param(
            params.name("custom_unit_amount"),
            "custom_unit_amount (customer-chosen amounts) is not supported: set unit_amount or"
            " unit_amount_decimal.",
        )


def _tiers(params: Params) -> tuple[PriceTier, ...]:
    tiers = []
    for tier in object_list(params, "tiers", MAX_TIERS):
        tier.reject_unknown(("up_to", "unit_amount", "unit_amount_decimal", "flat_amount",
                             "flat_amount_decimal"))
        up_to = None if tier.raw("up_to") == "inf" else tier.int(
            "up_to", required=True, minimum=1, maximum=MAX_QUANTITY
        )
        tiers.append(PriceTier(up_to, amount(tier, "unit_amount"), amount(tier, "flat_amount")))
    return tuple(tiers)


def _transform_quantity(params: Params) -> TransformQuantity | None:
    transform = params.dict("transform_quantity")
    if transform is None:
        return None
    transform.reject_unknown(("divide_by", "round"))
    return TransformQuantity(
        divide_by=cast(int, transform.int("divide_by", required=True, minimum=1,
                                          maximum=MAX_QUANTITY)),
        round=cast(RoundMode, transform.req_str("round", choices=ROUND_MODES)),
    )


def _recurring(params: Params, keys: tuple[str, ...]) -> RecurringSpec | None:
    recurring = params.dict("recurring")
    if recurring is None:
        return None
    recurring.reject_unknown(keys)
    interval = recurring.req_str("interval", choices=INTERVALS)
    return RecurringSpec(
        interval=interval,
        interval_count=recurring.int("interval_count", minimum=1,
                                     maximum=MAX_INTERVAL_COUNT[interval]) or 1,
        usage_type=recurring.str("usage_type", choices=USAGE_TYPES) or "licensed",
        meter=recurring.str("meter", max_length=255) or None,
    )


def _product_data(params: Params) -> ProductSpec | None:
    data = params.dict("product_data")
    if data is None:
        return None
    data.reject_unknown(("id", "name", "active", "metadata", "unit_label"))
    active = data.bool("active")
    return ProductSpec(
        name=data.req_str("name", max_length=MAX_NAME),
        id=data.str("id", max_length=200) or None,
        active=True if active is None else active,
        metadata=data.metadata() or {},
        unit_label=data.str("unit_label", max_length=MAX_UNIT_LABEL) or None,
    )


def _rates(params: Params) -> tuple[DimensionalRate, ...]:
    rates = []
    for rate in object_list(params, "rates", MAX_RATES):
        rate.reject_unknown(("dimensions", "unit_amount_decimal"))
        dimensions = rate.dict("dimensions", required=True)
        assert dimensions is not None
        values = {key: dimensions.req_str(key, max_length=MAX_DIMENSION_VALUE)
                  for key in dimensions.data}
        raw = rate.raw("unit_amount_decimal")
        if raw is None or raw == "":
            raise missing_param(rate.name("unit_amount_decimal"))
        rates.append(DimensionalRate(
            dimensions=tuple(sorted(values.items())),
            unit_amount=parse_amount_decimal(raw, rate.name("unit_amount_decimal")),
        ))
    return tuple(rates)


def _native(params: Params) -> dict[str, Any]:
    """metered[...]: PriceSpec's native fields, by name."""
    native = params.dict("metered")
    if native is None:
        return {}
    native.reject_unknown(("dimension_keys", "rates", "minimum_amount", "maximum_amount"))
    return {
        "dimension_keys": tuple(native.str_list("dimension_keys", max_items=MAX_DIMENSION_KEYS)),
        "rates": _rates(native),
        "minimum_amount": native.int("minimum_amount", minimum=0, maximum=MAX_AMOUNT),
        "maximum_amount": native.int("maximum_amount", minimum=0, maximum=MAX_AMOUNT),
    }


def price_spec(params: Params) -> PriceSpec:
    """POST /v1/prices's params (or another request's `price_data`, prefixed)."""
    _refuse_custom_unit_amount(params)
    params.reject_unknown(CREATE_PARAMS)
    active = params.bool("active")
    return PriceSpec(
        currency=params.req_str("currency", max_length=3).lower(),
        product=params.str("product", max_length=255) or None,
        product_data=_product_data(params),
        billing_scheme=params.str("billing_scheme", choices=BILLING_SCHEMES) or "per_unit",
        unit_amount=amount(params, "unit_amount"),
        tiers_mode=params.str("tiers_mode", choices=TIERS_MODES) or None,
        tiers=_tiers(params),
        transform_quantity=_transform_quantity(params),
        recurring=_recurring(params, ("interval", "interval_count", "usage_type", "meter")),
        lookup_key=params.str("lookup_key", max_length=MAX_LOOKUP_KEY) or None,
        transfer_lookup_key=bool(params.bool("transfer_lookup_key")),
        nickname=params.str("nickname", max_length=MAX_NICKNAME) or None,
        metadata=params.metadata() or {},
        active=True if active is None else active,
        **_native(params),
    )


def default_price_spec(params: Params) -> PriceSpec:
    """A product's `default_price_data`: a licensed or one-time price of the new product."""
    _refuse_custom_unit_amount(params)
    params.reject_unknown(("currency", "unit_amount", "unit_amount_decimal", "recurring",
                           "metadata"))
    return PriceSpec(
        currency=params.req_str("currency", max_length=3).lower(),
        unit_amount=amount(params, "unit_amount"),
        recurring=_recurring(params, ("interval", "interval_count")),
        metadata=params.metadata() or {},
    )


def _changes(params: Params) -> domain.PriceChanges:
    params.reject_unknown(UPDATE_PARAMS)
    return domain.PriceChanges(
        active=params.bool("active"),
        metadata=params.metadata(),
        nickname=params.str("nickname", max_length=MAX_NICKNAME),
        lookup_key=params.str("lookup_key", max_length=MAX_LOOKUP_KEY),
        transfer_lookup_key=bool(params.bool("transfer_lookup_key")),
        provided={k for k in UPDATE_PARAMS if k in params},
    )


def _filters(params: Params) -> domain.PriceFilters:
    params.reject_unknown(LIST_PARAMS)
    recurring = params.dict("recurring") or Params({}, "recurring")
    recurring.reject_unknown(("interval", "usage_type", "meter"))
    currency = params.str("currency", max_length=3)
    return domain.PriceFilters(
        active=params.bool("active"),
        currency=currency.lower() if currency else None,
        product=params.str("product", max_length=255) or None,
        type=params.str("type", choices=("one_time", "recurring")),
        lookup_keys=tuple(params.str_list("lookup_keys", max_items=10)),
        interval=recurring.str("interval", choices=INTERVALS),
        usage_type=recurring.str("usage_type", choices=USAGE_TYPES),
        meter=recurring.str("meter", max_length=255) or None,
    )


Expanded = tuple[domain.Price, Product | None]


def expanded(conn: sqlite3.Connection, price: domain.Price, product: bool) -> Expanded:
    """The price with its product's object when `expand[]=product` asked for it."""
    return price, get_product_by_pk(conn, price.product_pk) if product else None


def register(app: App) -> None:
    def render(result: Expanded) -> Response:
        price, product = result
        return Response.json(price.to_wire(product))

    def expands_product(params: Params, *, is_list: bool = False) -> bool:
        check_expand(params, "price", is_list=is_list)
        return ("data.product" if is_list else "product") in params.str_list("expand")

    async def create(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        product = expands_product(params)
        spec = price_spec(params)
        _, response = await app.write(
            request, lambda conn: expanded(conn, domain.create_price(conn, caller, spec), product),
            render,
        )
        return response

    async def retrieve(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(())
        product = expands_product(params)
        conn = app.engine.reader()
        price = domain.get_price(conn, request.require_caller, request.path_params["id"])
        return render(expanded(conn, price, product))

    async def update(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        product = expands_product(params)
        changes = _changes(params)
        price_id = request.path_params["id"]
        _, response = await app.write(
            request,
            lambda conn: expanded(conn, domain.update_price(conn, caller, price_id, changes),
                                  product),
            render,
        )
        return response

    async def list_(request: Request) -> Response:
        params = request.params()
        product = expands_product(params, is_list=True)
        filters = _filters(params)
        conn = app.engine.reader()
        page = page_request(params, conn, "prices", request.require_caller)
        prices, has_more = domain.list_prices(conn, request.require_caller, page, filters)
        data = [p.to_wire(expanded(conn, p, product)[1]) for p in prices]
        return Response.json(list_envelope("/v1/prices", data, has_more))

    app.router.add("POST", "/v1/prices", create)
    app.router.add("GET", "/v1/prices", list_)
    app.router.add("GET", "/v1/prices/{id}", retrieve)
    app.router.add("POST", "/v1/prices/{id}", update)
