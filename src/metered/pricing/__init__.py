"""Pricing: pure functions from price terms and a quantity to an exact amount.

Decimal in, Decimal out, no I/O and no clock; amounts are in the currency's minor unit and
rounded only by `round_minor`, once per invoice line. Imports nothing else of metered.
"""

from metered.pricing.currency import format_amount, minor_unit_digits, round_minor
from metered.pricing.models import (
    DimensionalRate,
    PriceTerms,
    Tier,
    TransformQuantity,
)
from metered.pricing.rating import (
    TierPart,
    billed_quantity,
    bound_total,
    dimensional_unit_amount,
    graduated_parts,
    prorate,
    rate,
    volume_tier,
)

__all__ = [
    "DimensionalRate",
    "PriceTerms",
    "Tier",
    "TierPart",
    "TransformQuantity",
    "billed_quantity",
    "bound_total",
    "dimensional_unit_amount",
    "format_amount",
    "graduated_parts",
    "minor_unit_digits",
    "prorate",
    "rate",
    "round_minor",
    "volume_tier",
]
