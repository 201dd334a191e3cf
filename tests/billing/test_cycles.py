"""Billing period arithmetic: month ends clamp, periods tile time without gaps or overlaps."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from metered.billing.cycles import boundary, first_period, period_at


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp())


def test_month_ends_clamp_and_come_back() -> None:
    anchor = ts(2026, 1, 31, 12)
    assert boundary(anchor, "month", 1, 1) == ts(2026, 2, 28, 12)
    assert boundary(anchor, "month", 1, 2) == ts(2026, 3, 31, 12)
    assert boundary(anchor, "month", 1, 3) == ts(2026, 4, 30, 12)
    assert boundary(ts(2028, 1, 31), "month", 1, 1) == ts(2028, 2, 29)
    assert boundary(ts(2024, 2, 29), "year", 1, 1) == ts(2025, 2, 28)
    assert boundary(anchor, "month", 3, -1) == ts(2025, 10, 31, 12)


def test_days_and_weeks() -> None:
    anchor = ts(2026, 3, 1)
    assert period_at(anchor, "day", 1, ts(2026, 3, 5, 10)) == (ts(2026, 3, 5), ts(2026, 3, 6))
    assert period_at(anchor, "week", 2, ts(2026, 3, 20)) == (ts(2026, 3, 15), ts(2026, 3, 29))
    assert period_at(anchor, "day", 1, ts(2026, 2, 27, 3)) == (ts(2026, 2, 27), ts(2026, 2, 28))


def test_first_period_up_to_a_later_anchor() -> None:
    assert first_period(ts(2026, 3, 10), ts(2026, 4, 1), "month", 1) == (
        ts(2026, 3, 10), ts(2026, 4, 1))
    assert first_period(ts(2026, 3, 10), ts(2026, 3, 10), "month", 1) == (
        ts(2026, 3, 10), ts(2026, 4, 10))


@given(st.integers(ts(2000, 1, 1), ts(2090, 1, 1)), st.sampled_from(["day", "week", "month",
       "year"]), st.integers(1, 12), st.integers(-10**9, 10**9))
def test_periods_contain_their_instant_and_tile(anchor: int, interval: str, count: int,
                                               offset: int) -> None:
    count = 1 if interval == "year" else count
    t = anchor + offset
    start, end = period_at(anchor, interval, count, t)
    assert start <= t < end
    assert period_at(anchor, interval, count, end)[0] == end
    assert period_at(anchor, interval, count, start - 1)[1] == start
