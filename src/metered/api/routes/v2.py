"""Stripe's v2 billing endpoints: meter event sessions, the stream, events and adjustments.

v2 speaks JSON and ISO 8601 times. The stream is authenticated by a session token and answers
per event (Stripe answers asynchronously; metered validates synchronously and says so).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from metered.api import limits
from metered.api.http import Request, Response, encode_json
from metered.api.routes.meter_events import (
    adjustment_params,
    batch_body,
    default_identifier,
    duplicate_error,
    ingest_batch,
)
from metered.clock import now_ms, now_seconds
from metered.errors import InvalidRequestError, MeteredError
from metered.ingest.adjustments import Adjustment, cancel_event
from metered.ingest.events import EventResult
from metered.ingest.sessions import MeterEventSession, create_session
from metered.ingest.validation import validate_event

if TYPE_CHECKING:
    from metered.api.app import App

MAX_STREAM_EVENTS = limits.MAX_BATCH_EVENTS


def iso(seconds: float) -> str:
    return (
        datetime.fromtimestamp(seconds, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def adjustment_v2(adjustment: Adjustment) -> dict[str, Any]:
    return {
        "id": adjustment.id,
        "object": "v2.billing.meter_event_adjustment",
        "cancel": {"identifier": adjustment.identifier},
        "created": iso(adjustment.created_ms / 1000),
        "event_name": adjustment.event_name,
        "livemode": adjustment.livemode,
        "status": "complete",
        "type": "cancel",
    }


def register(app: App) -> None:
    async def create_session_handler(request: Request) -> Response:
        caller = request.require_caller
        request.params().reject_unknown(())

        def render(session: MeterEventSession) -> Response:
            return Response.json(
                {
                    "id": session.id,
                    "object": "v2.billing.meter_event_session",
                    "authentication_token": session.token,
                    "created": iso(session.created),
                    "expires_at": iso(session.expires_at),
                    "livemode": session.livemode,
                }
            )

        _, response = await app.write(request, lambda conn: create_session(conn, caller), render)
        return response

    async def stream(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("events",))
        events = params.raw("events")
        if not isinstance(events, list) or not events:
            raise InvalidRequestError(
                "events must be a non-empty array.", param="events", code="parameter_missing"
            )
        if len(events) > MAX_STREAM_EVENTS:
            raise InvalidRequestError(
                f"A request can hold at most {MAX_STREAM_EVENTS} events.",
                param="events",
                code="batch_too_large",
            )
        results, failed = await ingest_batch(app, request, events)
        if failed is not None:
            return failed
        return Response.json(batch_body(results), status=202)

    async def create_event(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("event_name", "payload", "identifier", "timestamp"))
        caller = request.require_caller
        now = now_seconds()
        try:
            event = validate_event(
                params.data, caller, app.engine.ingest_context(), now,
                default_identifier=default_identifier(request.idempotency_key),
            )
        except MeteredError as exc:
            app.engine.error_reports.add(caller.account_pk, caller.livemode,
                                         params.data.get("event_name"), exc.code, exc.message,
                                         params.data.get("identifier"), request.request_id, now)
            raise
        created = now_ms() / 1000

        def render(outcome: list[EventResult]) -> Response:
            if outcome[0].status == "duplicate":
                err = duplicate_error(event)
                return Response(err.status, encode_json(err.to_wire()))
            return Response.json(
                {
                    "object": "v2.billing.meter_event",
                    "created": iso(created),
                    "event_name": event.meter.event_name,
                    "identifier": event.identifier,
                    "livemode": event.meter.livemode,
                    "payload": params.data.get("payload"),
                    "timestamp": iso(event.ts),
                }
            )

        _, response = await app.write_events(request, [event], render)
        return response

    async def adjust(request: Request) -> Response:
        caller = request.require_caller
        event_name, identifier = adjustment_params(request.params())
        _, response = await app.write(
            request,
            lambda conn: cancel_event(
                conn, app.engine.writer.applier, caller, event_name, identifier
            ),
            lambda adjustment: Response.json(adjustment_v2(adjustment)),
        )
        return response

    router = app.router
    router.add("POST", "/v2/billing/meter_event_session", create_session_handler)
    router.add("POST", "/v2/billing/meter_event_stream", stream, auth="session",
               max_body=limits.MAX_BATCH_BODY_BYTES, ingest=True)
    router.add("POST", "/v2/billing/meter_events", create_event, ingest=True)
    router.add("POST", "/v2/billing/meter_event_adjustments", adjust)
