"""/v1/invoices: create_preview, list, retrieve, update, finalize, pay, void,
mark_uncollectible and lines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metered.api.expand import check_expand
from metered.api.http import Request, Response
from metered.api.pagination import list_envelope, page_of, page_request
from metered.billing.announcements import invoice_changed
from metered.billing.clock_time import customer_time
from metered.billing.customers import get_customer
from metered.billing.invoice_views import InvoiceView, invoice_wire
from metered.billing.invoices import (
    STATUSES,
    change_status,
    get_invoice,
    list_invoices,
    update_invoice,
)
from metered.billing.lines import stored_lines
from metered.billing.subscriptions import (
    get_subscription,
    get_subscription_by_pk,
)
from metered.errors import InvalidRequestError, missing_param

if TYPE_CHECKING:
    import sqlite3

    from metered.api.app import App


EVENTS = {"pay": "invoice.paid", "void": "invoice.voided",
          "mark_uncollectible": "invoice.marked_uncollectible"}


def register(app: App) -> None:
    scheduler = app.engine.billing

    def stored_wire(conn: sqlite3.Connection, invoice_id: str, caller: Any) -> dict[str, Any]:
        invoice = get_invoice(conn, caller, invoice_id)
        return invoice_wire(conn, InvoiceView.of(invoice, stored_lines(conn, invoice.pk)))

    async def create_preview(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("customer", "subscription", "automatic_tax", "currency"))
        check_expand(params, "invoice")
        conn = app.engine.reader()
        subscription_id = params.str("subscription", max_length=100)
        customer_id = params.str("customer", max_length=100)
        if subscription_id:
            sub = get_subscription(conn, caller, subscription_id)
            if customer_id and get_customer(conn, caller, customer_id).pk != sub.customer_pk:
                raise InvalidRequestError("The subscription belongs to another customer.",
                                          param="subscription")
        elif customer_id:
            customer = get_customer(conn, caller, customer_id)
            row = conn.execute(
                "SELECT pk FROM subscriptions WHERE customer_pk=? AND status != 'canceled'"
                " ORDER BY pk LIMIT 1", (customer.pk,)).fetchone()
            if row is None:
                raise InvalidRequestError(
                    f"The customer {customer_id} has no active subscription to preview.",
                    code="invoice_upcoming_none", param="customer")
            sub = get_subscription_by_pk(conn, row[0])
        else:
            raise missing_param("customer")
        if sub.status == "canceled":
            raise InvalidRequestError("The subscription is canceled: no invoice is upcoming.",
                                      code="invoice_upcoming_none", param="subscription")
        return Response.json(invoice_wire(conn, scheduler.preview(sub)))

    async def retrieve(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(())
        check_expand(params, "invoice")
        conn = app.engine.reader()
        invoice = get_invoice(conn, request.require_caller, request.path_params["id"])
        return Response.json(invoice_wire(conn, scheduler.view(invoice)))

    async def list_(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("limit", "starting_after", "ending_before", "customer",
                               "subscription", "status", "collection_method"))
        check_expand(params, "invoice", is_list=True)
        caller = request.require_caller
        conn = app.engine.reader()
        page = page_request(params, conn, "invoices", caller)
        customer_id = params.str("customer", max_length=100)
        subscription_id = params.str("subscription", max_length=100)
        invoices, has_more = list_invoices(
            conn, caller, page,
            customer_pk=get_customer(conn, caller, customer_id).pk if customer_id else None,
            subscription_pk=(get_subscription(conn, caller, subscription_id).pk
                             if subscription_id else None),
            status=params.str("status", choices=STATUSES),
        )
        data = [invoice_wire(conn, scheduler.view(invoice)) for invoice in invoices]
        return Response.json(list_envelope("/v1/invoices", data, has_more))

    async def lines(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("limit", "starting_after", "ending_before"))
        conn = app.engine.reader()
        invoice = get_invoice(conn, request.require_caller, request.path_params["id"])
        wire = invoice_wire(conn, scheduler.view(invoice))
        lines, has_more = page_of(params, wire["lines"]["data"])
        return Response.json(list_envelope(f"/v1/invoices/{invoice.id}/lines", lines,
                                           has_more))

    async def update(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("description", "metadata", "auto_advance"))
        check_expand(params, "invoice")
        invoice_id = request.path_params["id"]
        description = params.str("description", max_length=1500)
        metadata = params.metadata()
        auto_advance = params.bool("auto_advance")

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            invoice = update_invoice(conn, caller, invoice_id, description=description,
                                     metadata=metadata, auto_advance=auto_advance)
            invoice_changed(conn, invoice.pk, "invoice.updated",
                            customer_time(conn, invoice.customer_pk))
            return stored_wire(conn, invoice_id, caller)

        _, response = await app.write(request, run, Response.json)
        return response

    async def finalize(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("auto_advance",))
        check_expand(params, "invoice")
        conn = app.engine.reader()
        invoice = get_invoice(conn, caller, request.path_params["id"])
        if invoice.status != "draft":
            raise InvalidRequestError(
                f"This invoice is already finalized (status {invoice.status}).",
                code="invoice_not_editable")
        done = await scheduler.finalize(invoice.pk, customer_time(conn, invoice.customer_pk))
        if request.idempotency is None:
            conn = app.engine.reader()
            return Response.json(invoice_wire(conn, InvoiceView.of(done, stored_lines(
                conn, done.pk))))
        # The finalization ran in the scheduler (one at a time); the answer is stored under
        # the Idempotency-Key in a write of its own, so that a retry replays it.
        _, response = await app.write(request, lambda c: stored_wire(c, done.id, caller),
                                      Response.json)
        return response

    def transition(action: str, accepted: tuple[str, ...]) -> Any:
        async def handler(request: Request) -> Response:
            caller = request.require_caller
            params = request.params()
            params.reject_unknown(accepted)
            check_expand(params, "invoice")
            invoice_id = request.path_params["id"]

            def run(conn: sqlite3.Connection) -> dict[str, Any]:
                invoice = get_invoice(conn, caller, invoice_id)
                at = customer_time(conn, invoice.customer_pk)
                change_status(conn, caller, invoice_id, action, at)
                invoice_changed(conn, invoice.pk, EVENTS[action], at)
                return stored_wire(conn, invoice_id, caller)

            _, response = await app.write(request, run, Response.json)
            return response
        return handler

    app.router.add("POST", "/v1/invoices/create_preview", create_preview)
    app.router.add("GET", "/v1/invoices", list_)
    app.router.add("GET", "/v1/invoices/{id}", retrieve)
    app.router.add("POST", "/v1/invoices/{id}", update)
    app.router.add("GET", "/v1/invoices/{id}/lines", lines)
    app.router.add("POST", "/v1/invoices/{id}/finalize", finalize)
    app.router.add("POST", "/v1/invoices/{id}/pay",
                   transition("pay", ("paid_out_of_band", "payment_method", "source",
                                      "off_session", "forgive", "mandate")))
    app.router.add("POST", "/v1/invoices/{id}/void", transition("void", ()))
    app.router.add("POST", "/v1/invoices/{id}/mark_uncollectible",
                   transition("mark_uncollectible", ()))



