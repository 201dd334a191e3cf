"""POSTs of pre-encoded JSON bodies to one path on lean keep-alive connections (connection.py),
retried under the transport's `RetryPolicy` with the same bytes, failures turned into the same
`MeteredError`s as the transport's. The event sender's way to the batch endpoint.

No Idempotency-Key: it is for bodies whose own content does not make a retry safe, and a batch's
events carry identifiers (a retried event that had counted answers `duplicate`). For a batch
the key cost the server a hash of the body and a stored copy of its answer (~80 bytes per
event, written durably): about a fifth of its CPU per event (docs/benchmarks.md).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx
import msgspec

from metered import __version__
from metered.client.connection import Answer, Connection, ConnectionBroken, Origin
from metered.client.errors import APIConnectionError, MeteredError, error_from_answer
from metered.client.retries import RetryPolicy
from metered.client.wire import decode_untyped

log = logging.getLogger("metered.client")
USER_AGENT = f"metered-python/{__version__}"


class BatchPoster:
    """POSTs bodies to `path` of `base_url`; thread-safe, one connection per concurrent call."""

    def __init__(self, base_url: str, api_key: str, path: str, *, timeout: float,
                 retry_policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep):
        self.origin = Origin.of(base_url)
        self.path = path
        self.timeout = timeout
        self.retry_policy = retry_policy
        self._sleep = sleep
        self._tls = httpx.create_ssl_context() if self.origin.scheme == "https" else None
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        self._head = (
            f"POST {self.origin.prefix}{path} HTTP/1.1\r\n"
            f"Host: {self.origin.host_header}\r\n"
            f"Authorization: Bearer {api_key}\r\n"
            f"User-Agent: {USER_AGENT}\r\n"
            "Accept: application/json\r\n"
            "Accept-Encoding: identity\r\n"
            "Content-Type: application/json\r\n"
        ).encode("latin-1")

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def post(self, body: bytes) -> bytes:
        """The 2xx answer's body. Failed attempts (no answer, 409, 429, 5xx) are retried as the
        policy says, with the same bytes; MeteredError when they run out."""
        request = b"".join((self._head, b"Content-Length: %d\r\n\r\n" % len(body), body))
        policy = self.retry_policy
        attempt = 0
        while True:
            try:
                answer = self._exchange(request)
            except OSError as exc:
                if not policy.retries_network_error(attempt):
                    raise APIConnectionError(
                        f"No answer from {self.origin.scheme}://{self.origin.host_header} to"
                        f" POST {self.path} after {attempt + 1} attempt(s):"
                        f" {type(exc).__name__}: {exc}") from exc
                self._wait(attempt, policy.delay(attempt), repr(exc))
                attempt += 1
                continue
            if 200 <= answer.status < 300:
                return answer.body
            if policy.retries_status(answer.status, attempt):
                delay = policy.delay(attempt, answer.headers.get("retry-after"))
                self._wait(attempt, delay, f"HTTP {answer.status}")
                attempt += 1
                continue
            raise _error(answer)

    def _exchange(self, request: bytes) -> Answer:
        """One attempt. A reused connection that ends before any byte of answer was most
        likely closed by the server while idle: the request goes once more on a new one (the
        same bytes: even if it did arrive, its events count once)."""
        conn = self._connection()
        try:
            answer = conn.exchange(request)
        except ConnectionBroken as exc:
            if not (exc.reused and exc.answered_nothing):
                raise
            conn = self._connection(fresh=True)
            answer = conn.exchange(request)
        self._release(conn)
        return answer

    def _connection(self, fresh: bool = False) -> Connection:
        while not fresh:
            with self._lock:
                if not self._idle:
                    break
                conn = self._idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return Connection(self.origin, self.timeout, self._tls)

    def _release(self, conn: Connection) -> None:
        if conn.closed:
            return
        with self._lock:
            if not self._closed:
                self._idle.append(conn)
                return
        conn.close()

    def _wait(self, attempt: int, delay: float, reason: str) -> None:
        log.info("retrying POST %s in %.2fs (attempt %d failed: %s)", self.path, delay,
                 attempt + 1, reason)
        self._sleep(delay)


def _error(answer: Answer) -> MeteredError:
    try:
        body = decode_untyped(answer.body) if answer.body else None
    except msgspec.DecodeError:
        body = None
    return error_from_answer(answer.status, body, answer.headers.get("request-id"))
