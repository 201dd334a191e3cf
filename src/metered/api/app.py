"""The ASGI application: routing, authentication, idempotency and the one error mapping."""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import secrets
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Any

from metered.accounts import Caller, authenticate_key, hash_key
from metered.api import idempotency
from metered.api.admission import IngestAdmission, Reservation, default_budget_mb
from metered.api.fast_events import FastEvents
from metered.api.http import Request, Response, Router
from metered.api.rate_limits import RateLimits
from metered.api.responses import (
    error_response,
    render_outcome,
    response_headers,
    server_timing,
    storing,
)
from metered.distributed.consistency import CONSISTENCY_HEADER, consistency_token
from metered.distributed.consistency import decode as decode_token
from metered.engine import Engine
from metered.errors import (
    AuthenticationError,
    InvalidRequestError,
    MeteredError,
    NotFoundError,
    PayloadTooLargeError,
)
from metered.ingest.columnar import ParsedRequest
from metered.ingest.events import EventResult, ValidatedEvent
from metered.ingest.retention import run_retention
from metered.ingest.writer import WriteRequest
from metered.ops.logs import REQUEST_ID

log = logging.getLogger("metered.api")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


MAX_CACHED_CALLERS = 10_000  # keys and meter event sessions, each
KEY_CACHE_SECONDS = 5.0  # a revoked key works at most this long on a running server


class App:
    def __init__(self, engine: Engine, *, manage_engine: bool = True,
                 rate_limits: RateLimits | None = None, memory_budget_mb: int | None = None):
        self.engine = engine
        self.rate_limits = rate_limits or RateLimits()
        self.rate_limits.processes = engine.api_processes
        # Ingest's memory budget: 429/503 with Retry-After instead of unbounded queues.
        self.admission = IngestAdmission(
            (memory_budget_mb or default_budget_mb()) << 20, engine.writer)
        engine.metrics.watch_admission(self.admission)
        self.manage_engine = manage_engine
        self.router = Router()
        self.in_flight = idempotency.InFlight()
        self._callers: dict[str, tuple[Caller, float]] = {}  # by header: (caller, checked at)
        self.sessions: dict[bytes, tuple[Caller, int]] = {}
        self._retention: asyncio.Task[None] | None = None
        self._billing: asyncio.Task[None] | None = None
        self._webhooks: asyncio.Task[None] | None = None
        # Request ids: unique, not secret; a random prefix per process and a counter (one
        # urandom call per request cost singles ~3% of their time).
        prefix = secrets.token_hex(4)
        self.next_request_id = (f"req_{prefix}{n:08x}" for n in itertools.count(1)).__next__
        # POST /v1/billing/meter_events served by the HTTP protocol (api.server, fast_events).
        self.fast_events = FastEvents(self)
        from metered.api.routes import register_all  # noqa: PLC0415 - routes import App

        register_all(self)

    # --- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.manage_engine:
                    self.engine.start()
                self._retention = asyncio.create_task(run_retention(self.engine.writer))
                self._billing = asyncio.create_task(self.engine.billing.run_forever())
                self._webhooks = asyncio.create_task(self.engine.webhooks.run_forever())
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for task in (self._retention, self._billing, self._webhooks):
                    if task is not None:
                        task.cancel()
                if self.manage_engine:
                    self.engine.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # HEAD is GET without the body (uvicorn drops it and keeps the content-length).
        method = "GET" if scope["method"] == "HEAD" else scope["method"]
        path = scope["path"]
        request_id = self.next_request_id()
        REQUEST_ID.set(request_id)  # in this request's task: its log lines carry it
        try:
            response = await self._dispatch(scope, receive, method, path, request_id)
        except MeteredError as exc:
            response = error_response(exc)
        except Exception:
            log.exception("unhandled error on %s %s (%s)", method, path, request_id)
            response = error_response(MeteredError("An unexpected error occurred."))
        self.engine.metrics.responses.labels(f"{response.status // 100}xx").inc()
        await send({"type": "http.response.start", "status": response.status,
                    "headers": response_headers(response, request_id)})
        await send({"type": "http.response.body", "body": response.body})

    async def _dispatch(self, scope: Scope, receive: Receive, method: str, path: str,
                        request_id: str) -> Response:
        route, path_params, path_exists = self.router.match(method, path)
        if route is None:
            if path_exists:
                raise InvalidRequestError(f"{scope['method']} is not allowed on {path}.",
                                          code="method_not_allowed")
            raise NotFoundError(f"Unrecognized request URL ({scope['method']}: {path}).",
                                param=None, code="resource_missing")
        # ASGI servers send header names in lower case.
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"")
        token, query = consistency_token(headers, query)
        request = Request(method, path, query, headers, b"", path_params,
                          request_id=request_id)
        writer = self.engine.writer
        if route.ingest:  # the group commit in progress may wait for it (writer.expect)
            writer.expect(1)
            request.expected = True
        reserved: Reservation | None = None
        try:
            # The key, the rate limits and the ingest budget before the body is read: a
            # refused request costs its headers only.
            if route.auth == "secret":
                request.caller = self.authenticate(headers)
                self.rate_limits.check(request.caller, headers.get("authorization"),
                                       route.ingest)
            elif route.auth == "session":
                request.caller = self.authenticate_session(headers)
                self.rate_limits.check(request.caller, headers.get("authorization"),
                                       route.ingest)
            if route.ingest:
                reserved = self.admission.reserve_body(headers.get("content-length"),
                                                       route.max_body)
                receive = reserved.receive(receive)
            request.body = await _read_body(receive, route.max_body)
            if request.caller is not None and not route.ingest:  # read your writes
                await self.engine.read_barrier(
                    request.caller, decode_token(token) if token is not None else None)
            if method == "POST" and request.caller is not None and "idempotency-key" in headers:
                response = await self._idempotent(request, route.handler)
            else:
                response = await route.handler(request)
        finally:
            if request.expected:  # it left without handing events to the writer
                writer.expect(-1)
            if reserved is not None:  # answered: its memory is free again
                reserved.release()
        if request.consistency is not None:
            response.headers.append((CONSISTENCY_HEADER, request.consistency.encode()))
        if request.timings:
            response.headers.append((b"server-timing", server_timing(request.timings)))
        return response

    async def _idempotent(self, request: Request, handler: Callable[[Request], Awaitable[Response]]
                          ) -> Response:
        key = request.headers["idempotency-key"]
        idem, token, replay = self.claim_idempotency(request.require_caller, key, request.method,
                                                     request.path, request.body)
        if replay is not None:
            return replay
        try:
            request.idempotency_key = key
            request.idempotency = idem
            return await handler(request)
        finally:
            self.in_flight.release(token)

    def claim_idempotency(self, caller: Caller, key: str, method: str, path: str, body: bytes
                          ) -> tuple[idempotency.Idempotency, Any, Response | None]:
        """A POST with an Idempotency-Key (the ASGI path's and the fast path's): the key is
        checked and claimed (another request with it in flight is refused), and its stored
        answer looked up. Returns (idem, claim, the stored answer replayed or None); with an
        answer the claim is released already, else the caller releases it once answered."""
        if not key or len(key) > idempotency.MAX_KEY_LENGTH:
            raise InvalidRequestError(
                f"Idempotency-Key must be 1 to {idempotency.MAX_KEY_LENGTH} characters.",
                param="Idempotency-Key",
            )
        idem = idempotency.Idempotency(caller, key, idempotency.fingerprint(method, path, body))
        token = self.in_flight.claim(idem)
        try:
            stored = idempotency.lookup(self.engine.reader(), idem)
        except BaseException:
            self.in_flight.release(token)
            raise
        if stored is None:
            return idem, token, None
        self.in_flight.release(token)
        return idem, token, Response(stored.status, stored.body,
                                     [(b"idempotent-replayed", b"true"),
                                      (b"original-request", b"stored")])

    def billing_running(self) -> bool:
        """The billing scheduler's task runs (started with the server's lifespan)."""
        return self._billing is not None and not self._billing.done()

    # --- authentication ----------------------------------------------------------------------

    def authenticate(self, headers: dict[str, str]) -> Caller:
        # By the header as sent: a known key costs one lookup (no parsing, no hash), checked
        # against the store again after KEY_CACHE_SECONDS, so that a key revoked (metered keys
        # revoke|roll, in another process) stops working within them.
        header = headers.get("authorization", "")
        cached = self._callers.get(header)
        if cached is not None and time.monotonic() - cached[1] < KEY_CACHE_SECONDS:
            return cached[0]
        secret = _bearer(headers)
        if not secret.startswith(("sk_test_", "sk_live_")):
            raise AuthenticationError(
                "Invalid API Key provided: use a secret key (sk_test_... or sk_live_...).",
                code="api_key_invalid",
            )
        caller = authenticate_key(self.engine.reader(), secret)
        if caller is None:
            raise AuthenticationError(
                f"Invalid API Key provided: {secret[:8]}{'*' * 8}{secret[-4:]}",
                code="api_key_invalid",
            )
        if len(self._callers) >= MAX_CACHED_CALLERS:
            self._callers.clear()
        self._callers[header] = (caller, time.monotonic())
        return caller

    def authenticate_session(self, headers: dict[str, str]) -> Caller:
        from metered.ingest.sessions import find_session  # noqa: PLC0415

        token = _bearer(headers)
        digest = hash_key(token)
        cached = self.sessions.get(digest)
        if cached is None:
            found = find_session(self.engine.reader(), digest)
            if found is None:
                raise AuthenticationError(
                    "Invalid meter event session token: create one with POST"
                    " /v2/billing/meter_event_session.",
                    code="invalid_authentication_token",
                )
            if len(self.sessions) >= MAX_CACHED_CALLERS:  # sessions expire; their entries too
                self.sessions.clear()
            cached = self.sessions[digest] = found
        caller, expires_at = cached
        from metered.clock import now_seconds  # noqa: PLC0415

        if now_seconds() >= expires_at:
            raise AuthenticationError(
                "The meter event session has expired: create a new one.",
                code="expired_authentication_token",
            )
        return caller

    # --- writing -----------------------------------------------------------------------------

    async def write(self, request: Request, run: Callable[[sqlite3.Connection], Any],
                    render: Callable[[Any], Response]) -> tuple[Any, Response]:
        """Run `run` in the next group commit; answer with `render(result)` once durable."""
        return await self._write(request, WriteRequest(run=run), render)

    async def write_events(self, request: Request, events: list[ValidatedEvent],
                           render: Callable[[list[EventResult]], Response]
                           ) -> tuple[list[EventResult] | MeteredError, Response]:
        return await self._write(request, WriteRequest(events=events), render)


    async def write_parsed(self, request: Request, parsed: ParsedRequest,
                           render: Callable[[Any], Response]) -> tuple[Any, Response]:
        """Apply a batch a parse worker validated (ingest.columnar); answer once durable."""
        return await self._write(request, WriteRequest(parsed=parsed), render)

    async def _write(self, request: Request, write: WriteRequest,
                     render: Callable[[Any], Response]) -> tuple[Any, Response]:
        write.finish = storing(request.idempotency, render)
        write.expected, request.expected = request.expected, False
        outcome = await self.engine.writer.submit(write)
        request.timings += write.stages()
        if write.consistency is not None:
            request.consistency = write.consistency
        return outcome, render_outcome(outcome, render)


def _bearer(headers: dict[str, str]) -> str:
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and value.strip():
        return value.strip()
    if scheme == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            decoded = ""
        user = decoded.partition(":")[0]
        if user:
            return user
    raise AuthenticationError(
        "You did not provide an API key. You need to provide your API key in the Authorization"
        " header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
    )


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(
                f"The request body is larger than {limit} bytes.", code="request_too_large"
            )
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def create_app(engine: Engine, *, manage_engine: bool = True,
               rate_limits: RateLimits | None = None,
               memory_budget_mb: int | None = None) -> App:
    return App(engine, manage_engine=manage_engine, rate_limits=rate_limits,
               memory_budget_mb=memory_budget_mb)
