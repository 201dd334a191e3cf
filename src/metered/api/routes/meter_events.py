"""Meter events, v1 and native batches, and v1 meter event adjustments.

POST /v1/billing/meter_events            one event, Stripe's object (duplicate -> 400, as Stripe)
POST /v1/billing/meter_event_adjustments cancel one event by identifier
POST /v1/metered/events/batch            JSON array or NDJSON, up to 10,000 events, an answer each
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from metered.accounts import Caller
from metered.api import limits
from metered.api.expand import check_expand
from metered.api.http import Request, Response, encode_json
from metered.api.params import Params, check_field_count
from metered.clock import now_seconds
from metered.errors import InvalidRequestError, MeteredError, invalid_param, missing_param
from metered.ingest.adjustments import Adjustment, cancel_event
from metered.ingest.batches import Validated, batch_body, decode_batch, validate_events
from metered.ingest.columnar import ALL_ACCEPTED, results_of
from metered.ingest.events import EventResult, ValidatedEvent
from metered.ingest.native_single import native_event
from metered.ingest.parse_pool import ParsedBatch, meters_of
from metered.ingest.validation import validate_event
from metered.metering.meters import Meter

if TYPE_CHECKING:
    from metered.api.app import App

log = logging.getLogger("metered.api")
MAX_BATCH_BYTES = limits.MAX_BATCH_BODY_BYTES


def default_identifier(idempotency_key: str | None) -> str | None:
    """With an Idempotency-Key and no identifier, derive one: a retry can't count twice."""
    if idempotency_key is None:
        return None
    return "idk_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]


def duplicate_error(event: ValidatedEvent) -> InvalidRequestError:
    return InvalidRequestError(
        f"An event already exists with identifier {event.identifier}.",
        code="duplicate_meter_event",
        param="identifier",
    )


def validate_batch(app: App, request: Request, raw_events: list[Any]) -> Validated:
    caller = request.require_caller
    now = now_seconds()
    validated = validate_events(raw_events, caller, app.engine.ingest_context(), now,
                                request.request_id)
    reports = app.engine.error_reports
    for raw, result in zip(raw_events, validated[2], strict=True):
        if result is not None and result.status == "rejected":
            name = raw.get("event_name") if isinstance(raw, dict) else None
            reports.add(caller.account_pk, caller.livemode, name, result.code,
                        result.message or "", result.identifier, request.request_id, now)
    return validated


async def ingest_batch(
    app: App, request: Request, raw_events: list[Any]
) -> tuple[list[EventResult | None], Response | None]:
    return await apply_validated(app, request, validate_batch(app, request, raw_events))


async def ingest_body(app: App, request: Request) -> Response:
    """A batch request: validated in a parse worker and applied column-wise when large,
    in-process otherwise; both answer the same."""
    engine = app.engine
    if engine.parse_pool.wants(request.body):
        started = time.perf_counter()
        parsed = await engine.parse_pool.parse(
            request.body, request.content_type, request.require_caller, now_seconds(),
            engine.ingest_generation, request.request_id,
        )
        request.timings.append(("parse", (time.perf_counter() - started) * 1e3))
        if parsed is not None:
            if parsed.error is not None:
                message, code, param = parsed.error
                raise InvalidRequestError(message, code=code, param=param)
            meters = meters_of(parsed, engine.meters)
            if meters is not None:
                return await apply_parsed_batch(app, request, parsed, meters)
    started = time.perf_counter()
    validated = validate_batch(app, request, decode_batch(request.body, request.content_type))
    request.timings.append(("validate", (time.perf_counter() - started) * 1e3))
    results, failed = await apply_validated(app, request, validated)
    return failed or Response.json(batch_body(results))


async def apply_parsed_batch(app: App, request: Request, parsed: ParsedBatch,
                             meters: dict[int, Meter]) -> Response:
    if parsed.rejected:  # the worker does not send the refused events' names
        caller, now = request.require_caller, now_seconds()
        for _, identifier, code, message, _ in parsed.rejected:
            app.engine.error_reports.add(caller.account_pk, caller.livemode, None, code,
                                         message or "", identifier, request.request_id, now)

    def render(outcome: Any) -> Response:
        if outcome == ALL_ACCEPTED:
            return Response(200, parsed.answer)
        return Response.json(batch_body(results_of(parsed, outcome)))

    if not parsed.keys:  # nothing valid: nothing to write
        return render([])
    _, response = await app.write_parsed(request, (parsed, meters), render)
    return response


async def apply_validated(
    app: App, request: Request, validated: Validated
) -> tuple[list[EventResult | None], Response | None]:
    """Apply the valid events and merge per-event outcomes; the Response is set if the write
    failed."""
    valid, positions, results = validated
    if not valid:
        return results, None

    def render(outcome: list[EventResult]) -> Response:
        merged = list(results)
        for pos, result in zip(positions, outcome, strict=True):
            merged[pos] = result
        return Response.json(batch_body(merged))

    outcome, response = await app.write_events(request, valid, render)
    if isinstance(outcome, MeteredError):
        return results, response
    for pos, result in zip(positions, outcome, strict=True):
        results[pos] = result
    return results, None


def meter_event_v1(event: ValidatedEvent, payload: dict[str, Any], created: int) -> dict[str, Any]:
    return {
        "object": "billing.meter_event",
        "created": created,
        "event_name": event.meter.event_name,
        "identifier": event.identifier,
        "livemode": event.meter.livemode,
        "payload": payload,
        "timestamp": event.ts,
    }


def native_takes(body: bytes | None, data: dict[str, Any]) -> bool:
    """Whether the native check may see this form (the fast path's): it checks every limit of
    an event but the length of payload keys, which only a body longer than that can break."""
    if body is None:
        return False
    payload = data.get("payload")
    return (len(body) <= limits.MAX_PAYLOAD_KEY_LENGTH or type(payload) is not dict
            or all(len(key) <= limits.MAX_PAYLOAD_KEY_LENGTH for key in payload))


def prepare_v1(app: App, data: dict[str, Any], caller: Caller, idempotency_key: str | None,
               body: bytes | None = None
               ) -> tuple[ValidatedEvent, Callable[[list[EventResult]], Response]]:
    """A v1 meter event's decoded form, validated, and how to answer once it is written: the
    route's and the HTTP fast path's (api.fast_events) one definition. With the form's `body`
    (the fast path), the native extension checks a plain event and writes its answer
    (ingest.native_single); validate_event takes any other."""
    ctx = app.engine.ingest_context()
    now = now_seconds()
    if body is not None:  # the fast path's form, which decode_form did not see
        check_field_count(body)
    taken = native_event(body, data, caller, ctx, now) if native_takes(body, data) else None
    if taken is not None:
        event, answer = taken
    else:
        try:
            event = validate_event(data, caller, ctx, now,
                                   default_identifier=default_identifier(idempotency_key))
        except MeteredError as exc:
            app.engine.error_reports.add(caller.account_pk, caller.livemode,
                                         data.get("event_name"), exc.code, exc.message,
                                         data.get("identifier"), "", now)
            raise
        answer = None
        payload = data.get("payload") or {}
        created = now_seconds()

    def render(outcome: list[EventResult]) -> Response:
        if outcome[0].status == "duplicate":
            err = duplicate_error(event)
            return Response(err.status, encode_json(err.to_wire()))
        if answer is not None:
            return Response(200, answer)
        return Response.json(meter_event_v1(event, payload, created))

    return event, render


def adjustment_params(params: Params) -> tuple[str, str]:
    params.reject_unknown(("event_name", "type", "cancel"))
    check_expand(params, "billing.meter_event_adjustment")
    event_name = params.req_str("event_name", max_length=limits.MAX_EVENT_NAME)
    kind = params.str("type") or "cancel"
    if kind != "cancel":
        raise invalid_param("type", "Only type=cancel is supported.")
    cancel = params.dict("cancel")
    if cancel is None:
        raise missing_param("cancel[identifier]")
    identifier = cancel.req_str("identifier", max_length=limits.MAX_IDENTIFIER)
    return event_name, identifier


def register(app: App) -> None:
    async def create_v1(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("event_name", "payload", "identifier", "timestamp"))
        check_expand(params, "billing.meter_event")
        event, render = prepare_v1(app, params.data, request.require_caller,
                                   request.idempotency_key)
        _, response = await app.write_events(request, [event], render)
        return response

    async def adjust_v1(request: Request) -> Response:
        caller = request.require_caller
        event_name, identifier = adjustment_params(request.params())

        def render(adjustment: Adjustment) -> Response:
            return Response.json(adjustment.to_wire_v1())

        _, response = await app.write(
            request,
            lambda conn: cancel_event(
                conn, app.engine.writer.applier, caller, event_name, identifier
            ),
            render,
        )
        return response

    async def batch(request: Request) -> Response:
        return await ingest_body(app, request)

    app.router.add("POST", "/v1/billing/meter_events", create_v1, ingest=True)
    app.router.add("POST", "/v1/billing/meter_event_adjustments", adjust_v1)
    app.router.add("POST", "/v1/metered/events/batch", batch, max_body=MAX_BATCH_BYTES,
                   ingest=True)
