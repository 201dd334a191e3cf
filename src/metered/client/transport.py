"""HTTP with retries: backoff with full jitter on network errors, 429 and 5xx, honouring
Retry-After. Every POST carries an Idempotency-Key that is the same on each retry."""

from __future__ import annotations

import random
import time
import uuid
from typing import Any

import httpx
import msgspec

from metered.client.errors import APIConnectionError, MeteredError, error_from_body

RETRY_STATUSES = {429, 500, 502, 503, 504}


class Transport:
    def __init__(self, api_key: str, base_url: str, *, timeout: float = 30.0,
                 max_retries: int = 3, backoff: float = 0.25, max_backoff: float = 8.0):
        self.http = httpx.Client(
            base_url=base_url.rstrip("/"), timeout=timeout,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "metered-python"},
        )
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None, idempotency_key: str | None = None) -> Any:
        headers: dict[str, str] = {}
        content: bytes | None = None
        if json is not None:
            content = msgspec.json.encode(json)
            headers["Content-Type"] = "application/json"
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        attempt = 0
        while True:
            try:
                response = self.http.request(method, path, params=params, content=content,
                                             headers=headers)
            except httpx.TransportError as exc:
                if attempt >= self.max_retries:
                    where = self.http.base_url
                    raise APIConnectionError(f"Could not reach {where}: {exc}") from exc
                self._sleep(attempt, None)
                attempt += 1
                continue
            if response.status_code in RETRY_STATUSES and attempt < self.max_retries:
                self._sleep(attempt, response.headers.get("retry-after"))
                attempt += 1
                continue
            return self._decode(response)

    def _sleep(self, attempt: int, retry_after: str | None) -> None:
        delay = random.uniform(0, min(self.max_backoff, self.backoff * 2**attempt))
        if retry_after and retry_after.replace(".", "", 1).isdigit():
            delay = max(delay, min(float(retry_after), 60.0))
        time.sleep(delay)

    @staticmethod
    def _decode(response: httpx.Response) -> Any:
        request_id = response.headers.get("request-id")
        try:
            body = msgspec.json.decode(response.content) if response.content else None
        except msgspec.DecodeError:
            body = None
        if response.status_code >= 400:
            raise error_from_body(response.status_code, body, request_id)
        if body is None and response.content:
            raise MeteredError(f"Invalid JSON from the server (HTTP {response.status_code})",
                               status=response.status_code, request_id=request_id)
        return body
