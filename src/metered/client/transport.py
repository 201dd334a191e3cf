"""The synchronous HTTP transport: sends an `ApiRequest` with httpx, retries it under a
`RetryPolicy`, and turns the answer into a typed model or a `MeteredError`. `poster` gives the
event sender its leaner way to one path (batch_requests.py), with the same settings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol, TypeVar

import httpx
import msgspec

from metered.client.batch_requests import USER_AGENT, BatchPoster
from metered.client.connection import Origin
from metered.client.errors import APIConnectionError, APIError, MeteredError, error_from_answer
from metered.client.retries import RetryPolicy
from metered.client.wire import ApiRequest, decode_answer, decode_untyped

T = TypeVar("T")
log = logging.getLogger("metered.client")


class Poster(Protocol):
    """POSTs JSON bodies to one path; answers the 2xx body, raises MeteredError otherwise."""

    def post(self, body: bytes) -> bytes: ...

    def close(self) -> None: ...


class Transport:
    def __init__(self, api_key: str, base_url: str, *, timeout: float,
                 retry_policy: RetryPolicy, sleep: Callable[[float], None] = time.sleep):
        self.base_url = base_url.rstrip("/")
        self.retry_policy = retry_policy
        self.timeout = timeout
        self._api_key = api_key
        self._sleep = sleep
        self._posters: list[Poster] = []
        self._http = httpx.Client(
            base_url=self.base_url, timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": USER_AGENT,
                     "Accept": "application/json"},
        )

    def close(self) -> None:
        for poster in self._posters:
            poster.close()
        self._http.close()

    def poster(self, path: str) -> Poster:
        """POSTs of JSON bodies to `path`, answering the 2xx body, with this transport's key,
        timeout and retries: on lean connections of their own (BatchPoster), or through httpx
        when the environment routes the server through a proxy."""
        poster: Poster
        try:
            lean = not Origin.of(self.base_url).proxied()
        except ValueError:
            lean = False
        if lean:
            poster = BatchPoster(self.base_url, self._api_key, path, timeout=self.timeout,
                                 retry_policy=self.retry_policy, sleep=self._sleep)
        else:
            poster = _HttpxPoster(self, path)
        self._posters.append(poster)
        return poster

    def send(self, request: ApiRequest, answer: type[T]) -> T:
        """Send `request` (retrying as the policy says) and decode a 2xx answer into `answer`."""
        response = self._send_with_retries(request)
        try:
            return decode_answer(response.content, answer)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise APIError(
                f"Unexpected answer to {request.method} {request.path}: {exc}",
                status=response.status_code, request_id=response.headers.get("request-id"),
            ) from exc

    def _send_with_retries(self, request: ApiRequest) -> httpx.Response:
        policy = self.retry_policy
        attempt = 0
        while True:
            try:
                response = self._http.request(
                    request.method, request.path, params=dict(request.params),
                    content=request.body, headers=request.headers(),
                )
            except httpx.TransportError as exc:
                if not policy.retries_network_error(attempt):
                    raise APIConnectionError(
                        f"No answer from {self.base_url} to {request.method} {request.path}"
                        f" after {attempt + 1} attempt(s): {type(exc).__name__}: {exc}",
                    ) from exc
                self._wait(request, attempt, policy.delay(attempt), repr(exc))
                attempt += 1
                continue
            if response.is_success:
                return response
            if policy.retries_status(response.status_code, attempt):
                retry_after = response.headers.get("retry-after")
                self._wait(request, attempt, policy.delay(attempt, retry_after),
                           f"HTTP {response.status_code}")
                attempt += 1
                continue
            raise _error(response)

    def _wait(self, request: ApiRequest, attempt: int, delay: float, reason: str) -> None:
        log.info("retrying %s %s in %.2fs (attempt %d failed: %s; Idempotency-Key %s)",
                 request.method, request.path, delay, attempt + 1, reason,
                 request.idempotency_key)
        self._sleep(delay)


class _HttpxPoster:
    def __init__(self, transport: Transport, path: str):
        self._transport = transport
        self._path = path

    def post(self, body: bytes) -> bytes:
        return self._transport._send_with_retries(ApiRequest.post(self._path, body)).content

    def close(self) -> None:
        pass


def _error(response: httpx.Response) -> MeteredError:
    try:
        body = decode_untyped(response.content) if response.content else None
    except msgspec.DecodeError:
        body = None
    return error_from_answer(response.status_code, body, response.headers.get("request-id"))
