"""/v1/events: list (type, types[], created, delivery_success) and retrieve."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from metered.api.expand import check_expand
from metered.api.http import Request, Response
from metered.api.pagination import list_envelope, page_request
from metered.api.params import Params
from metered.errors import InvalidRequestError, invalid_param
from metered.webhooks import events as domain

if TYPE_CHECKING:
    from metered.api.app import App

OBJECT = "event"
URL = "/v1/events"
_TYPE = re.compile(r"[a-z0-9_.*]{1,100}")


def _type_pattern(value: str, param: str) -> str:
    if not _TYPE.fullmatch(value):
        raise invalid_param(param, f"Invalid {param}: {value[:100]!r} is not an event type"
                            " (lower-case letters, digits, '_', '.', and '*' as a wildcard).")
    return value


def _created(params: Params) -> tuple[tuple[str, int], ...]:
    """`created=<time>` or `created[gt|gte|lt|lte]=<time>`."""
    if isinstance(params.raw("created"), dict):
        bounds = params.dict("created")
        assert bounds is not None
        bounds.reject_unknown(("gt", "gte", "lt", "lte"))
        return tuple((op, value) for op in ("gt", "gte", "lt", "lte")
                     if (value := bounds.int(op, minimum=0)) is not None)
    exact = params.int("created", minimum=0)
    return () if exact is None else (("eq", exact),)


def _filter(params: Params) -> domain.EventFilter:
    event_type = params.str("type", max_length=100)
    types = params.str_list("types", max_items=20)
    if event_type is not None and types:
        raise InvalidRequestError("You may only specify one of these parameters: type, types.",
                                  param="types")
    return domain.EventFilter(
        type=None if event_type is None else _type_pattern(event_type, "type"),
        types=tuple(_type_pattern(t, f"types[{i}]") for i, t in enumerate(types)),
        created=_created(params),
        delivery_success=params.bool("delivery_success"),
    )


def register(app: App) -> None:
    async def retrieve(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(())
        check_expand(params, OBJECT)
        event = domain.get_event(app.engine.reader(), request.require_caller,
                                 request.path_params["id"])
        return Response.json(event.to_wire())

    async def list_(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("limit", "starting_after", "ending_before", "type", "types",
                               "created", "delivery_success"))
        check_expand(params, OBJECT, is_list=True)
        flt = _filter(params)
        conn = app.engine.reader()
        page = page_request(params, conn, "events", request.require_caller)
        events, has_more = domain.list_events(conn, request.require_caller, page, flt)
        return Response.json(list_envelope(URL, [e.to_wire() for e in events], has_more))

    app.router.add("GET", URL, list_)
    app.router.add("GET", URL + "/{id}", retrieve)
