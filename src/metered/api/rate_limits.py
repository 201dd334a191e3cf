"""Rate limits: token buckets per API key and per account (and mode), separate for ingest
(meter events) and for the rest of the API, so that one tenant's spike cannot starve another's
reads. A request over a limit gets 429 with Stripe's `rate_limit_error` body and `Retry-After`.

`metered serve --rate-limit KIND=RATE[/BURST]` (repeatable; KIND is api-key, api-account,
ingest-key or ingest-account; RATE requests per second, 0 for none; BURST defaults to twice the
rate). Defaults: the API at 1,000/s per key and 5,000/s per account; ingest unlimited (the
engine's backpressure bounds it). Requests are counted, not events: a batch is one request.
Limits hold per server process; in distributed mode they are per API process until a shared
store backs them.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from metered.accounts import Caller
from metered.errors import RateLimitError

KINDS = ("api-key", "api-account", "ingest-key", "ingest-account")
DEFAULTS = {"api-key": "1000", "api-account": "5000", "ingest-key": "0", "ingest-account": "0"}
MAX_BUCKETS = 100_000  # per kind; the oldest half is forgotten past it (a full bucket again)


@dataclass(frozen=True, slots=True)
class Limit:
    rate: float  # tokens per second
    burst: float  # bucket size

    @classmethod
    def parse(cls, text: str) -> Limit | None:
        rate_text, _, burst_text = text.partition("/")
        rate = float(rate_text)
        if rate < 0 or not math.isfinite(rate):
            raise ValueError(f"a rate must be a number >= 0: {text!r}")
        if rate == 0:
            return None
        burst = float(burst_text) if burst_text else 2 * rate
        if burst < 1 or not math.isfinite(burst):
            raise ValueError(f"a burst must be >= 1: {text!r}")
        return cls(rate, burst)


class TokenBuckets:
    """Buckets of one kind, by key: `take` spends a token or says how long until one."""

    def __init__(self, limit: Limit):
        self.limit = limit
        self._buckets: dict[object, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: object, now: float, share: float = 1.0) -> float:
        """0 if a token was spent, else the seconds until one is there. `share`: this
        process's part of the limit (distributed mode: 1 / the API processes)."""
        limit = self.limit
        rate, burst = limit.rate * share, max(1.0, limit.burst * share)
        with self._lock:
            tokens, at = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + (now - at) * rate)
            if tokens >= 1:
                if len(self._buckets) >= MAX_BUCKETS and key not in self._buckets:
                    for stale in list(self._buckets)[: MAX_BUCKETS // 2]:
                        del self._buckets[stale]
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / rate


class RateLimits:
    def __init__(self, settings: dict[str, str] | None = None):
        merged = {**DEFAULTS, **(settings or {})}
        unknown = set(merged) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown rate limit kinds: {', '.join(sorted(unknown))}")
        self.buckets: dict[str, TokenBuckets] = {}
        # How many API processes share the limits (distributed mode counts them in
        # PostgreSQL); each enforces its share, so the sum holds with a balanced load.
        self.processes: Callable[[], int] = lambda: 1
        for kind, text in merged.items():
            limit = Limit.parse(text)
            if limit is not None:
                self.buckets[kind] = TokenBuckets(limit)

    @classmethod
    def from_options(cls, options: list[str]) -> RateLimits:
        settings = {}
        for option in options:
            kind, equals, value = option.partition("=")
            if not equals:
                raise ValueError(f"--rate-limit takes KIND=RATE[/BURST], not {option!r}")
            settings[kind.strip()] = value.strip()
        return cls(settings)

    def check(self, caller: Caller, key: object, ingest: bool) -> None:
        """Spend a token of the caller's key and account buckets, or raise RateLimitError."""
        prefix = "ingest" if ingest else "api"
        now = time.monotonic()
        share = 1.0 / max(1, self.processes())
        wait = 0.0
        for kind, bucket_key in ((f"{prefix}-key", key),
                                 (f"{prefix}-account", (caller.account_pk, caller.livemode))):
            buckets = self.buckets.get(kind)
            if buckets is not None:
                wait = max(wait, buckets.take(bucket_key, now, share))
        if wait > 0:
            scope = "meter events" if ingest else "requests"
            raise RateLimitError(
                f"Too many {scope} in too little time: retry after {math.ceil(wait)} s.",
                code="rate_limit", retry_after=wait)
