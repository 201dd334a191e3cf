"""/v1/billing/alerts: create, retrieve, list, activate, deactivate, archive."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from metered.api.expand import check_expand
from metered.api.http import Request, Response
from metered.api.pagination import list_envelope, page_request
from metered.billing import alerts as domain
from metered.billing.clock_time import customer_time
from metered.billing.customers import get_customer
from metered.clock import now_seconds
from metered.errors import invalid_param
from metered.metering.meters import get_meter

if TYPE_CHECKING:
    import sqlite3

    from metered.api.app import App

URL = "/v1/billing/alerts"


def register(app: App) -> None:
    def answer(wire: dict[str, Any]) -> Response:
        return Response.json(wire)

    async def create(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("alert_type", "title", "usage_threshold"))
        check_expand(params, "billing.alert")
        params.str("alert_type", required=True, choices=("usage_threshold",))
        title = params.req_str("title", max_length=256)
        threshold = params.dict("usage_threshold", required=True)
        assert threshold is not None
        threshold.reject_unknown(("filters", "gte", "meter", "recurrence"))
        threshold.str("recurrence", required=True, choices=("one_time",))
        meter_id = threshold.req_str("meter", max_length=100)
        raw = threshold.str("gte", required=True, max_length=40)
        try:
            gte = Decimal(raw or "")
        except InvalidOperation:
            gte = Decimal(-1)
        if not gte.is_finite() or gte < 0 or gte > Decimal(10) ** 18:
            raise invalid_param(threshold.name("gte"), "gte must be a non-negative number.")
        customer_id = None
        for entry in threshold.dict_list("filters", max_items=1):
            entry.reject_unknown(("customer", "type"))
            entry.str("type", required=True, choices=("customer",))
            customer_id = entry.req_str("customer", max_length=100)

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            meter = get_meter(conn, caller, meter_id)
            customer = (get_customer(conn, caller, customer_id, allow_deleted=False)
                        if customer_id else None)
            at = customer_time(conn, customer.pk) if customer else now_seconds()
            alert = domain.create_alert(conn, caller, title, meter.pk,
                                        customer.pk if customer else None, gte, at)
            return domain.alert_wire(conn, alert)

        _, response = await app.write(request, run, answer)
        return response

    async def retrieve(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(())
        check_expand(params, "billing.alert")
        conn = app.engine.reader()
        return answer(domain.alert_wire(conn, domain.get_alert(conn, request.require_caller,
                                                               request.path_params["id"])))

    async def list_(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("alert_type", "meter", "limit", "starting_after",
                               "ending_before"))
        check_expand(params, "billing.alert", is_list=True)
        params.str("alert_type", choices=("usage_threshold",))
        caller = request.require_caller
        conn = app.engine.reader()
        page = page_request(params, conn, "billing_alerts", caller)
        meter_id = params.str("meter", max_length=100)
        meter_pk = get_meter(conn, caller, meter_id).pk if meter_id else None
        alerts, has_more = domain.list_alerts(conn, caller, page, meter_pk)
        return answer(list_envelope(URL, [domain.alert_wire(conn, a) for a in alerts],
                                    has_more))

    def transition(action: str) -> Any:
        async def handler(request: Request) -> Response:
            caller = request.require_caller
            params = request.params()
            params.reject_unknown(())
            check_expand(params, "billing.alert")
            alert_id = request.path_params["id"]

            def run(conn: sqlite3.Connection) -> dict[str, Any]:
                return domain.alert_wire(conn, domain.change_alert_status(conn, caller,
                                                                          alert_id, action))

            _, response = await app.write(request, run, answer)
            return response
        return handler

    app.router.add("POST", URL, create)
    app.router.add("GET", URL, list_)
    app.router.add("GET", URL + "/{id}", retrieve)
    for action in domain.TRANSITIONS:
        app.router.add("POST", f"{URL}/{{id}}/{action}", transition(action))
