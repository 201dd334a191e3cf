"""What a caller asks for when creating a price, and the checks of it that need no database.

Amounts are Decimal in the currency's minor unit with at most 12 decimal places, written on the
wire and in the store in plain notation ("0.0025", "1000"). Errors name Stripe's params, under
`prefix` when the price is created inside another object (`default_price_data[...]`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from metered.billing.products import ProductSpec
from metered.errors import InvalidRequestError, invalid_param, missing_param
from metered.pricing.models import DimensionalRate, TransformQuantity

MAX_DECIMAL_PLACES = 12
MAX_AMOUNT = 10**12  # minor units; anything larger is a mistake
MAX_QUANTITY = 10**15  # a tier's up_to, a package's divide_by
MAX_TIERS = 250
MAX_RATES = 1000
MAX_DIMENSION_KEYS = 8  # as meters (metering.meters.MAX_DIMENSIONS)
MAX_DIMENSION_VALUE = 200  # as meter events
MAX_LOOKUP_KEY = 200
MAX_NICKNAME = 5000
BILLING_SCHEMES = ("per_unit", "tiered")
TIERS_MODES = ("graduated", "volume")
ROUND_MODES = ("up", "down")
USAGE_TYPES = ("licensed", "metered")
# Stripe's longest billing period is three years (36 months, 156 weeks).
MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}
INTERVALS = tuple(MAX_INTERVAL_COUNT)
_CURRENCY = re.compile(r"[a-z]{3}")
_DECIMAL = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


def plain(amount: Decimal) -> str:
    """An amount as Stripe writes `*_decimal` fields: plain digits, never an exponent."""
    return format(amount, "f")


def whole(amount: Decimal | None) -> int | None:
    """The amount as an integer, or None when it has a fraction (Stripe's `unit_amount`)."""
    if amount is None or amount != amount.to_integral_value():
        return None
    return int(amount)


def parse_amount_decimal(value: Any, param: str) -> Decimal:
    """A `*_decimal` param: a non-negative decimal string in plain notation (or an integer)."""
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    elif isinstance(value, str):
        text = value
    else:
        raise invalid_param(param, f"Invalid decimal: {param} must be a decimal string.")
    match = _DECIMAL.fullmatch(text) if len(text) <= 64 else None
    if match is None:
        raise invalid_param(
            param,
            f"Invalid decimal: {text[:64]!r}. {param} must be a non-negative decimal in plain"
            " notation, such as 1000 or 0.0025.",
        )
    digits, fraction = match.group(1), (match.group(2) or "").rstrip("0")
    amount = Decimal(f"{digits}.{fraction}" if fraction else digits)
    check_amount(amount, param)
    return amount


def check_amount(amount: Decimal, param: str) -> None:
    if not amount.is_finite() or amount.is_signed():
        raise invalid_param(param, f"{param} must be a non-negative amount.")
    if amount > MAX_AMOUNT:
        raise invalid_param(param, f"{param} must be at most {MAX_AMOUNT}.")
    exponent = amount.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MAX_DECIMAL_PLACES:
        raise invalid_param(
            param, f"{param} can have at most {MAX_DECIMAL_PLACES} decimal places."
        )


@dataclass(frozen=True, slots=True)
class PriceTier:
    """A tier as given: amounts None where the caller set none (Stripe answers null there)."""

    up_to: int | None  # None: "inf", the last tier
    unit_amount: Decimal | None = None
    flat_amount: Decimal | None = None

    def to_wire(self) -> dict[str, Any]:
        return {
            "flat_amount": whole(self.flat_amount),
            "flat_amount_decimal": None if self.flat_amount is None else plain(self.flat_amount),
            "unit_amount": whole(self.unit_amount),
            "unit_amount_decimal": None if self.unit_amount is None else plain(self.unit_amount),
            "up_to": self.up_to,
        }

    def to_stored(self) -> dict[str, Any]:
        return {
            "up_to": self.up_to,
            "unit_amount_decimal": None if self.unit_amount is None else plain(self.unit_amount),
            "flat_amount_decimal": None if self.flat_amount is None else plain(self.flat_amount),
        }

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> PriceTier:
        unit, flat = data.get("unit_amount_decimal"), data.get("flat_amount_decimal")
        return cls(
            up_to=data.get("up_to"),
            unit_amount=None if unit is None else Decimal(unit),
            flat_amount=None if flat is None else Decimal(flat),
        )


@dataclass(frozen=True, slots=True)
class RecurringSpec:
    interval: str
    interval_count: int = 1
    usage_type: str = "licensed"
    meter: str | None = None  # a meter id (mtr_...); required iff usage_type is metered


@dataclass(frozen=True, slots=True)
class PriceSpec:
    """A price to create. Exactly one of `product` (an id) and `product_data`."""

    currency: str
    product: str | None = None
    product_data: ProductSpec | None = None
    billing_scheme: str = "per_unit"
    unit_amount: Decimal | None = None  # per_unit: from unit_amount or unit_amount_decimal
    tiers_mode: str | None = None
    tiers: tuple[PriceTier, ...] = ()
    transform_quantity: TransformQuantity | None = None
    recurring: RecurringSpec | None = None
    lookup_key: str | None = None
    transfer_lookup_key: bool = False
    nickname: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    active: bool = True
    # Native (metered[...]): dimensional rates and per-period bounds of metered prices.
    dimension_keys: tuple[str, ...] = ()
    rates: tuple[DimensionalRate, ...] = ()
    minimum_amount: int | None = None
    maximum_amount: int | None = None

    @property
    def type(self) -> str:
        return "one_time" if self.recurring is None else "recurring"

    @property
    def metered(self) -> bool:
        return self.recurring is not None and self.recurring.usage_type == "metered"


class ParamNames:
    """Stripe's bracket names under a prefix: names("tiers", 1, "up_to") -> tiers[1][up_to]."""

    def __init__(self, prefix: str = ""):
        self.prefix = prefix

    def __call__(self, *parts: str | int) -> str:
        head = self.prefix or str(parts[0])
        rest = parts if self.prefix else parts[1:]
        return head + "".join(f"[{part}]" for part in rest)


def validate_price_spec(spec: PriceSpec, prefix: str = "") -> None:
    """Every rule that needs no database (the product and meter are checked by create_price)."""
    name = ParamNames(prefix)
    if not _CURRENCY.fullmatch(spec.currency):
        raise invalid_param(name("currency"), "currency must be a three-letter ISO currency code.")
    if spec.product is not None and spec.product_data is not None:
        raise invalid_param(name("product_data"), "You may only specify one of these parameters:"
                            " product, product_data.")
    if spec.product is None and spec.product_data is None:
        raise missing_param(name("product"))
    if spec.billing_scheme not in BILLING_SCHEMES:
        raise invalid_param(name("billing_scheme"), "billing_scheme must be per_unit or tiered.")
    if spec.billing_scheme == "per_unit":
        _check_per_unit(spec, name)
    else:
        _check_tiered(spec, name)
    if spec.transform_quantity is not None:
        _check_transform(spec.transform_quantity, name)
    if spec.recurring is not None:
        _check_recurring(spec.recurring, name)
    if spec.lookup_key is not None and len(spec.lookup_key) > MAX_LOOKUP_KEY:
        raise invalid_param(name("lookup_key"), f"lookup_key can be at most {MAX_LOOKUP_KEY}"
                            " characters.")
    if spec.transfer_lookup_key and not spec.lookup_key:
        raise invalid_param(name("transfer_lookup_key"), "transfer_lookup_key requires a"
                            " lookup_key.")
    if spec.nickname is not None and len(spec.nickname) > MAX_NICKNAME:
        raise invalid_param(name("nickname"), f"nickname can be at most {MAX_NICKNAME} characters.")
    _check_native(spec, name)


def _check_per_unit(spec: PriceSpec, name: ParamNames) -> None:
    if spec.unit_amount is None:
        raise InvalidRequestError(
            f"Missing required param: {name('unit_amount')} (or {name('unit_amount_decimal')})."
            " custom_unit_amount is not supported.",
            code="parameter_missing", param=name("unit_amount"),
        )
    check_amount(spec.unit_amount, name("unit_amount_decimal"))
    if spec.tiers:
        raise invalid_param(name("tiers"), "tiers requires billing_scheme=tiered.")
    if spec.tiers_mode is not None:
        raise invalid_param(name("tiers_mode"), "tiers_mode requires billing_scheme=tiered.")


def _check_tiered(spec: PriceSpec, name: ParamNames) -> None:
    if spec.unit_amount is not None:
        raise invalid_param(name("unit_amount"), "With billing_scheme=tiered, unit amounts are"
                            " set on the tiers, not on the price.")
    if spec.tiers_mode is None:
        raise missing_param(name("tiers_mode"))
    if spec.tiers_mode not in TIERS_MODES:
        raise invalid_param(name("tiers_mode"), "tiers_mode must be graduated or volume.")
    if spec.transform_quantity is not None:
        raise invalid_param(name("transform_quantity"), "transform_quantity cannot be combined"
                            " with tiers.")
    if not spec.tiers:
        raise missing_param(name("tiers"))
    if len(spec.tiers) > MAX_TIERS:
        raise invalid_param(name("tiers"), f"A price can have at most {MAX_TIERS} tiers.")
    previous = 0
    for i, tier in enumerate(spec.tiers):
        last = i == len(spec.tiers) - 1
        if tier.up_to is None and not last:
            raise invalid_param(name("tiers", i, "up_to"), "Only the last tier can have"
                                " up_to=inf.")
        if tier.up_to is not None:
            if last:
                raise invalid_param(name("tiers", i, "up_to"), "The last tier must have"
                                    " up_to=inf.")
            if tier.up_to <= previous or tier.up_to > MAX_QUANTITY:
                raise invalid_param(name("tiers", i, "up_to"), "Each tier's up_to must be a"
                                    " whole number greater than the previous tier's.")
            previous = tier.up_to
        if tier.unit_amount is None and tier.flat_amount is None:
            raise InvalidRequestError(
                f"Tier {i} needs a unit_amount (or unit_amount_decimal), a flat_amount (or"
                " flat_amount_decimal), or both.",
                code="parameter_missing", param=name("tiers", i, "unit_amount"),
            )
        if tier.unit_amount is not None:
            check_amount(tier.unit_amount, name("tiers", i, "unit_amount_decimal"))
        if tier.flat_amount is not None:
            check_amount(tier.flat_amount, name("tiers", i, "flat_amount_decimal"))


def _check_transform(transform: TransformQuantity, name: ParamNames) -> None:
    if not 1 <= transform.divide_by <= MAX_QUANTITY:
        raise invalid_param(name("transform_quantity", "divide_by"), "divide_by must be a whole"
                            f" number from 1 to {MAX_QUANTITY}.")
    if transform.round not in ROUND_MODES:
        raise invalid_param(name("transform_quantity", "round"), "round must be up or down.")


def _check_recurring(recurring: RecurringSpec, name: ParamNames) -> None:
    if recurring.interval not in INTERVALS:
        raise invalid_param(name("recurring", "interval"), "interval must be one of day, week,"
                            " month, year.")
    most = MAX_INTERVAL_COUNT[recurring.interval]
    if not 1 <= recurring.interval_count <= most:
        raise invalid_param(
            name("recurring", "interval_count"),
            f"interval_count must be from 1 to {most} for interval={recurring.interval}: a"
            " billing period is at most three years.",
        )
    if recurring.usage_type not in USAGE_TYPES:
        raise invalid_param(name("recurring", "usage_type"), "usage_type must be licensed or"
                            " metered.")
    if recurring.usage_type == "metered" and not recurring.meter:
        raise InvalidRequestError(
            f"A metered price needs a meter: set {name('recurring', 'meter')} to a billing"
            " meter's id.",
            code="parameter_missing", param=name("recurring", "meter"),
        )
    if recurring.usage_type == "licensed" and recurring.meter:
        raise invalid_param(name("recurring", "meter"), "Only a metered price"
                            " (recurring[usage_type]=metered) can have a meter.")


def _check_native(spec: PriceSpec, name: ParamNames) -> None:
    bounded = spec.minimum_amount is not None or spec.maximum_amount is not None
    if not (spec.dimension_keys or spec.rates or bounded):
        return
    if not spec.metered:
        raise invalid_param(name("metered"), "metered[...] applies to metered prices only"
                            " (recurring[usage_type]=metered).")
    for key in ("minimum_amount", "maximum_amount"):
        value = getattr(spec, key)
        if value is not None and not 0 <= value <= MAX_AMOUNT:
            raise invalid_param(name("metered", key), f"{key} must be from 0 to {MAX_AMOUNT}.")
    if (spec.minimum_amount is not None and spec.maximum_amount is not None
            and spec.minimum_amount > spec.maximum_amount):
        raise invalid_param(name("metered", "maximum_amount"), "maximum_amount must be at least"
                            " minimum_amount.")
    if spec.rates and not spec.dimension_keys:
        raise missing_param(name("metered", "dimension_keys"))
    if spec.dimension_keys:
        _check_dimensional(spec, name)


def _check_dimensional(spec: PriceSpec, name: ParamNames) -> None:
    keys = spec.dimension_keys
    if spec.billing_scheme != "per_unit":
        raise invalid_param(name("metered", "dimension_keys"), "Dimensional rates need"
                            " billing_scheme=per_unit.")
    if len(keys) > MAX_DIMENSION_KEYS or len(set(keys)) != len(keys) or not all(keys):
        raise invalid_param(name("metered", "dimension_keys"), "dimension_keys must be at most"
                            f" {MAX_DIMENSION_KEYS} distinct, non-empty keys.")
    if len(spec.rates) > MAX_RATES:
        raise invalid_param(name("metered", "rates"), f"A price can have at most {MAX_RATES}"
                            " rates.")
    seen: set[tuple[tuple[str, str], ...]] = set()
    for i, rate in enumerate(spec.rates):
        if not rate.dimensions:
            raise missing_param(name("metered", "rates", i, "dimensions"))
        for key, value in rate.dimensions:
            param = name("metered", "rates", i, "dimensions", key)
            if key not in keys:
                raise invalid_param(param, f"'{key}' is not one of the price's dimension_keys"
                                    f" ({', '.join(keys)}).")
            if not value or len(value) > MAX_DIMENSION_VALUE:
                raise invalid_param(param, "A dimension value must be 1 to"
                                    f" {MAX_DIMENSION_VALUE} characters.")
        dimensions = tuple(sorted(rate.dimensions))
        if dimensions in seen:
            raise invalid_param(name("metered", "rates", i, "dimensions"), "Two rates have the"
                                " same dimensions.")
        seen.add(dimensions)
        check_amount(rate.unit_amount, name("metered", "rates", i, "unit_amount_decimal"))
