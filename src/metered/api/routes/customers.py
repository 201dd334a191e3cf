"""/v1/customers: create, retrieve, update, list, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING

from metered.api.expand import check_expand
from metered.api.http import Request, Response
from metered.api.pagination import list_envelope, page_request
from metered.api.params import Params
from metered.billing import customers as domain

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
    )
    changes.provided = {k for k in (*FIELDS, "metadata") if k in params}
    return changes


def register(app: App) -> None:
    def render(customer: domain.Customer) -> Response:
        return Response.json(customer.to_wire())

    async def create(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        check_expand(params, "customer")
        changes = _changes(params)
        result, response = await app.write(
            request, lambda conn: domain.create_customer(conn, caller, changes), render
        )
        if isinstance(result, domain.Customer):
            app.engine.customers.remember(result)
        return response

    async def retrieve(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(())
        check_expand(params, "customer")
        customer = domain.get_customer(
            app.engine.reader(), request.require_caller, request.path_params["id"]
        )
        return render(customer)

    async def update(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        check_expand(params, "customer")
        changes = _changes(params)
        customer_id = request.path_params["id"]
        _, response = await app.write(
            request, lambda conn: domain.update_customer(conn, caller, customer_id, changes),
            render,
        )
        return response

    async def delete(request: Request) -> Response:
        caller = request.require_caller
        customer_id = request.path_params["id"]
        result, response = await app.write(
            request, lambda conn: domain.delete_customer(conn, caller, customer_id), render
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
        return Response.json(
            list_envelope("/v1/customers", [c.to_wire() for c in customers], has_more)
        )

    app.router.add("POST", "/v1/customers", create)
    app.router.add("GET", "/v1/customers", list_)
    app.router.add("GET", "/v1/customers/{id}", retrieve)
    app.router.add("POST", "/v1/customers/{id}", update)
    app.router.add("DELETE", "/v1/customers/{id}", delete)
