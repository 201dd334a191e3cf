"""Rating: the exact amount (Decimal, minor units) a price charges for a quantity.

One pure function per pricing model, chosen by `rate` from a table. Nothing is rounded here:
an invoice line rounds once (pricing.currency.round_minor).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, localcontext

from metered.pricing.models import PriceTerms, Tier

ZERO = Decimal(0)
# Enough digits that no product of a quantity (<= 10**15, 12 decimals) and an amount is ever
# rounded by Decimal's context (28 digits by default).
PRECISION = 100


@dataclass(frozen=True, slots=True)
class TierPart:
    """The share of a quantity that falls in one tier (graduated), and what it costs."""

    tier: int
    quantity: Decimal
    amount: Decimal


def billed_quantity(terms: PriceTerms, quantity: Decimal) -> Decimal:
    """The quantity after `transform_quantity` (package pricing): 1,001 units by packages of
    1,000 rounded up is 2."""
    transform = terms.transform_quantity
    if transform is None:
        return quantity
    rounding = ROUND_CEILING if transform.round == "up" else ROUND_FLOOR
    return (quantity / transform.divide_by).quantize(Decimal(1), rounding=rounding)


def per_unit(terms: PriceTerms, quantity: Decimal) -> Decimal:
    return billed_quantity(terms, quantity) * (terms.unit_amount or ZERO)


def graduated_parts(tiers: tuple[Tier, ...], quantity: Decimal) -> list[TierPart]:
    """Each tier bills the units within its bounds. A tier's flat amount is due once any unit
    reaches it; the first tier's is due even for no usage (Stripe's base fee pattern)."""
    parts: list[TierPart] = []
    lower = ZERO
    for i, tier in enumerate(tiers):
        if i > 0 and quantity <= lower:
            break
        upper = quantity if tier.up_to is None else min(quantity, tier.up_to)
        inside = max(upper - lower, ZERO)
        parts.append(TierPart(i, inside, inside * tier.unit_amount + tier.flat_amount))
        if tier.up_to is None:
            break
        lower = tier.up_to
    return parts


def graduated(terms: PriceTerms, quantity: Decimal) -> Decimal:
    return sum((part.amount for part in graduated_parts(terms.tiers, quantity)), ZERO)


def volume_tier(tiers: tuple[Tier, ...], quantity: Decimal) -> Tier:
    """The tier whose bounds hold the whole quantity (the first one for no usage)."""
    for tier in tiers:
        if tier.up_to is None or quantity <= tier.up_to:
            return tier
    return tiers[-1]


def volume(terms: PriceTerms, quantity: Decimal) -> Decimal:
    tier = volume_tier(terms.tiers, quantity)
    return quantity * tier.unit_amount + tier.flat_amount


def tiered(terms: PriceTerms, quantity: Decimal) -> Decimal:
    return (graduated if terms.tiers_mode == "graduated" else volume)(terms, quantity)


MODELS: dict[str, Callable[[PriceTerms, Decimal], Decimal]] = {
    "per_unit": per_unit,
    "tiered": tiered,
}


def rate(terms: PriceTerms, quantity: Decimal) -> Decimal:
    """The exact amount for `quantity` under `terms` (minor units, not rounded)."""
    if quantity < 0:
        raise ValueError("a quantity to rate must not be negative")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return MODELS[terms.billing_scheme](terms, quantity)


def dimensional_unit_amount(terms: PriceTerms, dimensions: Mapping[str, str | None]) -> Decimal:
    """A dimensional price's unit amount for one group: the first rate whose dimensions all
    match, else the price's own unit amount."""
    for candidate in terms.rates:
        if all(dimensions.get(key) == value for key, value in candidate.dimensions):
            return candidate.unit_amount
    return terms.unit_amount or ZERO


def bound_total(terms: PriceTerms, total: int) -> int:
    """What the per-period minimum and maximum add to a price's rounded total for a period:
    a true-up up to the minimum (>= 0), or a credit down to the maximum (<= 0)."""
    if terms.minimum_amount is not None and total < terms.minimum_amount:
        return terms.minimum_amount - total
    if terms.maximum_amount is not None and total > terms.maximum_amount:
        return terms.maximum_amount - total
    return 0


def prorate(amount: Decimal, used_seconds: int, period_seconds: int) -> Decimal:
    """`amount` for a whole period, for `used_seconds` of its `period_seconds` (exact)."""
    if period_seconds <= 0:
        raise ValueError("a period must last")
    with localcontext() as ctx:
        ctx.prec = PRECISION
        return amount * Decimal(used_seconds) / Decimal(period_seconds)
