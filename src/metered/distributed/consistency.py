"""Consistency tokens: read your writes across processes.

An ingest answer in distributed mode carries `Metered-Consistency-Token`: the Kafka positions
its events were produced at, as `partition:offset` pairs (the offset after the record) joined
by dots. A read that passes the token (header `Metered-Consistency-Token` or query parameter
`consistency_token`) waits until the workers have applied every partition through that offset
(`log_offsets`), up to WAIT_SECONDS; past that it answers 503 `consistency_timeout` rather
than a stale number.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any
from urllib.parse import unquote

from metered.errors import InvalidRequestError, ServiceUnavailableError

WAIT_SECONDS = 10.0
HEADER = "metered-consistency-token"
CONSISTENCY_HEADER = b"metered-consistency-token"
PARAM = "consistency_token"
_PARAM_RE = re.compile(rb"(?:^|&)consistency_token=([^&]*)")
_TOKEN = re.compile(r"^\d{1,6}:\d{1,19}(\.\d{1,6}:\d{1,19}){0,9999}$")


class ConsistencyTimeout(ServiceUnavailableError):
    def __init__(self, message: str):
        super().__init__(message, code="consistency_timeout")


def consistency_token(headers: dict[str, str], query: bytes) -> tuple[str | None, bytes]:
    """The request's token (header or query parameter) and its query without the parameter,
    which is the API layer's, not a route's."""
    token = headers.get(HEADER)
    if b"consistency_token=" in query:
        found = _PARAM_RE.search(query)
        if found is not None:
            token = token or unquote(found.group(1).decode("latin-1"))
            query = (query[: found.start()] + query[found.end():]).lstrip(b"&")
    return token, query


def encode(offsets: dict[int, int]) -> str:
    return ".".join(f"{p}:{o}" for p, o in sorted(offsets.items()))


def decode(token: str) -> dict[int, int]:
    if not _TOKEN.match(token):
        raise InvalidRequestError(
            "Invalid consistency token: expected the value of a Metered-Consistency-Token"
            " header.", param=PARAM)
    offsets: dict[int, int] = {}
    for pair in token.split("."):
        p, o = pair.split(":")
        offsets[int(p)] = max(offsets.get(int(p), 0), int(o))
    return offsets


def merge(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    out = dict(a)
    for p, o in b.items():
        out[p] = max(out.get(p, 0), o)
    return out


def applied_positions(raw: Any, topic: str, partitions: list[int]) -> dict[int, int]:
    return dict(raw.execute(
        "SELECT partition, next_offset FROM log_offsets WHERE topic = %s AND partition = ANY(%s)",
        [topic, partitions]).fetchall())


def _applied(connect: Any, topic: str, partitions: list[int]) -> dict[int, int]:
    return applied_positions(connect(), topic, partitions)


async def wait_applied(connect: Any, topic: str, offsets: dict[int, int],
                       timeout: float = WAIT_SECONDS) -> dict[int, int]:
    """Wait until `offsets` are applied; returns the applied positions seen. `connect()` gives
    the calling thread's psycopg connection (the check runs in a worker thread: the event loop
    never blocks on it)."""
    deadline = time.monotonic() + timeout
    delay = 0.002
    pending = offsets
    while True:
        applied = await asyncio.to_thread(_applied, connect, topic, list(pending))
        pending = {p: o for p, o in pending.items() if applied.get(p, 0) < o}
        if not pending:
            return applied
        if time.monotonic() >= deadline:
            raise ConsistencyTimeout(
                f"The events of this consistency token are not applied yet (partitions"
                f" {sorted(pending)} are behind after {timeout:.0f} s); retry the read.")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.05)
