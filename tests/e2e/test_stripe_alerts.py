"""Billing alerts through the official stripe SDK: a usage threshold fires once per customer
and billing period, as a `billing.alert.triggered` event."""

from __future__ import annotations

import pytest
import stripe
from test_stripe_billing import FEB_1, START, setup_metered
from test_stripe_sdk import sdk

from conftest import Server

HOUR = 3600


@pytest.fixture
def client(server: Server) -> stripe.StripeClient:
    return sdk(server, server.new_account_key())


def triggered(client: stripe.StripeClient) -> list[stripe.Event]:
    return list(client.v1.events.list({"type": "billing.alert.triggered"}).data)


def test_usage_threshold_fires_once_per_period(client: stripe.StripeClient) -> None:
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": START})
    customer, tokens, _ = setup_metered(client, clock.id)
    other, _, _ = (client.v1.customers.create({"test_clock": clock.id}), None, None)
    meter_id = tokens.recurring.meter  # type: ignore[union-attr]
    for who in (customer, other):
        client.v1.subscriptions.create({"customer": who.id, "items": [{"price": tokens.id}]})
    alert = client.v1.billing.alerts.create({
        "alert_type": "usage_threshold", "title": "1k tokens",
        "usage_threshold": {"gte": 1000, "meter": meter_id, "recurrence": "one_time",
                            "filters": [{"type": "customer", "customer": customer.id}]}})
    assert (alert.status, alert.usage_threshold.gte) == ("active", 1000)  # type: ignore

    def send(who: str, value: int) -> None:
        client.v1.billing.meter_events.create({
            "event_name": "tokens", "payload": {"stripe_customer_id": who, "value": str(value)}})

    send(customer.id, 600)
    send(other.id, 5000)  # not the alert's customer
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": START + HOUR})
    assert triggered(client) == []
    send(customer.id, 400)  # 1000: reached
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": START + 2 * HOUR})
    send(customer.id, 400)
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": START + 3 * HOUR})
    events = triggered(client)
    assert len(events) == 1  # once per period
    fired = events[0].data.object
    assert (fired["customer"], fired["value"], fired["alert"]["id"]) == (customer.id, 1000,
                                                                         alert.id)
    # The next period starts from zero, and fires again once reached.
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": FEB_1 + HOUR})
    send(customer.id, 999)
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": FEB_1 + 2 * HOUR})
    assert len(triggered(client)) == 1
    send(customer.id, 1)
    client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": FEB_1 + 3 * HOUR})
    assert len(triggered(client)) == 2

    assert client.v1.billing.alerts.deactivate(alert.id).status == "inactive"
    assert client.v1.billing.alerts.activate(alert.id).status == "active"
    assert client.v1.billing.alerts.archive(alert.id).status == "archived"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.billing.alerts.activate(alert.id)
    listed = client.v1.billing.alerts.list({"meter": meter_id})
    assert [a.id for a in listed.data] == [alert.id]


def test_alert_errors(client: stripe.StripeClient, server: Server) -> None:
    customer, tokens, _ = setup_metered(client)
    meter_id = tokens.recurring.meter  # type: ignore[union-attr]
    with pytest.raises(stripe.InvalidRequestError) as bad:
        client.v1.billing.alerts.create({
            "alert_type": "usage_threshold", "title": "x",
            "usage_threshold": {"gte": -1, "meter": meter_id, "recurrence": "one_time"}})
    assert bad.value.param == "usage_threshold[gte]"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.billing.alerts.create({
            "alert_type": "usage_threshold", "title": "x",
            "usage_threshold": {"gte": 5, "meter": "mtr_nope", "recurrence": "one_time"}})
    alert = client.v1.billing.alerts.create({
        "alert_type": "usage_threshold", "title": "all customers",
        "usage_threshold": {"gte": 5, "meter": meter_id, "recurrence": "one_time"}})
    assert alert.usage_threshold.filters == []  # type: ignore[union-attr]
    other = sdk(server, server.new_account_key())
    with pytest.raises(stripe.InvalidRequestError):
        other.v1.billing.alerts.retrieve(alert.id)
