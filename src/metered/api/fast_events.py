"""The single-event fast path: `POST /v1/billing/meter_events` served from the bytes of one read.

A single event is the API's smallest call and its most frequent. Through the HTTP server and
the ASGI app it cost ~210 µs of the event loop's CPU, nearly all of it around the event: the
HTTP parser's callbacks, the ASGI scope, task and messages, the form decoder, the headers'
dict. A bare protocol answering the same requests costs ~15 µs (docs/benchmarks.md).

So the HTTP protocol (api.server) hands each read that starts with this route's request line
to `FastEvents.serve`. The native extension reads the request whole (native/src/form.rs): the
exact request line, a Content-Length that ends it exactly where the read ends, a form of
`event_name`, `identifier`, `timestamp` and `payload[...]` fields. What it takes is then
served by the route's own code (`prepare_v1`: validation, the answer) and the same group
commit, with the same authentication and Idempotency-Key rules as the ASGI path, and answered
from the writer's callback with one write. Anything else (no extension, a partial or
pipelined read, another field, an encoding it does not take) goes through the HTTP server
and the ASGI app, which stay the reference: tests/api/test_fast_events.py holds the two paths
to the same answers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from metered.accounts import Caller
from metered.api import idempotency
from metered.api.http import Response
from metered.api.responses import (
    error_response,
    render_outcome,
    response_headers,
    storing,
    writer_timing,
)
from metered.api.routes.meter_events import prepare_v1
from metered.distributed.consistency import CONSISTENCY_HEADER
from metered.errors import MeteredError
from metered.ingest.writer import WriteRequest
from metered.native import extension

if TYPE_CHECKING:
    from metered.api.app import App

log = logging.getLogger("metered.api")

REQUEST_LINE = b"POST /v1/billing/meter_events "
_METHOD, _PATH = "POST", "/v1/billing/meter_events"

# (status, headers, body) -> None: writes the answer on the request's connection.
Reply = Callable[[int, list[tuple[bytes, bytes]], bytes], None]


class FastEvents:
    """Serves the requests the native reader takes; see the module's docstring."""

    def __init__(self, app: App):
        self.app = app
        # data -> None, or (authorization, idempotency key, keep-alive, body offset, fields)
        self.read: Callable[[bytes], Any] | None = (
            extension.meter_event_request if extension is not None else None)

    @property
    def enabled(self) -> bool:
        """Without the native extension the protocol never calls `read` or `serve`."""
        return self.read is not None

    def serve(self, request: Any, data: bytes, reply: Reply) -> None:
        """Serve a request `read` took from `data`: `reply` is called once, on the loop, now
        (an error, a replay) or once the event is durable. Never raises."""
        authorization, idempotency_key, _, offset, fields = request
        app = self.app
        request_id = app.next_request_id()

        def answer(response: Response, timing: bytes | None = None) -> None:
            if timing is not None:
                response.headers.append((b"server-timing", timing))
            app.engine.metrics.responses.labels(f"{response.status // 100}xx").inc()
            reply(response.status, response_headers(response, request_id), response.body)

        try:
            caller = app.authenticate({"authorization": authorization})
            app.rate_limits.check(caller, authorization, True)
            idem = token = None
            if idempotency_key is not None:
                idem, token, replay = app.claim_idempotency(caller, idempotency_key, _METHOD,
                                                            _PATH, data[offset:])
                if replay is not None:
                    answer(replay)
                    return
            self._write(fields, data[offset:], caller, idempotency_key, idem, token, answer)
        except MeteredError as exc:
            answer(error_response(exc))
        except Exception:
            log.exception("unhandled error on %s %s (%s)", _METHOD, _PATH, request_id)
            answer(error_response(MeteredError("An unexpected error occurred.")))

    def _write(self, fields: dict[str, Any], body: bytes, caller: Caller,
               idempotency_key: str | None,
               idem: idempotency.Idempotency | None, token: Any,
               answer: Callable[..., None]) -> None:
        """Validate the event and hand it to the group commit; the Idempotency-Key's claim
        (`token`) and the request's share of the ingest budget (api.admission) are released
        once answered, or now if this raises."""
        app = self.app
        charge = 0
        try:
            charge = app.admission.admit(len(body))
            event, render = prepare_v1(app, fields, caller, idempotency_key, body)
            write = WriteRequest(events=[event], finish=storing(idem, render))

            def written(outcome: Any) -> None:
                app.admission.release(charge)
                if token is not None:
                    app.in_flight.release(token)
                try:
                    response = render_outcome(outcome, render)
                except Exception:
                    log.exception("unhandled error on %s %s", _METHOD, _PATH)
                    response = error_response(MeteredError("An unexpected error occurred."))
                if write.consistency is not None:
                    response.headers.append((CONSISTENCY_HEADER, write.consistency.encode()))
                answer(response, writer_timing(write))

            app.engine.writer.submit_nowait(write, written)
        except BaseException:
            if charge:
                app.admission.release(charge)
            if token is not None:
                app.in_flight.release(token)
            raise


def http_answer(status: int, default_headers: list[tuple[bytes, bytes]],
                headers: list[tuple[bytes, bytes]], body: bytes, keep_alive: bool) -> bytes:
    """The bytes uvicorn's protocol writes for this answer (status line, its default headers
    such as Date, ours, `connection: close` when the connection ends), in one piece."""
    parts = [STATUS_LINE[status]]
    for name, value in default_headers:
        parts += (name, b": ", value, b"\r\n")
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts += (b"\r\n", body)
    return b"".join(parts)
