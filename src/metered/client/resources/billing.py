"""The billing resources: products, prices, subscriptions and their items, invoices, credit
grants and balances, alerts, test clocks and credit holds.

Parameters are Stripe's (docs/api.md), passed as keyword arguments and sent as JSON: nested
objects and lists as they are, e.g. `client.prices.create(currency="usd",
unit_amount_decimal="0.0003", recurring={"interval": "month", "usage_type": "metered",
"meter": meter.id}, product_data={"name": "Tokens"})`. Answers are typed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Generic, TypeVar

from metered.client.billing_models import (
    Alert,
    CreditBalanceSummary,
    CreditBalanceTransaction,
    CreditGrant,
    CreditHold,
    Invoice,
    Price,
    Product,
    Subscription,
    SubscriptionItem,
    TestClock,
)
from metered.client.pages import HasId, Page, fetch_page
from metered.client.transport import Transport
from metered.client.wire import ApiRequest, ParamValue

T = TypeVar("T", bound=HasId)


def _body(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


def _query(params: dict[str, Any]) -> dict[str, ParamValue | None]:
    """Query parameters; a nested dict becomes Stripe's `key[sub]` form."""
    out: dict[str, ParamValue | None] = {}
    for key, value in params.items():
        if isinstance(value, dict):
            for name, inner in _query(value).items():
                head, bracket, rest = name.partition("[")
                out[f"{key}[{head}]{bracket}{rest}"] = inner
        else:
            out[key] = value
    return out


class _Resource(Generic[T]):
    path: str
    model: type[T]

    def __init__(self, transport: Transport):
        self._transport = transport

    def _post(self, path: str, params: dict[str, Any], model: type[Any] | None = None) -> Any:
        return self._transport.send(ApiRequest.post(path, _body(params)), model or self.model)

    def retrieve(self, object_id: str) -> T:
        return self._transport.send(ApiRequest.get(f"{self.path}/{object_id}"), self.model)

    def list(self, **params: Any) -> Page[T]:
        """One page (Stripe's filters and `limit`, `starting_after`, `ending_before`)."""
        return fetch_page(self._transport, self.path, _query(params), self.model)

    def list_all(self, **params: Any) -> Iterator[T]:
        """Every object, fetching pages of 100 as the loop goes."""
        return self.list(limit=100, **params).auto_paging_iter()


class _Creatable(_Resource[T]):
    def create(self, **params: Any) -> T:
        return self._post(self.path, params)  # type: ignore[no-any-return]


class _Updatable(_Creatable[T]):
    def update(self, object_id: str, **params: Any) -> T:
        return self._post(f"{self.path}/{object_id}", params)  # type: ignore[no-any-return]


class Products(_Updatable[Product]):
    path, model = "/v1/products", Product

    def delete(self, product_id: str) -> Product:
        return self._transport.send(ApiRequest.delete(f"{self.path}/{product_id}"), Product)


class Prices(_Updatable[Price]):
    path, model = "/v1/prices", Price


class Subscriptions(_Updatable[Subscription]):
    path, model = "/v1/subscriptions", Subscription

    def cancel(self, subscription_id: str) -> Subscription:
        """Cancel now: a final invoice bills the usage so far (a draft for the grace period)."""
        return self._transport.send(ApiRequest.delete(f"{self.path}/{subscription_id}"),
                                    Subscription)


class SubscriptionItems(_Updatable[SubscriptionItem]):
    path, model = "/v1/subscription_items", SubscriptionItem

    def delete(self, item_id: str) -> SubscriptionItem:
        return self._transport.send(ApiRequest.delete(f"{self.path}/{item_id}"),
                                    SubscriptionItem)


class Invoices(_Resource[Invoice]):
    """Invoices are made by the billing cycle: preview, read, finalize, pay, void."""

    path, model = "/v1/invoices", Invoice

    def update(self, invoice_id: str, **params: Any) -> Invoice:
        """`description`, `metadata`, `auto_advance` (a draft's)."""
        return self._post(f"{self.path}/{invoice_id}", params)  # type: ignore[no-any-return]

    def create_preview(self, *, subscription: str | None = None,
                       customer: str | None = None) -> Invoice:
        """The invoice the current period will close with, rated now."""
        return self._post(f"{self.path}/create_preview",  # type: ignore[no-any-return]
                          {"subscription": subscription, "customer": customer})

    def finalize(self, invoice_id: str) -> Invoice:
        return self._post(f"{self.path}/{invoice_id}/finalize", {})  # type: ignore[no-any-return]

    def pay(self, invoice_id: str) -> Invoice:
        """Mark it paid (metered collects no payment)."""
        return self._post(f"{self.path}/{invoice_id}/pay", {})  # type: ignore[no-any-return]

    def void(self, invoice_id: str) -> Invoice:
        return self._post(f"{self.path}/{invoice_id}/void", {})  # type: ignore[no-any-return]

    def mark_uncollectible(self, invoice_id: str) -> Invoice:
        return self._post(  # type: ignore[no-any-return]
            f"{self.path}/{invoice_id}/mark_uncollectible", {})


class CreditGrants(_Updatable[CreditGrant]):
    path, model = "/v1/billing/credit_grants", CreditGrant

    def expire(self, grant_id: str) -> CreditGrant:
        return self._post(f"{self.path}/{grant_id}/expire", {})  # type: ignore[no-any-return]

    def void(self, grant_id: str) -> CreditGrant:
        return self._post(f"{self.path}/{grant_id}/void", {})  # type: ignore[no-any-return]


class CreditBalances:
    """`client.credit_balances.summary(customer, ...)` and its ledger's transactions."""

    def __init__(self, transport: Transport):
        self._transport = transport

    def summary(self, customer: str, *, credit_grant: str | None = None) -> CreditBalanceSummary:
        """Balances of one grant, or of the grants for every metered price."""
        flt: dict[str, Any] = ({"type": "credit_grant", "credit_grant": credit_grant}
                               if credit_grant else
                               {"type": "applicability_scope",
                                "applicability_scope": {"price_type": "metered"}})
        params = _query({"customer": customer, "filter": flt})
        return self._transport.send(ApiRequest.get("/v1/billing/credit_balance_summary", params),
                                    CreditBalanceSummary)

    def transactions(self, customer: str, *, credit_grant: str | None = None,
                     limit: int | None = None) -> Page[CreditBalanceTransaction]:
        return fetch_page(self._transport, "/v1/billing/credit_balance_transactions",
                          {"customer": customer, "credit_grant": credit_grant, "limit": limit},
                          CreditBalanceTransaction)


class Alerts(_Creatable[Alert]):
    path, model = "/v1/billing/alerts", Alert

    def activate(self, alert_id: str) -> Alert:
        return self._post(f"{self.path}/{alert_id}/activate", {})  # type: ignore[no-any-return]

    def deactivate(self, alert_id: str) -> Alert:
        return self._post(f"{self.path}/{alert_id}/deactivate", {})  # type: ignore[no-any-return]

    def archive(self, alert_id: str) -> Alert:
        return self._post(f"{self.path}/{alert_id}/archive", {})  # type: ignore[no-any-return]


class TestClocks(_Creatable[TestClock]):
    __test__ = False  # not a pytest class
    path, model = "/v1/test_helpers/test_clocks", TestClock

    def advance(self, clock_id: str, frozen_time: int) -> TestClock:
        """Move the clock, running every billing action in between; answers once done."""
        return self._post(f"{self.path}/{clock_id}/advance",  # type: ignore[no-any-return]
                          {"frozen_time": frozen_time})

    def delete(self, clock_id: str) -> TestClock:
        return self._transport.send(ApiRequest.delete(f"{self.path}/{clock_id}"), TestClock)


class CreditHolds(_Creatable[CreditHold]):
    """Native: hold credit before an expensive request (402 when it is not there)."""

    path, model = "/v1/metered/credit_holds", CreditHold

    def authorize(self, customer: str, amount: int, currency: str, *,
                  expires_in: int | None = None) -> CreditHold:
        return self.create(customer=customer, amount=amount, currency=currency,
                           expires_in=expires_in)

    def capture(self, hold_id: str, amount: int | None = None) -> CreditHold:
        return self._post(f"{self.path}/{hold_id}/capture",  # type: ignore[no-any-return]
                          {"amount": amount})

    def release(self, hold_id: str) -> CreditHold:
        return self._post(f"{self.path}/{hold_id}/release", {})  # type: ignore[no-any-return]
