"""/v1/subscriptions and /v1/subscription_items: create, retrieve, update, cancel, list."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from metered.api.expand import check_expand
from metered.api.http import Request, Response
from metered.api.pagination import list_envelope, page_of, page_request
from metered.api.params import Params
from metered.billing import subscription_lifecycle as lifecycle
from metered.billing.announcements import subscription_changed
from metered.billing.clock_time import customer_time
from metered.billing.customers import get_customer
from metered.billing.metadata import merge_metadata
from metered.billing.prices import get_price, get_price_by_pk
from metered.billing.subscriptions import (
    Subscription,
    find_item,
    get_subscription,
    get_subscription_by_pk,
    item_wire,
    list_subscriptions,
    render_subscription,
)
from metered.errors import invalid_param

if TYPE_CHECKING:
    import sqlite3

    from metered.api.app import App

# Accepted and ignored: metered collects no payments.
PAYMENT_PARAMS = ("payment_behavior", "off_session", "payment_settings",
                  "default_payment_method", "description")
CREATE = ("customer", "items", "billing_cycle_anchor", "trial_end", "trial_period_days",
          "cancel_at_period_end", "cancel_at", "metadata", "days_until_due",
          "collection_method", "proration_behavior", *PAYMENT_PARAMS)
UPDATE = ("items", "cancel_at_period_end", "cancel_at", "metadata", "proration_behavior",
          "trial_end", *PAYMENT_PARAMS)
STATUSES = ("active", "trialing", "canceled", "all", "ended", "incomplete",
            "incomplete_expired", "past_due", "paused", "unpaid")
TIME_MAX = 4_102_444_800  # 2100-01-01


def _item_changes(params: Params) -> list[lifecycle.ItemChange]:
    changes = []
    for entry in params.dict_list("items", max_items=20):
        entry.reject_unknown(("id", "price", "quantity", "deleted", "metadata", "clear_usage",
                              "tax_rates", "discounts"))
        changes.append(lifecycle.ItemChange(
            id=entry.str("id", max_length=100), price_id=entry.str("price", max_length=100),
            quantity=entry.int("quantity", minimum=0, maximum=10**9),
            deleted=bool(entry.bool("deleted")), metadata=entry.metadata(), param=entry.prefix,
        ))
    return changes


def _time(params: Params, key: str) -> int | None:
    return params.int(key, minimum=946_684_800, maximum=TIME_MAX)


def _trial_end(params: Params) -> int | str | None:
    if params.raw("trial_end") == "now":
        return "now"
    return _time(params, "trial_end")


def _proration(params: Params) -> str:
    return params.str("proration_behavior", choices=lifecycle.PRORATION_BEHAVIORS) or (
        "create_prorations")


render = render_subscription


def register(app: App) -> None:
    scheduler = app.engine.billing

    async def settle(wire: dict[str, Any]) -> None:
        """Finalize at once the invoice a creation or an always_invoice change made (it is
        due now: the scheduler would within a second, and after a crash at start-up)."""
        conn = app.engine.reader()
        clock_pk, customer_pk = conn.execute(
            "SELECT test_clock_pk, customer_pk FROM subscriptions WHERE id=?", (wire["id"],)
        ).fetchone()
        await scheduler.catch_up(clock_pk, customer_time(conn, customer_pk))

    def answer(wire: dict[str, Any]) -> Response:
        return Response.json(wire)

    async def create(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(CREATE)
        check_expand(params, "subscription")
        customer_id = params.req_str("customer", max_length=100)
        trial_end = _trial_end(params)
        changes = _item_changes(params)
        spec_args = dict(
            items=changes, billing_cycle_anchor=_time(params, "billing_cycle_anchor"),
            trial_period_days=params.int("trial_period_days", minimum=1, maximum=730),
            cancel_at_period_end=bool(params.bool("cancel_at_period_end")),
            cancel_at=_time(params, "cancel_at"),
            days_until_due=params.int("days_until_due", minimum=0, maximum=365),
            collection_method=params.str("collection_method",
                                         choices=("charge_automatically", "send_invoice"))
            or "charge_automatically",
            metadata=params.metadata() or {},
        )
        _proration(params)

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            customer = get_customer(conn, caller, customer_id, allow_deleted=False)
            at = customer_time(conn, customer.pk)
            spec = lifecycle.SubscriptionSpec(
                customer_pk=customer.pk, test_clock_pk=customer.test_clock_pk,
                trial_end=at if trial_end == "now" else trial_end,  # type: ignore[arg-type]
                **spec_args,  # type: ignore[arg-type]
            )
            sub, _ = lifecycle.create_subscription(conn, caller, spec, at)
            subscription_changed(conn, sub.pk, "customer.subscription.created", at)
            return render(conn, get_subscription_by_pk(conn, sub.pk))

        result, response = await app.write(request, run, answer)
        if isinstance(result, dict):
            await settle(result)
        return response

    async def retrieve(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(())
        check_expand(params, "subscription")
        conn = app.engine.reader()
        return answer(render(conn, get_subscription(conn, request.require_caller,
                                                    request.path_params["id"])))

    async def update(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(UPDATE)
        check_expand(params, "subscription")
        subscription_id = request.path_params["id"]
        changes = _item_changes(params)
        proration = _proration(params)
        cancel_at: int | str | None = "" if params.raw("cancel_at") == "" else _time(
            params, "cancel_at")
        cancel_at_period_end = params.bool("cancel_at_period_end")
        metadata = params.metadata()
        trial_end = _trial_end(params)

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            sub = get_subscription(conn, caller, subscription_id)
            at = customer_time(conn, sub.customer_pk)
            if trial_end is not None:
                _end_trial(conn, sub, at if trial_end == "now" else int(trial_end))
                sub = get_subscription_by_pk(conn, sub.pk)
            if changes:
                lifecycle.change_items(conn, caller, sub, changes, proration, at)
            if cancel_at_period_end is not None or cancel_at is not None:
                lifecycle.set_cancellation(conn, sub, cancel_at_period_end=cancel_at_period_end,
                                           cancel_at=cancel_at)
            if metadata is not None:
                conn.execute("UPDATE subscriptions SET metadata=? WHERE pk=?",
                             (json.dumps(merge_metadata(sub.metadata, metadata)), sub.pk))
            if proration == "always_invoice":
                lifecycle.invoice_now(conn, get_subscription_by_pk(conn, sub.pk), at)
            subscription_changed(conn, sub.pk, "customer.subscription.updated", at)
            return render(conn, get_subscription_by_pk(conn, sub.pk))

        result, response = await app.write(request, run, answer)
        if isinstance(result, dict):
            await settle(result)
        return response

    async def cancel(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("invoice_now", "prorate", "cancellation_details"))
        invoice_now = params.bool("invoice_now")
        prorate = bool(params.bool("prorate"))
        subscription_id = request.path_params["id"]
        grace = scheduler.grace_seconds

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            sub = get_subscription(conn, caller, subscription_id)
            at = customer_time(conn, sub.customer_pk)
            lifecycle.cancel_now(conn, sub, at, prorate_unused=prorate,
                                 final_invoice=invoice_now is not False, grace=grace)
            subscription_changed(conn, sub.pk, "customer.subscription.deleted", at)
            return render(conn, get_subscription_by_pk(conn, sub.pk))

        _, response = await app.write(request, run, answer)
        return response

    async def list_(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("limit", "starting_after", "ending_before", "customer",
                               "status", "price"))
        check_expand(params, "subscription", is_list=True)
        caller = request.require_caller
        conn = app.engine.reader()
        page = page_request(params, conn, "subscriptions", caller)
        customer_id = params.str("customer", max_length=100)
        price_id = params.str("price", max_length=100)
        subs, has_more = list_subscriptions(
            conn, caller, page,
            customer_pk=get_customer(conn, caller, customer_id).pk if customer_id else None,
            status=params.str("status", choices=STATUSES),
            price_pk=get_price(conn, caller, price_id).pk if price_id else None,
        )
        return Response.json(list_envelope("/v1/subscriptions",
                                           [render(conn, s) for s in subs], has_more))

    app.router.add("POST", "/v1/subscriptions", create)
    app.router.add("GET", "/v1/subscriptions", list_)
    app.router.add("GET", "/v1/subscriptions/{id}", retrieve)
    app.router.add("POST", "/v1/subscriptions/{id}", update)
    app.router.add("DELETE", "/v1/subscriptions/{id}", cancel)
    register_items(app)


def _end_trial(conn: sqlite3.Connection, sub: Subscription, trial_end: int) -> None:
    """trial_end on update: "now" ends the trial (the period turns at once), a time moves it."""
    if sub.status != "trialing":
        raise invalid_param("trial_end", "The subscription is not in a trial.")
    at = customer_time(conn, sub.customer_pk)
    trial_end = max(trial_end, at)
    conn.execute("UPDATE subscriptions SET trial_end=?, current_period_end=?,"
                 " billing_cycle_anchor=? WHERE pk=?", (trial_end, trial_end, trial_end, sub.pk))


def register_items(app: App) -> None:
    def item_of(conn: sqlite3.Connection, sub: Subscription, item_id: str) -> dict[str, Any]:
        item = next(i for i in sub.items if i.id == item_id)
        return item_wire(item, sub, get_price_by_pk(conn, item.current.price_pk).to_wire())

    def answer(wire: dict[str, Any]) -> Response:
        return Response.json(wire)

    async def create(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("subscription", "price", "quantity", "metadata",
                               "proration_behavior", "payment_behavior", "tax_rates"))
        subscription_id = params.req_str("subscription", max_length=100)
        change = lifecycle.ItemChange(price_id=params.req_str("price", max_length=100),
                                      quantity=params.int("quantity", minimum=0, maximum=10**9),
                                      metadata=params.metadata(), param="")
        proration = _proration(params)

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            sub = get_subscription(conn, caller, subscription_id)
            before = {item.pk for item in sub.items}
            at = customer_time(conn, sub.customer_pk)
            lifecycle.change_items(conn, caller, sub, [change], proration, at)
            subscription_changed(conn, sub.pk, "customer.subscription.updated", at)
            after = get_subscription_by_pk(conn, sub.pk)
            return item_of(conn, after, next(i.id for i in after.items if i.pk not in before))

        _, response = await app.write(request, run, answer)
        return response

    async def retrieve(request: Request) -> Response:
        request.params().reject_unknown(())
        conn = app.engine.reader()
        sub, item = find_item(conn, request.require_caller, request.path_params["id"])
        return answer(item_of(conn, sub, item.id))

    async def update(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("price", "quantity", "metadata", "proration_behavior",
                               "payment_behavior", "tax_rates", "off_session"))
        item_id = request.path_params["id"]
        change = lifecycle.ItemChange(id=item_id, price_id=params.str("price", max_length=100),
                                      quantity=params.int("quantity", minimum=0, maximum=10**9),
                                      metadata=params.metadata(), param="")
        proration = _proration(params)

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            sub, _ = find_item(conn, caller, item_id)
            at = customer_time(conn, sub.customer_pk)
            lifecycle.change_items(conn, caller, sub, [change], proration, at)
            subscription_changed(conn, sub.pk, "customer.subscription.updated", at)
            return item_of(conn, get_subscription_by_pk(conn, sub.pk), item_id)

        _, response = await app.write(request, run, answer)
        return response

    async def delete(request: Request) -> Response:
        caller = request.require_caller
        params = request.params()
        params.reject_unknown(("proration_behavior", "clear_usage", "proration_date"))
        item_id = request.path_params["id"]
        proration = _proration(params)

        def run(conn: sqlite3.Connection) -> None:
            sub, _ = find_item(conn, caller, item_id)
            at = customer_time(conn, sub.customer_pk)
            lifecycle.change_items(conn, caller, sub,
                                   [lifecycle.ItemChange(id=item_id, deleted=True, param="")],
                                   proration, at)
            subscription_changed(conn, sub.pk, "customer.subscription.updated", at)

        _, response = await app.write(
            request, run, lambda r: Response.json(
                {"id": item_id, "object": "subscription_item", "deleted": True}))
        return response

    async def list_(request: Request) -> Response:
        params = request.params()
        params.reject_unknown(("subscription", "limit", "starting_after", "ending_before"))
        conn = app.engine.reader()
        sub = get_subscription(conn, request.require_caller,
                               params.req_str("subscription", max_length=100))
        data = [item_wire(item, sub, get_price_by_pk(conn, item.current.price_pk).to_wire())
                for item in sub.live_items]
        page, has_more = page_of(params, data)
        return Response.json(list_envelope("/v1/subscription_items", page, has_more))

    app.router.add("POST", "/v1/subscription_items", create)
    app.router.add("GET", "/v1/subscription_items", list_)
    app.router.add("GET", "/v1/subscription_items/{id}", retrieve)
    app.router.add("POST", "/v1/subscription_items/{id}", update)
    app.router.add("DELETE", "/v1/subscription_items/{id}", delete)
