"""/v1/test_helpers/test_clocks: create, retrieve, list, delete (test mode only)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metered.api.expand import check_expand
from metered.api.http import Request, Response
from metered.api.pagination import list_envelope, page_request
from metered.billing import test_clocks as domain
from metered.errors import invalid_param

if TYPE_CHECKING:
    from metered.api.app import App

OBJECT = "test_helpers.test_clock"
URL = "/v1/test_helpers/test_clocks"


def register(app: App) -> None:
    def render(clock: domain.TestClock) -> Response:
        return Response.json(clock.to_wire())

    async def create(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("frozen_time", "name", "customer"))
        check_expand(params, OBJECT)
        if "customer" in params:
            raise invalid_param(
                "customer", "Attaching an existing customer to a new test clock is not supported:"
                " create the customer with test_clock set to the clock's id instead.",
            )
        frozen_time = params.int("frozen_time", required=True)
        assert frozen_time is not None
        domain.check_frozen_time(frozen_time)
        name = params.str("name", max_length=domain.MAX_NAME)
        _, response = await app.write(
            request, lambda conn: domain.create_test_clock(conn, caller, frozen_time, name),
            render,
        )
        return response

    async def retrieve(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(())
        check_expand(params, OBJECT)
        return render(domain.get_test_clock(app.engine.reader(), request.require_caller,
                                            request.path_params["id"]))

    async def list_(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("limit", "starting_after", "ending_before"))
        check_expand(params, OBJECT, is_list=True)
        conn = app.engine.reader()
        page = page_request(params, conn, "test_clocks", request.require_caller)
        clocks, has_more = domain.list_test_clocks(conn, request.require_caller, page)
        return Response.json(list_envelope(URL, [c.to_wire() for c in clocks], has_more))

    async def delete(request: Request) -> Response:
        caller = request.require_caller
        request.params().reject_unknown(())
        clock_id = request.path_params["id"]
        result, response = await app.write(
            request, lambda conn: domain.delete_test_clock(conn, caller, clock_id),
            lambda deleted: render(deleted[0]),
        )
        if isinstance(result, tuple):  # its customers are gone: the ingest path must know
            for customer in result[1]:
                app.engine.customers.remember(customer)
        return response

    async def advance(request: Request) -> Response:
        """Runs every billing action due up to the new time before it answers (Stripe's
        advance is asynchronous: this one answers `ready` once done)."""
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("frozen_time",))
        check_expand(params, OBJECT)
        frozen_time = params.int("frozen_time", required=True)
        assert frozen_time is not None
        domain.check_frozen_time(frozen_time)
        clock = await app.engine.billing.advance_clock(caller, request.path_params["id"],
                                                       frozen_time)
        return render(clock)

    app.router.add("POST", URL, create)
    app.router.add("POST", URL + "/{id}/advance", advance)
    app.router.add("GET", URL, list_)
    app.router.add("GET", URL + "/{id}", retrieve)
    app.router.add("DELETE", URL + "/{id}", delete)
