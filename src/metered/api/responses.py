"""What every answer carries, in one place: its headers, errors in Stripe's format, and the
answer of a write (stored under its Idempotency-Key in the write's own transaction)."""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from typing import Any

from metered import __version__
from metered.api.http import Response, encode_json
from metered.api.idempotency import Idempotency
from metered.errors import MeteredError, RateLimitError
from metered.ingest.writer import WRITER_STAGES, WriteRequest

STRIPE_VERSION = "2025-09-30.clover"

FIXED_HEADERS = (
    (b"content-type", b"application/json"),
    (b"stripe-version", STRIPE_VERSION.encode()),
    (b"server", f"metered/{__version__}".encode()),
)


def error_response(exc: MeteredError) -> Response:
    response = Response(exc.status, encode_json(exc.to_wire()))
    if isinstance(exc, RateLimitError):
        response.headers.append((b"retry-after", str(max(1, math.ceil(exc.retry_after))).encode()))
    return response


def response_headers(response: Response, request_id: str) -> list[tuple[bytes, bytes]]:
    fixed: tuple[tuple[bytes, bytes], ...] = FIXED_HEADERS
    if any(name == b"content-type" for name, _ in response.headers):  # e.g. /metrics' text
        fixed = FIXED_HEADERS[1:]
    return [
        (b"content-length", str(len(response.body)).encode()),
        (b"request-id", request_id.encode()),
        *fixed,
        *response.headers,
    ]


def server_timing(timings: list[tuple[str, float]]) -> bytes:
    """The W3C Server-Timing header: `parse;dur=7.41, queue;dur=2.03, ...` (milliseconds)."""
    return ", ".join(["%s;dur=%.2f" % timing for timing in timings]).encode()  # noqa: UP031


_WRITER_TIMING = ", ".join(f"{name};dur=%.2f" for name in WRITER_STAGES).encode()


def writer_timing(write: WriteRequest) -> bytes | None:
    """server_timing(write.stages()) in one step (the single-event fast path's), or None when
    the write has no stages (it was refused before the writer took it)."""
    if len(write.stamps) != 5:
        return None
    return _WRITER_TIMING % write.durations()


def render_outcome(outcome: Any, render: Callable[[Any], Response]) -> Response:
    if isinstance(outcome, MeteredError):
        return error_response(outcome)
    return render(outcome)


def storing(idem: Idempotency | None, render: Callable[[Any], Response]
            ) -> Callable[[sqlite3.Connection, Any], None] | None:
    """The write's `finish`: stores its answer under the Idempotency-Key, if there is one."""
    if idem is None:
        return None

    def finish(conn: sqlite3.Connection, outcome: Any) -> None:
        response = render_outcome(outcome, render)
        if response.status < 500:
            idem.store(conn, response.status, response.body)

    return finish
