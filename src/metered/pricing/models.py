"""The terms of a price, as plain immutable data: what the rating functions read.

Amounts are Decimal in the currency's minor unit (cents for USD, yen for JPY) and may carry a
fraction of it (`unit_amount_decimal`, up to 12 decimal places); quantities are Decimal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

BillingScheme = Literal["per_unit", "tiered"]
TiersMode = Literal["graduated", "volume"]
RoundMode = Literal["up", "down"]


@dataclass(frozen=True, slots=True)
class Tier:
    """Quantities in (previous tier's up_to, up_to]; `up_to=None` is the last tier ("inf")."""

    up_to: Decimal | None
    unit_amount: Decimal = Decimal(0)
    flat_amount: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class TransformQuantity:
    """Package pricing: the quantity billed is quantity / divide_by, rounded up or down."""

    divide_by: int
    round: RoundMode


@dataclass(frozen=True, slots=True)
class DimensionalRate:
    """A unit amount for the usage whose dimension values match all of `dimensions`."""

    dimensions: tuple[tuple[str, str], ...]
    unit_amount: Decimal


@dataclass(frozen=True, slots=True)
class PriceTerms:
    billing_scheme: BillingScheme = "per_unit"
    unit_amount: Decimal | None = None  # per_unit; for a dimensional price, the default rate
    tiers: tuple[Tier, ...] = ()
    tiers_mode: TiersMode | None = None
    transform_quantity: TransformQuantity | None = None
    # Native dimensional pricing: usage is grouped by these meter dimensions and each group is
    # rated per unit at the first matching rate (else `unit_amount`).
    dimension_keys: tuple[str, ...] = ()
    rates: tuple[DimensionalRate, ...] = field(default=())
    # Native per-period bounds of the price's total, in whole minor units.
    minimum_amount: int | None = None
    maximum_amount: int | None = None

    @property
    def dimensional(self) -> bool:
        return bool(self.dimension_keys)
