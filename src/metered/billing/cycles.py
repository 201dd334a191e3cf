"""Billing periods: pure arithmetic on Unix seconds, in UTC.

A subscription's periods are counted from its billing cycle anchor: the n-th period starts
n intervals after it. Month and year intervals keep the anchor's day of month and time of day,
clamped to the month's length, and are always counted from the anchor (not chained): an anchor
on January 31st gives February 28th (or 29th), then March 31st, as Stripe does.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

DAY = 86_400
INTERVAL_SECONDS = {"day": DAY, "week": 7 * DAY}
INTERVAL_MONTHS = {"month": 1, "year": 12}
AVERAGE_MONTH = 2_629_746  # seconds: 365.2425 days / 12


def boundary(anchor: int, interval: str, count: int, n: int) -> int:
    """The start of the n-th period after `anchor` (n may be negative)."""
    if interval in INTERVAL_SECONDS:
        return anchor + n * count * INTERVAL_SECONDS[interval]
    months = n * count * INTERVAL_MONTHS[interval]
    start = datetime.fromtimestamp(anchor, UTC)
    index = start.year * 12 + (start.month - 1) + months
    year, month = divmod(index, 12)
    day = min(start.day, calendar.monthrange(year, month + 1)[1])
    return int(start.replace(year=year, month=month + 1, day=day).timestamp())


def period_at(anchor: int, interval: str, count: int, t: int) -> tuple[int, int]:
    """The period [start, end) counted from `anchor` that contains `t`."""
    if interval in INTERVAL_SECONDS:
        size = count * INTERVAL_SECONDS[interval]
        n = (t - anchor) // size
    else:
        # An estimate from the average month, corrected by at most a step or two.
        n = (t - anchor) // (count * INTERVAL_MONTHS[interval] * AVERAGE_MONTH)
        while boundary(anchor, interval, count, n) > t:
            n -= 1
        while boundary(anchor, interval, count, n + 1) <= t:
            n += 1
    return boundary(anchor, interval, count, n), boundary(anchor, interval, count, n + 1)


def next_period(anchor: int, interval: str, count: int, period_end: int) -> tuple[int, int]:
    """The period that starts at `period_end` (a boundary of the anchor's periods)."""
    return period_at(anchor, interval, count, period_end)


def first_period(start: int, anchor: int, interval: str, count: int) -> tuple[int, int]:
    """A subscription's first period: up to the anchor when the anchor is later than the
    start (a shorter, prorated first period), else the anchor's period that holds `start`."""
    if anchor > start:
        return start, anchor
    return period_at(anchor, interval, count, start)
