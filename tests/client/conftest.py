"""Fixtures for the client tests: a Client on a fresh account, and a proxy that injects faults.

The proxy stands between the client and the real server on 127.0.0.1. For each request it
follows the next step of its script: forward it, fail it without forwarding (the server never
sees it), or forward it and then lose the answer (the server applied it, the client can't know).
It records every attempt so tests can compare what the retries sent.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from metered.client import Client

from conftest import Server

FORWARD = "forward"
FAIL_503 = "fail_503"  # answer 503 with Retry-After: 0, without forwarding
FAIL_429 = "fail_429"  # answer 429 with Retry-After: 0, without forwarding
LOSE_ANSWER = "lose_answer"  # forward, then answer 502 instead of the server's answer
DROP_AFTER_FORWARD = "drop_after_forward"  # forward, then close the connection, no answer


@dataclass
class Attempt:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    upstream_status: int | None = None
    replayed: bool = False


@dataclass
class FaultProxy:
    upstream: str
    script: list[str] = field(default_factory=list)  # steps for the coming requests, in order
    attempts: list[Attempt] = field(default_factory=list)
    url: str = ""
    strip_idempotency_key: bool = False

    def next_step(self) -> str:
        return self.script.pop(0) if self.script else FORWARD


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            attempt = Attempt(self.command, self.path, {k.lower(): v for k, v in
                                                        self.headers.items()}, body)
            proxy.attempts.append(attempt)
            step = proxy.next_step()
            if step == FAIL_503:
                return self._answer(503, b'{"error": {"type": "api_error", "message": "busy"}}')
            if step == FAIL_429:
                return self._answer(429, b'{"error": {"type": "rate_limit_error",'
                                         b' "message": "slow down"}}')
            headers = {k: v for k, v in attempt.headers.items()
                       if k in ("authorization", "content-type", "idempotency-key")}
            if proxy.strip_idempotency_key:
                headers.pop("idempotency-key", None)
            upstream = httpx.request(self.command, proxy.upstream + self.path, content=body,
                                     headers=headers, timeout=30)
            attempt.upstream_status = upstream.status_code
            attempt.replayed = upstream.headers.get("idempotent-replayed") == "true"
            if step == LOSE_ANSWER:
                return self._answer(502, b"<html>bad gateway</html>")
            if step == DROP_AFTER_FORWARD:
                self.close_connection = True
                return None
            extra = {"Request-Id": upstream.headers.get("request-id", "")}
            return self._answer(upstream.status_code, upstream.content, extra)

        def _answer(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if status in (429, 503):
                self.send_header("Retry-After", "0")
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = _relay

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def fault_proxy(server: Server) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream=server.base_url)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    httpd.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield proxy
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def account_key(server: Server) -> str:
    return server.new_account_key()


@pytest.fixture
def client(server: Server, account_key: str) -> Iterator[Client]:
    """A Client on a brand-new account, straight to the server."""
    with Client(api_key=account_key, base_url=server.base_url) as c:
        yield c


@pytest.fixture
def setup(server: Server, account_key: str) -> tuple[str, str]:
    """(customer id, meter id) on a fresh account, made without the proxy."""
    with Client(api_key=account_key, base_url=server.base_url) as direct:
        customer = direct.customers.create(name="retry").id
        meter = direct.meters.create(display_name="Tokens", event_name="tokens").id
    return customer, meter
