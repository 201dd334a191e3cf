"""The official stripe SDK's billing calls against a live `metered serve`: products, prices,
subscriptions, test clocks, invoice previews and the invoice lifecycle, end to end."""

from __future__ import annotations

import pytest
import stripe
from test_stripe_sdk import sdk

from conftest import Server

DAY = 86_400
START = 1_767_225_600  # 2026-01-01T00:00:00Z
FEB_1 = 1_769_904_000


@pytest.fixture
def client(server: Server) -> stripe.StripeClient:
    return sdk(server, server.new_account_key())


def setup_metered(client: stripe.StripeClient, clock: str | None = None
                  ) -> tuple[stripe.Customer, stripe.Price, stripe.Price]:
    meter = client.v1.billing.meters.create({
        "display_name": "Tokens", "event_name": "tokens",
        "default_aggregation": {"formula": "sum"},
    })
    customer = client.v1.customers.create({"name": "Acme", **({"test_clock": clock}
                                                             if clock else {})})
    tokens = client.v1.prices.create({
        "currency": "usd", "product_data": {"name": "Tokens"}, "unit_amount_decimal": "0.05",
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter.id},
    })
    seats = client.v1.prices.create({
        "currency": "usd", "product_data": {"name": "Seats"}, "unit_amount": 2000,
        "recurring": {"interval": "month"},
    })
    return customer, tokens, seats


def test_subscription_preview_and_invoice_lifecycle(client: stripe.StripeClient) -> None:
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": START, "name": "jan"})
    customer, tokens, seats = setup_metered(client, clock.id)
    sub = client.v1.subscriptions.create({
        "customer": customer.id,
        "items": [{"price": tokens.id}, {"price": seats.id, "quantity": 3}],
    })
    assert sub.status == "active"
    assert sub.items.data[0].current_period_start == START
    assert sub.items.data[0].current_period_end == START + 31 * DAY
    first = client.v1.invoices.retrieve(sub.latest_invoice)  # type: ignore[arg-type]
    assert (first.status, first.total, first.billing_reason) == ("open", 6000,
                                                                 "subscription_create")
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": START + 7200})
    client.v1.billing.meter_events.create({
        "event_name": "tokens", "timestamp": START + 3600,
        "payload": {"stripe_customer_id": customer.id, "value": "12345"},
    })
    preview = client.v1.invoices.create_preview({"subscription": sub.id})
    # Next period's seats in advance, then January's tokens: 12345 x 0.05 = 617.25 -> 617.
    assert [(line.amount, line.quantity) for line in preview.lines.data] == [
        (6000, 3), (617, 12345)]
    assert preview.total == 6617

    clock = client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": FEB_1 + 1800})
    assert clock.status == "ready"
    invoices = client.v1.invoices.list({"customer": customer.id}).data
    cycle = invoices[0]
    assert (cycle.status, cycle.billing_reason, cycle.total) == ("draft", "subscription_cycle",
                                                                 6617)
    cycle = client.v1.invoices.finalize_invoice(cycle.id)
    assert cycle.status == "open" and cycle.number is not None
    assert cycle.number.endswith("-0002")
    cycle = client.v1.invoices.pay(cycle.id, {"paid_out_of_band": True})
    assert (cycle.status, cycle.amount_paid) == ("paid", 6617)
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(cycle.id)
    voided = client.v1.invoices.void_invoice(first.id)
    assert voided.status == "void"
    # Each change was recorded as a Stripe event, in the transaction that made it.
    types = [e.type for e in client.v1.events.list({"limit": 100}).data]
    for expected in ("customer.subscription.created", "invoice.created", "invoice.finalized",
                     "customer.subscription.updated", "invoice.paid", "invoice.voided",
                     "test_helpers.test_clock.advancing", "test_helpers.test_clock.ready"):
        assert expected in types, expected
    voided_event = client.v1.events.list({"type": "invoice.voided"}).data[0]
    assert voided_event.data.object["id"] == first.id
    assert voided_event.data.object["status"] == "void"


def test_subscription_items_and_cancellation(client: stripe.StripeClient) -> None:
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": START})
    customer, tokens, seats = setup_metered(client, clock.id)
    sub = client.v1.subscriptions.create({"customer": customer.id,
                                          "items": [{"price": tokens.id}]})
    item = client.v1.subscription_items.create({"subscription": sub.id, "price": seats.id,
                                                "quantity": 1, "proration_behavior": "none"})
    assert item.quantity == 1
    assert client.v1.subscription_items.retrieve(item.id).price.id == seats.id
    listed = client.v1.subscription_items.list({"subscription": sub.id})
    assert {i.price.id for i in listed.data} == {tokens.id, seats.id}
    client.v1.subscription_items.delete(item.id, {"proration_behavior": "none"})
    sub = client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True,
                                                  "metadata": {"k": "v"}})
    assert sub.cancel_at_period_end and sub.metadata["k"] == "v"
    canceled = client.v1.subscriptions.cancel(sub.id)
    assert canceled.status == "canceled" and canceled.ended_at == START
    assert client.v1.subscriptions.list({"customer": customer.id}).data == []
    assert len(client.v1.subscriptions.list({"customer": customer.id,
                                             "status": "canceled"}).data) == 1
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.cancel(sub.id)


def test_wall_clock_customer_gets_a_preview_from_events_just_sent(
        client: stripe.StripeClient) -> None:
    customer, tokens, _ = setup_metered(client)
    sub = client.v1.subscriptions.create({"customer": customer.id,
                                          "items": [{"price": tokens.id}]})
    for value in ("100", "250"):
        client.v1.billing.meter_events.create({
            "event_name": "tokens", "payload": {"stripe_customer_id": customer.id,
                                                "value": value}})
    preview = client.v1.invoices.create_preview({"customer": customer.id})
    assert preview.lines.data[0].quantity == 350
    assert preview.total == 18  # 350 x 0.05 = 17.5 -> 18, half away from zero
    assert preview.period_start == sub.items.data[0].current_period_start


def test_billing_errors_speak_stripe(client: stripe.StripeClient, server: Server) -> None:
    customer, tokens, seats = setup_metered(client)
    other = sdk(server, server.new_account_key())
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.subscriptions.create({"customer": customer.id,
                                        "items": [{"price": "price_nope"}]})
    assert missing.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError):  # another account's customer
        other.v1.subscriptions.create({"customer": customer.id,
                                       "items": [{"price": tokens.id}]})
    yearly = client.v1.prices.create({"currency": "usd", "product_data": {"name": "Y"},
                                      "unit_amount": 5, "recurring": {"interval": "year"}})
    with pytest.raises(stripe.InvalidRequestError) as mixed:
        client.v1.subscriptions.create({"customer": customer.id,
                                        "items": [{"price": tokens.id}, {"price": yearly.id}]})
    assert "interval" in str(mixed.value)
    with pytest.raises(stripe.InvalidRequestError) as quantity:
        client.v1.subscriptions.create({"customer": customer.id,
                                        "items": [{"price": tokens.id, "quantity": 5}]})
    assert quantity.value.param == "items[0][quantity]"
    sub = client.v1.subscriptions.create({"customer": customer.id,
                                          "items": [{"price": seats.id}]})
    with pytest.raises(stripe.InvalidRequestError):
        other.v1.invoices.create_preview({"subscription": sub.id})
    with pytest.raises(stripe.InvalidRequestError):
        other.v1.invoices.retrieve(sub.latest_invoice)  # type: ignore[arg-type]
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.invoices.finalize_invoice(sub.latest_invoice)  # type: ignore[arg-type]
    assert again.value.code == "invoice_not_editable"


def test_item_errors_name_their_parameter_and_short_lists_page(
        client: stripe.StripeClient, server: Server) -> None:
    """Found by schemathesis: the subscription item endpoints named `[price]`, and these two
    lists ignored `limit` and the cursors."""
    customer, tokens, seats = setup_metered(client)
    once = client.v1.prices.create({"currency": "usd", "product_data": {"name": "Once"},
                                    "unit_amount": 5})
    sub = client.v1.subscriptions.create({"customer": customer.id,
                                          "items": [{"price": tokens.id}, {"price": seats.id}]})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.subscription_items.create({"subscription": sub.id, "price": once.id})
    assert refused.value.param == "price"
    first = client.v1.subscription_items.list({"subscription": sub.id, "limit": 1})
    assert len(first.data) == 1 and first.has_more
    rest = client.v1.subscription_items.list({"subscription": sub.id, "limit": 1,
                                              "starting_after": first.data[0].id})
    assert len(rest.data) == 1 and not rest.has_more and rest.data[0].id != first.data[0].id
    lines = client.v1.invoices.line_items.list(sub.latest_invoice, {"limit": 1})  # type: ignore
    assert len(lines.data) == 1
    with server.client(server.new_account_key()) as http:  # 1735689600.0 is an integer
        clock = http.post("/v1/test_helpers/test_clocks", json={"frozen_time": 1735689600.0})
        assert clock.status_code == 200 and clock.json()["frozen_time"] == 1735689600


def test_a_retried_finalize_replays_its_answer(client: stripe.StripeClient,
                                               server: Server) -> None:
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": START})
    customer, tokens, _ = setup_metered(client, clock.id)
    client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": tokens.id}]})
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": FEB_1 + 60})
    draft = client.v1.invoices.list({"customer": customer.id, "status": "draft"}).data[0]
    first = client.v1.invoices.finalize_invoice(draft.id, options={"idempotency_key": "fin-1"})
    again = client.v1.invoices.finalize_invoice(draft.id, options={"idempotency_key": "fin-1"})
    assert first.status == again.status == "paid" and first.number == again.number
    assert again.last_response.headers.get("idempotent-replayed") == "true"
