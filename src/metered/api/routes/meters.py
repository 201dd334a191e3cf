"""/v1/billing/meters: create, retrieve, update, list, (de|re)activate, event_summaries.

Native: `dimension_payload_keys` on create, `group_by[]` on event_summaries, and
GET /v1/metered/meters/{id}/usage for every group at once, unpaginated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metered.api.expand import check_expand
from metered.api.http import Request, Response, json_number
from metered.api.pagination import list_envelope, page_limit, page_request
from metered.api.params import Params
from metered.billing.customers import get_customer
from metered.errors import InvalidRequestError, NotFoundError, invalid_param, missing_param
from metered.metering import meters as domain
from metered.metering.summaries import Summary, SummaryQuery, summarize

if TYPE_CHECKING:
    from metered.api.app import App

MAX_USAGE_GROUPS = 100_000
SUMMARY_PARAMS = ("customer", "start_time", "end_time", "value_grouping_window", "group_by")


def _spec(params: Params) -> domain.MeterSpec:
    params.reject_unknown((
        "display_name", "event_name", "default_aggregation", "customer_mapping",
        "value_settings", "event_time_window", "dimension_payload_keys",
    ))
    aggregation = params.dict("default_aggregation", required=True)
    assert aggregation is not None
    formula = aggregation.req_str("formula", choices=domain.FORMULAS)
    mapping = params.dict("customer_mapping")
    customer_key = "stripe_customer_id"
    if mapping is not None:
        mapping.str("type", choices=("by_id",))
        customer_key = mapping.req_str("event_payload_key", max_length=100)
    value_settings = params.dict("value_settings")
    value_key = "value"
    if value_settings is not None:
        value_key = value_settings.req_str("event_payload_key", max_length=100)
    return domain.MeterSpec(
        display_name=params.req_str("display_name", max_length=250),
        event_name=params.req_str("event_name", max_length=100),
        formula=formula,
        customer_key=customer_key,
        value_key=value_key,
        dimension_keys=tuple(params.str_list("dimension_payload_keys", max_items=20)),
        event_time_window=params.str("event_time_window", choices=domain.EVENT_TIME_WINDOWS),
    )


def _aligned(params: Params, key: str, unit: int, unit_name: str) -> int:
    value = params.int(key, required=True, minimum=0, maximum=253_402_300_799)
    assert value is not None
    if value % unit:
        raise invalid_param(key, f"{key} must be aligned with {unit_name} boundaries.")
    return value


def summary_query(params: Params, meter: domain.Meter, customer_pk: int | None
                  ) -> SummaryQuery:
    window = params.str("value_grouping_window", choices=("hour", "day"))
    unit, unit_name = {None: (60, "minute"), "hour": (3600, "hour"), "day": (86400, "day")}[window]
    start = _aligned(params, "start_time", unit, unit_name)
    end = _aligned(params, "end_time", unit, unit_name)
    if end <= start:
        raise invalid_param("end_time", "end_time must be after start_time.")
    if window is not None and (end - start) // unit > 100_000:
        raise invalid_param("end_time", "The range holds too many windows for this grouping.")
    group_by = tuple(params.str_list("group_by", max_items=domain.MAX_DIMENSIONS))
    for key in group_by:
        if key not in meter.dimension_keys:
            raise invalid_param(
                "group_by",
                f"'{key}' is not a dimension of this meter (declared: "
                f"{', '.join(meter.dimension_keys) or 'none'}).",
            )
    return SummaryQuery(meter=meter, customer_pk=customer_pk, start=start, end=end,
                        window=window, group_by=group_by)


def summary_wire(summary: Summary, meter: domain.Meter, customer_id: str | None
                 ) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": summary.summary_id(meter, customer_id),
        "object": "billing.meter_event_summary",
        "aggregated_value": json_number(summary.value),
        "end_time": summary.end,
        "livemode": meter.livemode,
        "meter": meter.id,
        "start_time": summary.start,
    }
    if summary.dimensions is not None:
        out["dimensions"] = summary.dimensions
    return out


def register(app: App) -> None:
    def render(meter: domain.Meter) -> Response:
        return Response.json(meter.to_wire())

    async def remember_and_answer(request: Request, run: Any) -> Response:
        result, response = await app.write(request, run, render)
        if isinstance(result, domain.Meter):
            app.engine.meters.remember(result)
        return response

    async def create(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        check_expand(params, "billing.meter")
        spec = _spec(params)
        return await remember_and_answer(
            request, lambda conn: domain.create_meter(conn, caller, spec)
        )

    async def retrieve(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(())
        check_expand(params, "billing.meter")
        meter = domain.get_meter(app.engine.reader(), request.require_caller,
                                 request.path_params["id"])
        return render(meter)

    async def update(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        check_expand(params, "billing.meter")
        params.reject_unknown(("display_name",))
        display_name = params.str("display_name", max_length=250)
        if display_name == "":  # required on create, so it can't be emptied on update
            raise invalid_param("display_name", "display_name must not be empty.")
        meter_id = request.path_params["id"]
        return await remember_and_answer(
            request, lambda conn: domain.update_meter(conn, caller, meter_id, display_name)
        )

    def status_change(active: bool) -> Any:
        async def handler(request: Request) -> Response:
            caller = request.require_caller
            params = request.params()
            params.reject_unknown(())
            check_expand(params, "billing.meter")
            meter_id = request.path_params["id"]
            return await remember_and_answer(
                request, lambda conn: domain.set_meter_status(conn, caller, meter_id, active)
            )

        return handler

    async def list_(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("limit", "starting_after", "ending_before", "status"))
        check_expand(params, "billing.meter", is_list=True)
        conn = app.engine.reader()
        page = page_request(params, conn, "meters", request.require_caller)
        status = params.str("status", choices=("active", "inactive"))
        meters, has_more = domain.list_meters(conn, request.require_caller, page, status)
        return Response.json(
            list_envelope("/v1/billing/meters", [m.to_wire() for m in meters], has_more)
        )

    def _meter_and_customer(request: Request, params: Params, required: bool
                            ) -> tuple[domain.Meter, int | None, str | None]:
        conn = app.engine.reader()
        caller = request.require_caller
        meter = domain.get_meter(conn, caller, request.path_params["id"])
        customer_id = params.str("customer")
        if customer_id is None:
            if required:
                raise missing_param("customer")
            return meter, None, None
        try:
            customer = get_customer(conn, caller, customer_id)
        except NotFoundError:
            raise NotFoundError(f"No such customer: '{customer_id}'", param="customer") from None
        return meter, customer.pk, customer.id

    async def event_summaries(request: Request) -> Response:
        params = request.params()
        params.reject_unknown((*SUMMARY_PARAMS, "limit", "starting_after", "ending_before"))
        check_expand(params, "billing.meter_event_summary", is_list=True)
        meter, customer_pk, customer_id = _meter_and_customer(request, params, required=True)
        query = summary_query(params, meter, customer_pk)
        limit = page_limit(params)
        summaries = [
            summary_wire(s, meter, customer_id)
            for s in summarize(app.engine.reader(), query, app.engine.writer.applier.unflushed)
        ]
        after, before = params.str("starting_after"), params.str("ending_before")
        ids = [s["id"] for s in summaries]
        if after:
            if after not in ids:
                raise NotFoundError(f"No such object: '{after}'", param="starting_after")
            page = summaries[ids.index(after) + 1 :]
            data, has_more = page[:limit], len(page) > limit
        elif before:
            if before not in ids:
                raise NotFoundError(f"No such object: '{before}'", param="ending_before")
            page = summaries[: ids.index(before)]
            data, has_more = page[-limit:], len(page) > limit
        else:
            data, has_more = summaries[:limit], len(summaries) > limit
        url = f"/v1/billing/meters/{meter.id}/event_summaries"
        return Response.json(list_envelope(url, data, has_more))

    async def usage(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(SUMMARY_PARAMS)
        meter, customer_pk, customer_id = _meter_and_customer(request, params, required=False)
        query = summary_query(params, meter, customer_pk)
        summaries = summarize(app.engine.reader(), query, app.engine.writer.applier.unflushed)
        if len(summaries) > MAX_USAGE_GROUPS:
            raise InvalidRequestError(
                f"The query returns more than {MAX_USAGE_GROUPS} groups: narrow it.",
                code="too_many_groups",
            )
        return Response.json({
            "object": "metered.usage",
            "meter": meter.id,
            "customer": customer_id,
            "start_time": query.start,
            "end_time": query.end,
            "value_grouping_window": query.window,
            "group_by": list(query.group_by),
            "formula": meter.formula,
            "data": [
                {"start_time": s.start, "end_time": s.end, "dimensions": s.dimensions,
                 "aggregated_value": json_number(s.value)}
                for s in summaries
            ],
        })

    router = app.router
    router.add("POST", "/v1/billing/meters", create)
    router.add("GET", "/v1/billing/meters", list_)
    router.add("GET", "/v1/billing/meters/{id}", retrieve)
    router.add("POST", "/v1/billing/meters/{id}", update)
    router.add("POST", "/v1/billing/meters/{id}/deactivate", status_change(False))
    router.add("POST", "/v1/billing/meters/{id}/reactivate", status_change(True))
    router.add("GET", "/v1/billing/meters/{id}/event_summaries", event_summaries)
    router.add("GET", "/v1/metered/meters/{id}/usage", usage)
