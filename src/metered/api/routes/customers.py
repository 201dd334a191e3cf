"""/v1/customers: create, retrieve, update, list, delete."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

from metered.api.expand import check_expand
from metered.api.http import Request, Response
from metered.api.pagination import list_envelope, page_request
from metered.api.params import Params
from metered.billing import customers as domain
from metered.billing.test_clocks import get_test_clock_by_pk

if TYPE_CHECKING:
    from metered.api.app import App

FIELDS = ("email", "name", "description")
ACCEPTED = (*FIELDS, "metadata", "phone", "address", "preferred_locales", "invoice_settings",
            "tax_exempt", "shipping", "test_clock", "balance", "invoice_prefix")


def _changes(params: Params) -> domain.CustomerChanges:
    params.reject_unknown(ACCEPTED)
    changes = domain.CustomerChanges(
        email=params.str("email", max_length=512),
        name=params.str("name", max_length=256),
        description=params.str("description", max_length=5000),
        metadata=params.metadata(),
        test_clock=params.str("test_clock", max_length=255),
    )
    changes.provided = {k for k in (*FIELDS, "metadata", "test_clock") if k in params}
    return changes


def _expands_clock(params: Params, *, is_list: bool = False) -> bool:
    return ("data.test_clock" if is_list else "test_clock") in params.str_list("expand")


def _wire(conn: sqlite3.Connection, customer: domain.Customer, expand_clock: bool
          ) -> dict[str, Any]:
    """The customer's object, its test clock's object in place of the id when expanded."""
    if expand_clock and customer.test_clock_pk is not None and not customer.deleted:
        return customer.to_wire(get_test_clock_by_pk(conn, customer.test_clock_pk).to_wire())
    return customer.to_wire()


def register(app: App) -> None:
    def render(result: tuple[domain.Customer, dict[str, Any]]) -> Response:
        return Response.json(result[1])

    async def create(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        check_expand(params, "customer")
        changes = _changes(params)
        expand_clock = _expands_clock(params)

        def run(conn: sqlite3.Connection) -> tuple[domain.Customer, dict[str, Any]]:
            customer = domain.create_customer(conn, caller, changes,
                                              request_id=request.request_id)
            return customer, _wire(conn, customer, expand_clock)

        result, response = await app.write(request, run, render)
        if isinstance(result, tuple):
            app.engine.customers.remember(result[0])
        return response

    async def retrieve(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(())
        check_expand(params, "customer")
        conn = app.engine.reader()
        customer = domain.get_customer(conn, request.require_caller, request.path_params["id"])
        return Response.json(_wire(conn, customer, _expands_clock(params)))

    async def update(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        check_expand(params, "customer")
        changes = _changes(params)
        customer_id = request.path_params["id"]
        expand_clock = _expands_clock(params)

        def run(conn: sqlite3.Connection) -> tuple[domain.Customer, dict[str, Any]]:
            customer = domain.update_customer(conn, caller, customer_id, changes,
                                              request_id=request.request_id)
            return customer, _wire(conn, customer, expand_clock)

        _, response = await app.write(request, run, render)
        return response

    async def delete(request: Request) -> Response:
        caller = request.require_caller
        customer_id = request.path_params["id"]
        result, response = await app.write(
            request, lambda conn: domain.delete_customer(conn, caller, customer_id,
                                                         request_id=request.request_id),
            lambda customer: Response.json(customer.to_wire()),
        )
        if isinstance(result, domain.Customer):
            app.engine.customers.remember(result)
        return response

    async def list_(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("limit", "starting_after", "ending_before", "email"))
        check_expand(params, "customer", is_list=True)
        conn = app.engine.reader()
        page = page_request(params, conn, "customers", request.require_caller)
        customers, has_more = domain.list_customers(
            conn, request.require_caller, page, email=params.str("email")
        )
        expand_clock = _expands_clock(params, is_list=True)
        return Response.json(
            list_envelope("/v1/customers", [_wire(conn, c, expand_clock) for c in customers],
                          has_more)
        )

    app.router.add("POST", "/v1/customers", create)
    app.router.add("GET", "/v1/customers", list_)
    app.router.add("GET", "/v1/customers/{id}", retrieve)
    app.router.add("POST", "/v1/customers/{id}", update)
    app.router.add("DELETE", "/v1/customers/{id}", delete)
