"""When a failed call is retried, and how long to wait first (pure: no I/O, no clock).

Retried: no answer at all (network errors, timeouts), 409 (the same Idempotency-Key is still
being served: the first attempt has not finished yet), 429 and 5xx other than 501. The wait is
exponential backoff with full jitter, or the server's `Retry-After` when that is longer.
Retrying is always safe because every POST carries the same Idempotency-Key on each attempt and
every event its identifier, assigned before the first attempt.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def retries_status(self, status: int, attempt: int) -> bool:
        """Whether an answer with `status` on attempt `attempt` (0 first) is retried."""
        return attempt < self.max_retries and retryable_status(status)

    def retries_network_error(self, attempt: int) -> bool:
        return attempt < self.max_retries

    def delay(self, attempt: int, retry_after: str | None = None, *,
              now: datetime | None = None,
              random_fraction: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `attempt + 1`."""
        ceiling = min(self.max_delay, self.initial_delay * 2**attempt)
        backoff = random_fraction() * ceiling
        asked = parse_retry_after(retry_after, now=now)
        if asked is None:
            return backoff
        return min(max(backoff, asked), self.max_retry_after)


def retryable_status(status: int) -> bool:
    return status in (409, 429) or (status >= 500 and status != 501)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """`Retry-After` in seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(seconds, 0.0)
