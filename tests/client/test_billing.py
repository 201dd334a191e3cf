"""The Python SDK's billing resources against a live server, on a test clock: a month of
usage priced, invoiced, paid with credits, and a hold."""

from __future__ import annotations

from decimal import Decimal

import pytest

from metered.client import Client, InvalidRequestError

JAN_1 = 1_767_225_600
FEB_1 = 1_769_904_000


def test_a_month_billed_through_the_sdk(client: Client) -> None:
    clock = client.test_clocks.create(frozen_time=JAN_1, name="sdk")
    customer = client.customers.create(name="Acme", test_clock=clock.id)
    assert customer.test_clock == clock.id
    meter = client.meters.create(display_name="Tokens", event_name="sdk_tokens",
                                 dimensions=["model"])
    price = client.prices.create(
        currency="usd", unit_amount_decimal="0.5", product_data={"name": "Tokens"},
        recurring={"interval": "month", "usage_type": "metered", "meter": meter.id},
        metered={"dimension_keys": ["model"],
                 "rates": [{"dimensions": {"model": "big"}, "unit_amount_decimal": "2"}]})
    assert price.unit_amount_decimal == Decimal("0.5") and price.recurring is not None
    sub = client.subscriptions.create(customer=customer.id, items=[{"price": price.id}])
    assert sub.status == "active" and sub.items.data[0].price.id == price.id
    client.credit_grants.create(
        customer=customer.id, amount={"type": "monetary",
                                      "monetary": {"currency": "usd", "value": 100}},
        applicability_config={"scope": {"price_type": "metered"}})
    client.test_clocks.advance(clock.id, JAN_1 + 3600)
    client.events.create("sdk_tokens", {"stripe_customer_id": customer.id, "value": 100,
                                        "model": "big"})
    client.events.create("sdk_tokens", {"stripe_customer_id": customer.id, "value": 100,
                                        "model": "small"})
    preview = client.invoices.create_preview(subscription=sub.id)
    # big: 100 x 2 = 200, small: 100 x 0.5 = 50; credits pay 100 of 250.
    assert sorted(line.amount for line in preview.lines.data) == [50, 200]
    assert (preview.subtotal, preview.total) == (250, 150)
    summary = client.credit_balances.summary(customer.id)
    assert summary.balances[0].ledger_balance.monetary.value == 100  # type: ignore[union-attr]
    assert summary.metered["balances"][0]["real_time_available"] == 0

    with pytest.raises(InvalidRequestError) as refused:
        client.credit_holds.authorize(customer.id, 1, "usd")
    assert refused.value.code == "insufficient_credit"

    client.test_clocks.advance(clock.id, FEB_1 + 7200)
    invoices = client.invoices.list(customer=customer.id)
    cycle = next(i for i in invoices.data if i.billing_reason == "subscription_cycle")
    assert (cycle.status, cycle.total, cycle.amount_due) == ("open", 150, 150)
    assert {line.kind for line in cycle.lines.data} == {"usage"}
    paid = client.invoices.pay(cycle.id or "")
    assert paid.status == "paid"
    txns = client.credit_balances.transactions(customer.id)
    assert sorted(t.type for t in txns.data) == ["credit", "debit"]
    alert = client.alerts.create(alert_type="usage_threshold", title="t",
                                 usage_threshold={"gte": 10, "meter": meter.id,
                                                  "recurrence": "one_time"})
    assert client.alerts.archive(alert.id).status == "archived"
    canceled = client.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled"
    assert [p.id for p in client.prices.list_all(product=price.product)] == [price.id]
