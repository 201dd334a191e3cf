"""/v1/billing/credit_grants, /v1/billing/credit_balance_summary and
/v1/billing/credit_balance_transactions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metered.api.expand import check_expand
from metered.api.http import Request, Response
from metered.api.pagination import list_envelope, page_request
from metered.api.params import Params
from metered.billing import credits as domain
from metered.billing.announcements import grant_changed
from metered.billing.clock_time import customer_time
from metered.billing.credit_views import (
    LedgerFilter,
    get_transaction,
    grant_wire,
    held,
    ledger_balances,
    list_transactions,
    money,
)
from metered.billing.customers import get_customer
from metered.errors import invalid_param, missing_param

if TYPE_CHECKING:
    import sqlite3

    from metered.api.app import App

GRANTS = "/v1/billing/credit_grants"
TIME = {"minimum": 946_684_800, "maximum": 4_102_444_800}


def _scope(params: Params) -> list[str] | None:
    """applicability_config[scope]: price_type=metered (None) or a list of price ids."""
    config = params.dict("applicability_config", required=True)
    assert config is not None
    config.reject_unknown(("scope",))
    scope = config.dict("scope", required=True)
    assert scope is not None
    scope.reject_unknown(("price_type", "prices"))
    price_type = scope.str("price_type", choices=("metered",))
    prices = scope.dict_list("prices", max_items=20)
    if (price_type is None) == (not prices):
        raise invalid_param(scope.name("price_type"),
                            "Give exactly one of price_type=metered and prices.")
    if price_type:
        return None
    ids = []
    for entry in prices:
        entry.reject_unknown(("id",))
        ids.append(entry.req_str("id", max_length=100))
    return ids


def _amount(params: Params) -> tuple[str, int]:
    amount = params.dict("amount", required=True)
    assert amount is not None
    amount.reject_unknown(("type", "monetary"))
    amount.str("type", required=True, choices=("monetary",))
    monetary = amount.dict("monetary", required=True)
    assert monetary is not None
    monetary.reject_unknown(("currency", "value"))
    currency = monetary.req_str("currency", max_length=3).lower()
    if len(currency) != 3 or not currency.isascii() or not currency.isalpha():
        raise invalid_param(monetary.name("currency"), "currency must be a three-letter ISO code.")
    value = monetary.int("value", required=True, minimum=1, maximum=10**15)
    assert value is not None
    return currency, value


def register(app: App) -> None:
    def answer(wire: dict[str, Any]) -> Response:
        return Response.json(wire)

    async def create(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("amount", "applicability_config", "category", "customer",
                               "effective_at", "expires_at", "metadata", "name", "priority"))
        check_expand(params, "billing.credit_grant")
        customer_id = params.req_str("customer", max_length=100)
        currency, value = _amount(params)
        price_ids = _scope(params)
        category = params.str("category", choices=("paid", "promotional")) or "paid"
        priority = params.int("priority", minimum=0, maximum=100)
        effective_at = params.int("effective_at", **TIME)
        expires_at = params.int("expires_at", **TIME)
        name = params.str("name", max_length=100)
        metadata = params.metadata()

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            customer = get_customer(conn, caller, customer_id, allow_deleted=False)
            spec = domain.GrantSpec(
                customer_pk=customer.pk, test_clock_pk=customer.test_clock_pk,
                currency=currency, amount=value, price_ids=price_ids, category=category,
                priority=50 if priority is None else priority, effective_at=effective_at,
                expires_at=expires_at, name=name, metadata=metadata)
            at = customer_time(conn, customer.pk)
            grant = domain.create_grant(conn, caller, spec, at)
            grant_changed(conn, grant.pk, "billing.credit_grant.created", at)
            return grant_wire(conn, grant)

        _, response = await app.write(request, run, answer)
        return response

    async def retrieve(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(())
        check_expand(params, "billing.credit_grant")
        conn = app.engine.reader()
        return answer(grant_wire(conn, domain.get_grant(conn, request.require_caller,
                                                        request.path_params["id"])))

    async def list_(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("customer", "limit", "starting_after", "ending_before"))
        check_expand(params, "billing.credit_grant", is_list=True)
        caller = request.require_caller
        conn = app.engine.reader()
        page = page_request(params, conn, "credit_grants", caller)
        customer_id = params.str("customer", max_length=100)
        customer_pk = get_customer(conn, caller, customer_id).pk if customer_id else None
        grants, has_more = domain.list_grants(conn, caller, page, customer_pk)
        return answer(list_envelope(GRANTS, [grant_wire(conn, g) for g in grants], has_more))

    async def update(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("expires_at", "metadata"))
        check_expand(params, "billing.credit_grant")
        grant_id = request.path_params["id"]
        expires_at: int | str | None = ("" if params.raw("expires_at") == ""
                                        else params.int("expires_at", **TIME))
        metadata = params.metadata()

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            grant = domain.get_grant(conn, caller, grant_id)
            at = customer_time(conn, grant.customer_pk)
            updated = domain.update_grant(conn, caller, grant_id, expires_at=expires_at,
                                          metadata=metadata, at=at)
            grant_changed(conn, grant.pk, "billing.credit_grant.updated", at)
            return grant_wire(conn, updated)

        _, response = await app.write(request, run, answer)
        return response

    def settle(action: Any) -> Any:
        async def handler(request: Request) -> Response:
            caller = request.require_caller
            params = request.params()
            params.reject_unknown(())
            check_expand(params, "billing.credit_grant")
            grant_id = request.path_params["id"]

            def run(conn: sqlite3.Connection) -> dict[str, Any]:
                grant = domain.get_grant(conn, caller, grant_id)
                at = customer_time(conn, grant.customer_pk)
                changed = action(conn, caller, grant_id, at)
                grant_changed(conn, grant.pk, "billing.credit_grant.updated", at)
                return grant_wire(conn, changed)

            _, response = await app.write(request, run, answer)
            return response
        return handler

    async def summary(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("customer", "filter"))
        caller = request.require_caller
        conn = app.engine.reader()
        customer = get_customer(conn, caller, params.req_str("customer", max_length=100))
        at = customer_time(conn, customer.pk)
        grants = _filtered(conn, caller, params, customer.pk)
        ledger = ledger_balances(conn, customer.pk, at, grants)
        holds = held(conn, customer.pk, at)
        unbilled = app.engine.billing.unbilled_credit_use(customer.pk)
        currencies = sorted(set(ledger) | set(holds))
        balances = [{"available_balance": money(c, ledger.get(c, 0) - holds.get(c, 0)),
                     "ledger_balance": money(c, ledger.get(c, 0))} for c in currencies]
        native = [{"currency": c, "held": holds.get(c, 0), "unbilled_usage": unbilled.get(c, 0),
                   "real_time_available": ledger.get(c, 0) - holds.get(c, 0)
                   - unbilled.get(c, 0)} for c in currencies]
        return answer({"object": "billing.credit_balance_summary", "balances": balances,
                       "customer": customer.id, "customer_account": None,
                       "livemode": caller.livemode, "metered": {"balances": native}})

    async def transactions(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("customer", "credit_grant", "limit", "starting_after",
                               "ending_before"))
        caller = request.require_caller
        conn = app.engine.reader()
        customer = get_customer(conn, caller, params.req_str("customer", max_length=100))
        grant_id = params.str("credit_grant", max_length=100)
        grant_pk = domain.get_grant(conn, caller, grant_id).pk if grant_id else None
        page = page_request(params, conn, "credit_ledger", caller)
        data, has_more = list_transactions(conn, caller, page,
                                           LedgerFilter(customer.pk, grant_pk))
        return answer(list_envelope("/v1/billing/credit_balance_transactions", data, has_more))

    async def transaction(request: Request) -> Response:
        request.params().reject_unknown(())
        return answer(get_transaction(app.engine.reader(), request.require_caller,
                                      request.path_params["id"]))

    app.router.add("POST", GRANTS, create)
    app.router.add("GET", GRANTS, list_)
    app.router.add("GET", GRANTS + "/{id}", retrieve)
    app.router.add("POST", GRANTS + "/{id}", update)
    app.router.add("POST", GRANTS + "/{id}/expire", settle(domain.expire_grant))
    app.router.add("POST", GRANTS + "/{id}/void", settle(domain.void_grant))
    app.router.add("GET", "/v1/billing/credit_balance_summary", summary)
    app.router.add("GET", "/v1/billing/credit_balance_transactions", transactions)
    app.router.add("GET", "/v1/billing/credit_balance_transactions/{id}", transaction)


def _filtered(conn: sqlite3.Connection, caller: Any, params: Params, customer_pk: int
              ) -> list[domain.CreditGrant]:
    """The grants a summary's `filter` selects: one grant, or an applicability scope."""
    grants = domain.customer_grants(conn, customer_pk)
    flt = params.dict("filter")
    if flt is None:
        raise missing_param("filter")
    flt.reject_unknown(("type", "credit_grant", "applicability_scope"))
    kind = flt.str("type", required=True, choices=("credit_grant", "applicability_scope"))
    if kind == "credit_grant":
        grant = domain.get_grant(conn, caller, flt.req_str("credit_grant", max_length=100))
        return [g for g in grants if g.pk == grant.pk]
    scope = flt.dict("applicability_scope", required=True)
    assert scope is not None
    scope.reject_unknown(("price_type", "prices"))
    if scope.str("price_type", choices=("metered",)):
        return [g for g in grants if g.price_pks is None]
    wanted = set()
    for entry in scope.dict_list("prices", max_items=20):
        from metered.billing.prices import get_price  # noqa: PLC0415

        wanted.add(get_price(conn, caller, entry.req_str("id", max_length=100)).pk)
    return [g for g in grants if g.price_pks is not None and wanted & set(g.price_pks)]
