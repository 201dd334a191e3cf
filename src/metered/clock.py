"""Wall-clock time in one place, so that tests and replays can reason about it."""

from __future__ import annotations

import time


def now_seconds() -> int:
    return int(time.time())


def now_ms() -> int:
    return time.time_ns() // 1_000_000
