"""/v1/metered/credit_holds (native): authorize, capture, release, retrieve, list."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metered.api.http import Request, Response
from metered.api.pagination import list_envelope, page_request
from metered.billing import credit_holds as domain
from metered.billing.clock_time import customer_time
from metered.billing.customers import get_customer
from metered.errors import invalid_param

if TYPE_CHECKING:
    import sqlite3

    from metered.api.app import App

URL = "/v1/metered/credit_holds"


def register(app: App) -> None:
    def wire(conn: sqlite3.Connection, hold: domain.Hold) -> dict[str, Any]:
        customer_id = conn.execute("SELECT id FROM customers WHERE pk=?",
                                   (hold.customer_pk,)).fetchone()[0]
        return domain.hold_wire(hold, customer_id, customer_time(conn, hold.customer_pk))

    async def authorize(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("customer", "amount", "currency", "expires_in", "metadata"))
        customer_id = params.req_str("customer", max_length=100)
        amount = params.int("amount", required=True, minimum=1, maximum=10**15)
        currency = params.req_str("currency", max_length=3).lower()
        if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
            raise invalid_param("currency", "currency must be a three-letter ISO code.")
        ttl = params.int("expires_in", minimum=1, maximum=domain.MAX_TTL) or domain.DEFAULT_TTL
        metadata = params.metadata() or {}
        reader = app.engine.reader()
        customer = get_customer(reader, caller, customer_id, allow_deleted=False)
        # Rated on a snapshot just before; the hold itself is checked in the writer.
        unbilled = app.engine.billing.unbilled_credit_use(customer.pk).get(currency, 0)

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            at = customer_time(conn, customer.pk)
            assert amount is not None
            hold = domain.authorize(conn, caller, customer.pk, currency, amount, unbilled, ttl,
                                    metadata, at)
            return wire(conn, hold)

        _, response = await app.write(request, run, Response.json)
        return response

    def end(action: str) -> Any:
        async def handler(request: Request) -> Response:
            caller = request.require_caller
            params = request.params()
            params.reject_unknown(("amount",) if action == "capture" else ())
            amount = params.int("amount", minimum=0, maximum=10**15)
            hold_id = request.path_params["id"]

            def run(conn: sqlite3.Connection) -> dict[str, Any]:
                hold = domain.get_hold(conn, caller, hold_id)
                at = customer_time(conn, hold.customer_pk)
                return wire(conn, domain.end_hold(conn, caller, hold_id, action, amount, at))

            _, response = await app.write(request, run, Response.json)
            return response
        return handler

    async def retrieve(request: Request) -> Response:
        request.params().reject_unknown(())
        conn = app.engine.reader()
        return Response.json(wire(conn, domain.get_hold(conn, request.require_caller,
                                                        request.path_params["id"])))

    async def list_(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("customer", "limit", "starting_after", "ending_before"))
        caller = request.require_caller
        conn = app.engine.reader()
        page = page_request(params, conn, "credit_holds", caller)
        customer_id = params.str("customer", max_length=100)
        customer_pk = get_customer(conn, caller, customer_id).pk if customer_id else None
        holds, has_more = domain.list_holds(conn, caller, page, customer_pk)
        return Response.json(list_envelope(URL, [wire(conn, h) for h in holds], has_more))

    app.router.add("POST", URL, authorize)
    app.router.add("GET", URL, list_)
    app.router.add("GET", URL + "/{id}", retrieve)
    app.router.add("POST", URL + "/{id}/capture", end("capture"))
    app.router.add("POST", URL + "/{id}/release", end("release"))
