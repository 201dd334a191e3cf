"""Currencies: their minor unit, and the one rounding of an amount to it.

Stripe states every amount as an integer count of the currency's smallest unit: cents for USD,
yen for JPY (a zero-decimal currency), fils for KWD (three decimals). Rating works in that unit
with exact Decimal fractions; an invoice line rounds once, half away from zero.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# Stripe's zero-decimal and three-decimal currencies.
ZERO_DECIMAL = frozenset({
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
})
THREE_DECIMAL = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})


def minor_unit_digits(currency: str) -> int:
    """How many decimal digits the currency's minor unit has: 2 for usd, 0 for jpy."""
    currency = currency.lower()
    if currency in ZERO_DECIMAL:
        return 0
    if currency in THREE_DECIMAL:
        return 3
    return 2


def round_minor(amount: Decimal) -> int:
    """An exact amount in minor units, rounded once to a whole minor unit (half away from 0)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_amount(amount: int, currency: str) -> str:
    """A whole amount in minor units as a decimal of the major unit: 12345 usd -> '123.45'."""
    digits = minor_unit_digits(currency)
    if digits == 0:
        return str(amount)
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), 10**digits)
    return f"{sign}{whole}.{part:0{digits}d}"
