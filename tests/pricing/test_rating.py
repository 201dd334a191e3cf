"""Pricing models by example (Stripe's documented figures) and by property."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metered.pricing import (
    DimensionalRate,
    PriceTerms,
    Tier,
    TransformQuantity,
    bound_total,
    format_amount,
    graduated_parts,
    minor_unit_digits,
    prorate,
    rate,
    round_minor,
)

D = Decimal
# Stripe's tiered-pricing page: 1-5 fonts at $7, 6-10 at $6.50, 11+ at $6.
FONT_TIERS = (Tier(D(5), D(700)), Tier(D(10), D(650)), Tier(None, D(600)))


def volume_terms(tiers: tuple[Tier, ...] = FONT_TIERS) -> PriceTerms:
    return PriceTerms("tiered", tiers=tiers, tiers_mode="volume")


def graduated_terms(tiers: tuple[Tier, ...] = FONT_TIERS) -> PriceTerms:
    return PriceTerms("tiered", tiers=tiers, tiers_mode="graduated")


@pytest.mark.parametrize(("quantity", "amount"), [
    (1, 700), (5, 3500), (6, 3900), (20, 12000), (25, 15000),
])
def test_volume_bills_every_unit_at_the_tier_of_the_total(quantity: int, amount: int) -> None:
    assert rate(volume_terms(), D(quantity)) == amount


@pytest.mark.parametrize(("quantity", "amount"), [
    (1, 700), (5, 3500), (6, 4150), (10, 6750), (11, 7350), (25, 15750),
])
def test_graduated_bills_each_unit_at_its_own_tier(quantity: int, amount: int) -> None:
    assert rate(graduated_terms(), D(quantity)) == amount


def test_flat_amounts_per_tier() -> None:
    tiers = (Tier(D(100), D(0), D(20000)), Tier(None, D(5), D(1000)))
    # Base fee due without usage; the second tier's flat fee once a unit reaches it.
    assert rate(graduated_terms(tiers), D(0)) == 20000
    assert rate(graduated_terms(tiers), D(100)) == 20000
    assert rate(graduated_terms(tiers), D(101)) == 20000 + 1000 + 5
    assert rate(volume_terms(tiers), D(0)) == 20000
    assert rate(volume_terms(tiers), D(101)) == 1000 + 505


def test_package_pricing_rounds_the_package_count() -> None:
    up = PriceTerms(unit_amount=D(500), transform_quantity=TransformQuantity(1000, "up"))
    down = PriceTerms(unit_amount=D(500), transform_quantity=TransformQuantity(1000, "down"))
    assert rate(up, D(1000)) == 500
    assert rate(up, D(1001)) == 1000
    assert rate(up, D(0)) == 0
    assert rate(down, D(1999)) == 500


def test_fractional_cent_unit_amounts_stay_exact() -> None:
    terms = PriceTerms(unit_amount=D("0.000003"))  # $0.03 per million tokens
    assert rate(terms, D(1_234_567)) == D("3.703701")
    assert round_minor(rate(terms, D(1_234_567))) == 4
    # 27 significant digits times 12: Decimal's default 28-digit context would round this.
    huge = PriceTerms(unit_amount=D("0.123456789012"))
    assert rate(huge, D("999999999999999.999999999999")) == D(
        "123456789011999.999999999999876543210988")


def test_rounding_is_half_away_from_zero() -> None:
    assert round_minor(D("2.5")) == 3
    assert round_minor(D("2.4999999")) == 2
    assert round_minor(D("-2.5")) == -3


def test_currencies() -> None:
    assert minor_unit_digits("JPY") == 0
    assert minor_unit_digits("usd") == 2
    assert minor_unit_digits("kwd") == 3
    assert format_amount(12345, "usd") == "123.45"
    assert format_amount(12345, "jpy") == "12345"
    assert format_amount(-5, "usd") == "-0.05"
    assert format_amount(1005, "kwd") == "1.005"


def test_minimum_and_maximum() -> None:
    terms = PriceTerms(unit_amount=D(1), minimum_amount=1000, maximum_amount=5000)
    assert bound_total(terms, 400) == 600
    assert bound_total(terms, 3000) == 0
    assert bound_total(terms, 7000) == -2000


def test_dimensional_rates_match_all_their_dimensions() -> None:
    from metered.pricing import dimensional_unit_amount

    terms = PriceTerms(unit_amount=D("0.001"), dimension_keys=("model", "token_type"), rates=(
        DimensionalRate((("model", "gpt"), ("token_type", "input")), D("0.0003")),
        DimensionalRate((("model", "gpt"),), D("0.0012")),
    ))
    assert dimensional_unit_amount(terms, {"model": "gpt", "token_type": "input"}) == D("0.0003")
    assert dimensional_unit_amount(terms, {"model": "gpt", "token_type": "output"}) == D("0.0012")
    assert dimensional_unit_amount(terms, {"model": "other", "token_type": None}) == D("0.001")


def test_prorate_is_exact_until_rounded() -> None:
    assert prorate(D(3000), 15 * 86400, 30 * 86400) == 1500
    assert round_minor(prorate(D(1000), 1, 3)) == 333


def test_negative_quantity_is_refused() -> None:
    with pytest.raises(ValueError):
        rate(PriceTerms(unit_amount=D(1)), D(-1))


amounts = st.decimals(min_value=0, max_value=10**6, places=4, allow_nan=False)
quantities = st.decimals(min_value=0, max_value=10**9, places=6, allow_nan=False)


@st.composite
def tier_lists(draw: st.DrawFn) -> tuple[Tier, ...]:
    bounds = sorted(set(draw(st.lists(st.integers(1, 10**6), min_size=0, max_size=5))))
    ups: list[Decimal | None] = [D(b) for b in bounds]
    ups.append(None)
    return tuple(Tier(up, draw(amounts), draw(amounts)) for up in ups)


@given(tier_lists(), quantities)
def test_graduated_equals_the_sum_of_its_tier_parts(tiers: tuple[Tier, ...], q: Decimal) -> None:
    parts = graduated_parts(tiers, q)
    assert rate(graduated_terms(tiers), q) == sum(p.amount for p in parts)
    # Every unit is billed in exactly one tier.
    assert sum(p.quantity for p in parts) == q


@given(tier_lists(), quantities, quantities)
def test_graduated_is_monotonic(tiers: tuple[Tier, ...], a: Decimal, b: Decimal) -> None:
    low, high = sorted((a, b))
    assert rate(graduated_terms(tiers), low) <= rate(graduated_terms(tiers), high)


@given(tier_lists(), quantities)
def test_one_tier_volume_and_graduated_agree_within_the_first_tier(
        tiers: tuple[Tier, ...], q: Decimal) -> None:
    first = tiers[0]
    if first.up_to is None or q <= first.up_to:
        assert rate(volume_terms(tiers), q) == rate(graduated_terms(tiers), q)


@given(amounts, st.integers(1, 10**6), st.integers(0, 10**9))
def test_package_rounding_up_never_undercharges(unit: Decimal, divide_by: int, q: int) -> None:
    terms = PriceTerms(unit_amount=unit, transform_quantity=TransformQuantity(divide_by, "up"))
    assert rate(terms, D(q)) * divide_by >= unit * q
