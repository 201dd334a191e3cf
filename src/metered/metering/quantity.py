"""Exact usage quantities: parsing meter event values and the integer form rollups store.

A value is a non-negative Decimal with at most 15 significant digits (Stripe's limit) and at most
12 decimal places. Rollups store value * 10**12 split as (hi, lo) with value = hi * 2**40 + lo and
0 <= lo < 2**40, so that SQL can add thousands of cells exactly in C without overflowing int64.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

MAX_SIGNIFICANT_DIGITS = 15
MAX_DECIMAL_PLACES = 12
SCALE = 10**MAX_DECIMAL_PLACES
LO_BITS = 40
LO_MASK = (1 << LO_BITS) - 1
_SCALE_DECIMAL = Decimal(SCALE)
# ASCII digits only: Decimal() alone would also take "1_000", " 5 " and non-Latin digits.
_NUMBER_RE = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_ONE = Decimal(1)


class QuantityError(ValueError):
    """A value that cannot be a usage quantity; the message says why."""


def parse_quantity(raw: object) -> Decimal:
    if isinstance(raw, bool):
        raise QuantityError("must be a number, not a boolean")
    if isinstance(raw, int):
        value = Decimal(raw)
    elif isinstance(raw, str | float):
        text = raw if isinstance(raw, str) else repr(raw)
        if len(text) > 64 or not _NUMBER_RE.fullmatch(text):
            if text.lower().lstrip("+-") in ("nan", "inf", "infinity"):
                raise QuantityError("must be a finite number")
            raise QuantityError("must be a plain decimal number such as 12 or 0.5")
        try:
            value = Decimal(text)
        except InvalidOperation as exc:
            raise QuantityError("must be a number") from exc
    else:
        raise QuantityError("must be a number")
    if not value.is_finite():
        raise QuantityError("must be a finite number")
    if value.is_signed() and value != 0:
        raise QuantityError("must not be negative (cancel events with a meter event adjustment)")
    sign, digits, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)
    if len(digits) + max(exponent, 0) > MAX_SIGNIFICANT_DIGITS:
        raise QuantityError(f"can have at most {MAX_SIGNIFICANT_DIGITS} significant digits")
    if -exponent > MAX_DECIMAL_PLACES:
        raise QuantityError(f"can have at most {MAX_DECIMAL_PLACES} decimal places")
    return value.normalize() if value != 0 else Decimal(0)


def parse_scaled(raw: object) -> tuple[str, int]:
    """(canonical text, value * 10**12) of a meter event value; plain integers skip Decimal."""
    if type(raw) is str and 0 < len(raw) <= MAX_SIGNIFICANT_DIGITS and raw.isdigit() and (
        raw.isascii()
    ):
        digits = raw.lstrip("0") or "0"
        return digits, int(digits) * SCALE
    if type(raw) is int and 0 <= raw < 10**MAX_SIGNIFICANT_DIGITS:
        return str(raw), raw * SCALE
    value = parse_quantity(raw)
    return format_quantity(value), to_scaled(value)


def to_scaled(value: Decimal) -> int:
    return int(value * _SCALE_DECIMAL)


def split(scaled: int) -> tuple[int, int]:
    return scaled >> LO_BITS, scaled & LO_MASK


def join(hi: int, lo: int) -> int:
    return (hi << LO_BITS) + lo


def from_scaled(scaled: int) -> Decimal:
    """Back to a Decimal without trailing zeros, and without an exponent (5000, not 5E+3)."""
    if scaled % SCALE == 0:
        return Decimal(scaled // SCALE)
    value = (Decimal(scaled) / _SCALE_DECIMAL).normalize()
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return value.quantize(_ONE) if exponent > 0 else value


def format_quantity(value: Decimal) -> str:
    """Canonical text: no exponent, no trailing zeros."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"
