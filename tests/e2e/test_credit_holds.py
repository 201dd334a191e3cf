"""Credit holds (native): a customer can never hold beyond its real-time available credit,
which counts its unbilled usage; capture and release end a hold; holds expire."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stripe
from golden.runner import form
from test_stripe_billing import START, setup_metered
from test_stripe_sdk import sdk

from conftest import Server


@pytest.fixture
def account(server: Server) -> tuple[stripe.StripeClient, httpx.Client]:
    key = server.new_account_key()
    return sdk(server, key), server.client(key)


def hold(http: httpx.Client, customer: str, amount: int, **extra: Any) -> httpx.Response:
    return http.post("/v1/metered/credit_holds",
                     data=form("", {"customer": customer, "amount": amount, "currency": "usd",
                                    **extra}, {}))


def available(http: httpx.Client, customer: str) -> dict[str, Any]:
    summary = http.get("/v1/billing/credit_balance_summary", params={
        "customer": customer, "filter[type]": "applicability_scope",
        "filter[applicability_scope][price_type]": "metered"}).json()
    return dict(summary["metered"]["balances"][0])


def test_holds_never_exceed_the_real_time_balance(account: tuple[stripe.StripeClient,
                                                                 httpx.Client]) -> None:
    client, http = account
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": START})
    customer, tokens, _ = setup_metered(client, clock.id)
    client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": tokens.id}]})
    client.v1.billing.credit_grants.create({
        "customer": customer.id,
        "amount": {"type": "monetary", "monetary": {"currency": "usd", "value": 1000}},
        "applicability_config": {"scope": {"price_type": "metered"}}})
    # 4000 tokens x 0.05 = 200 of unbilled usage: 800 left to hold.
    client.v1.billing.meter_events.create({
        "event_name": "tokens", "payload": {"stripe_customer_id": customer.id, "value": "4000"}})
    assert available(http, customer.id)["real_time_available"] == 800

    first = hold(http, customer.id, 600)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "authorized"
    refused = hold(http, customer.id, 201)
    assert refused.status_code == 402
    assert refused.json()["error"]["code"] == "insufficient_credit"
    assert hold(http, customer.id, 200).status_code == 200
    assert available(http, customer.id)["real_time_available"] == 0

    # The request ran: its usage (6000 tokens = 300) is sent, and the hold captured.
    client.v1.billing.meter_events.create({
        "event_name": "tokens", "payload": {"stripe_customer_id": customer.id, "value": "6000"}})
    captured = http.post(f"/v1/metered/credit_holds/{first.json()['id']}/capture",
                         data={"amount": "300"}).json()
    assert (captured["status"], captured["captured_amount"]) == ("captured", 300)
    assert available(http, customer.id)["real_time_available"] == 1000 - 500 - 200
    again = http.post(f"/v1/metered/credit_holds/{first.json()['id']}/release")
    assert again.status_code == 400

    listed = http.get("/v1/metered/credit_holds", params={"customer": customer.id}).json()
    assert len(listed["data"]) == 2
    # An hour later the open hold of 200 has expired.
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": START + 3601})
    assert available(http, customer.id)["real_time_available"] == 500
    open_hold = [h for h in listed["data"] if h["status"] == "authorized"][0]
    assert http.get(f"/v1/metered/credit_holds/{open_hold['id']}").json()["status"] == "expired"


def test_hold_errors(account: tuple[stripe.StripeClient, httpx.Client], server: Server) -> None:
    client, http = account
    customer, _, _ = setup_metered(client)
    assert hold(http, customer.id, 1).status_code == 402  # no credit at all
    assert hold(http, customer.id, 0).json()["error"]["param"] == "amount"
    assert hold(http, "cus_nope", 5).status_code == 404
    assert hold(http, customer.id, 5, currency="us").status_code == 400
    with server.client(server.new_account_key()) as other:
        assert hold(other, customer.id, 5).status_code == 404
