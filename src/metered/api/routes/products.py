"""/v1/products: create (with `default_price_data`), retrieve, update, list, delete;
`expand[]=default_price`."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from metered.api.expand import check_expand
from metered.api.http import Request, Response
from metered.api.pagination import list_envelope, page_request
from metered.api.params import Params
from metered.api.routes.prices import default_price_spec
from metered.billing import products as domain
from metered.billing.prices import Price, get_price_by_pk

if TYPE_CHECKING:
    from metered.api.app import App

CREATE_PARAMS = ("id", "name", "description", "active", "metadata", "unit_label",
                 "default_price_data")
UPDATE_PARAMS = ("name", "description", "active", "metadata", "unit_label", "default_price")
LIST_PARAMS = ("limit", "starting_after", "ending_before", "active", "ids")


def _spec(params: Params) -> domain.ProductSpec:
    params.reject_unknown(CREATE_PARAMS)
    active = params.bool("active")
    default_price = params.dict("default_price_data")
    return domain.ProductSpec(
        name=params.req_str("name", max_length=domain.MAX_NAME),
        id=params.str("id", max_length=200) or None,
        description=params.str("description", max_length=domain.MAX_DESCRIPTION) or None,
        active=True if active is None else active,
        metadata=params.metadata() or {},
        unit_label=params.str("unit_label", max_length=domain.MAX_UNIT_LABEL) or None,
        default_price_data=None if default_price is None else default_price_spec(default_price),
    )


def _changes(params: Params) -> domain.ProductChanges:
    params.reject_unknown(UPDATE_PARAMS)
    return domain.ProductChanges(
        name=params.str("name", max_length=domain.MAX_NAME),
        description=params.str("description", max_length=domain.MAX_DESCRIPTION),
        active=params.bool("active"),
        metadata=params.metadata(),
        unit_label=params.str("unit_label", max_length=domain.MAX_UNIT_LABEL),
        default_price=params.str("default_price", max_length=255),
        provided={k for k in UPDATE_PARAMS if k in params},
    )


Expanded = tuple[domain.Product, Price | None]


def expanded(conn: sqlite3.Connection, product: domain.Product, default_price: bool
             ) -> Expanded:
    """The product with its default price's object when `expand[]=default_price` asked."""
    if not default_price or product.default_price_pk is None:
        return product, None
    return product, get_price_by_pk(conn, product.default_price_pk)


def register(app: App) -> None:
    def render(result: Expanded) -> Response:
        product, default_price = result
        return Response.json(product.to_wire(default_price))

    def expands_default_price(params: Params, *, is_list: bool = False) -> bool:
        check_expand(params, "product", is_list=is_list)
        wanted = "data.default_price" if is_list else "default_price"
        return wanted in params.str_list("expand")

    async def create(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        default_price = expands_default_price(params)
        spec = _spec(params)
        _, response = await app.write(
            request,
            lambda conn: expanded(conn, domain.create_product(conn, caller, spec), default_price),
            render,
        )
        return response

    async def retrieve(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(())
        default_price = expands_default_price(params)
        conn = app.engine.reader()
        product = domain.get_product(conn, request.require_caller, request.path_params["id"])
        return render(expanded(conn, product, default_price))

    async def update(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        default_price = expands_default_price(params)
        changes = _changes(params)
        product_id = request.path_params["id"]
        _, response = await app.write(
            request,
            lambda conn: expanded(
                conn, domain.update_product(conn, caller, product_id, changes), default_price
            ),
            render,
        )
        return response

    async def delete(request: Request) -> Response:
        caller = request.require_caller
        request.params().reject_unknown(())
        product_id = request.path_params["id"]
        _, response = await app.write(
            request,
            lambda conn: (domain.delete_product(conn, caller, product_id), None),
            render,
        )
        return response

    async def list_(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(LIST_PARAMS)
        default_price = expands_default_price(params, is_list=True)
        conn = app.engine.reader()
        page = page_request(params, conn, "products", request.require_caller)
        products, has_more = domain.list_products(
            conn, request.require_caller, page, active=params.bool("active"),
            ids=tuple(params.str_list("ids", max_items=100)),
        )
        data = [p.to_wire(expanded(conn, p, default_price)[1]) for p in products]
        return Response.json(list_envelope("/v1/products", data, has_more))

    app.router.add("POST", "/v1/products", create)
    app.router.add("GET", "/v1/products", list_)
    app.router.add("GET", "/v1/products/{id}", retrieve)
    app.router.add("POST", "/v1/products/{id}", update)
    app.router.add("DELETE", "/v1/products/{id}", delete)
