"""The official stripe SDK drives a live `metered serve`: customers, meters, v1 and v2 meter
events, adjustments, idempotency and event summaries, with exact expected values."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import pytest
import stripe

from conftest import Server


def sdk(server: Server, key: str, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(
        key,
        base_addresses={"api": server.base_url, "meter_events": server.base_url},
        max_network_retries=retries,
    )


@pytest.fixture
def client(server: Server) -> stripe.StripeClient:
    return sdk(server, server.new_account_key())


def aligned_range(unit: int = 60) -> tuple[int, int]:
    """From a day ago to just after now, aligned to `unit` seconds."""
    now = int(time.time())
    return (now - 86_400) // unit * unit, (now // unit + 2) * unit


def total(client: stripe.StripeClient, meter_id: str, customer_id: str, **extra: object) -> Decimal:
    start, end = aligned_range(3600 if extra.get("value_grouping_window") == "hour" else 60)
    page = client.v1.billing.meters.event_summaries.list(
        meter_id, {"customer": customer_id, "start_time": start, "end_time": end, **extra}
    )
    return sum((Decimal(str(s.aggregated_value)) for s in page.auto_paging_iter()), Decimal(0))


def test_customers_crud_and_pagination(client: stripe.StripeClient) -> None:
    created = [client.v1.customers.create({"name": f"c{i}", "email": f"c{i}@example.com",
                                           "metadata": {"plan": "pro", "n": str(i)}})
               for i in range(5)]
    first = created[0]
    assert first.id.startswith("cus_") and first.object == "customer" and not first.livemode
    assert client.v1.customers.retrieve(first.id).email == "c0@example.com"
    updated = client.v1.customers.update(first.id, {"name": "renamed", "metadata": {"plan": ""}})
    assert updated.name == "renamed" and updated.metadata.to_dict() == {"n": "0"}
    page = client.v1.customers.list({"limit": 2})
    assert len(page.data) == 2 and page.has_more
    assert [c.id for c in page.data] == [created[4].id, created[3].id]  # newest first
    every = [c.id for c in client.v1.customers.list({"limit": 2}).auto_paging_iter()]
    assert every == [c.id for c in reversed(created)]
    deleted = client.v1.customers.delete(first.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.update(first.id, {"name": "x"})
    assert err.value.http_status == 404


def test_meters_lifecycle(client: stripe.StripeClient) -> None:
    meter = client.v1.billing.meters.create({
        "display_name": "API calls", "event_name": "api_calls",
        "default_aggregation": {"formula": "count"},
        "customer_mapping": {"event_payload_key": "customer", "type": "by_id"},
    })
    assert meter.id.startswith("mtr_") and meter.status == "active"
    assert meter.customer_mapping.event_payload_key == "customer"
    assert client.v1.billing.meters.update(meter.id, {"display_name": "Calls"}).display_name == (
        "Calls"
    )
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing.meters.create({"display_name": "again", "event_name": "api_calls",
                                         "default_aggregation": {"formula": "sum"}})
    assert err.value.code == "resource_already_exists"
    deactivated = client.v1.billing.meters.deactivate(meter.id)
    assert deactivated.status == "inactive" and deactivated.status_transitions.deactivated_at
    assert [m.id for m in client.v1.billing.meters.list({"status": "inactive"}).data] == [meter.id]
    assert client.v1.billing.meters.list({"status": "active"}).data == []
    assert client.v1.billing.meters.reactivate(meter.id).status == "active"


def test_v1_events_duplicates_and_adjustments(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "tokens"})
    meter = client.v1.billing.meters.create({
        "display_name": "Tokens", "event_name": "tokens", "default_aggregation": {"formula": "sum"},
    })
    sent = ["1250", "0.5", "300"]
    for i, value in enumerate(sent):
        event = client.v1.billing.meter_events.create({
            "event_name": "tokens", "identifier": f"t{i}",
            "payload": {"stripe_customer_id": customer.id, "value": value},
        })
        assert event.identifier == f"t{i}" and event.object == "billing.meter_event"
    generated = client.v1.billing.meter_events.create({
        "event_name": "tokens", "payload": {"stripe_customer_id": customer.id, "value": "1"},
    })
    assert len(generated.identifier) >= 16
    # Read your writes: the summary already counts all four.
    assert total(client, meter.id, customer.id) == Decimal("1551.5")

    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing.meter_events.create({
            "event_name": "tokens", "identifier": "t0",
            "payload": {"stripe_customer_id": customer.id, "value": "999"},
        })
    assert err.value.code == "duplicate_meter_event"
    assert total(client, meter.id, customer.id) == Decimal("1551.5")

    adjustment = client.v1.billing.meter_event_adjustments.create({
        "event_name": "tokens", "type": "cancel", "cancel": {"identifier": "t0"},
    })
    assert adjustment.status == "complete" and adjustment.cancel.identifier == "t0"
    assert total(client, meter.id, customer.id) == Decimal("301.5")
    client.v1.billing.meter_event_adjustments.create({
        "event_name": "tokens", "type": "cancel", "cancel": {"identifier": "t0"},
    })
    assert total(client, meter.id, customer.id) == Decimal("301.5")


def test_v2_session_stream_events_and_adjustments(server: Server,
                                                  client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "stream"})
    meter = client.v1.billing.meters.create({
        "display_name": "GPU seconds", "event_name": "gpu_seconds",
        "default_aggregation": {"formula": "sum"},
    })
    session = client.v2.billing.meter_event_session.create()
    assert session.authentication_token and session.object == "v2.billing.meter_event_session"
    streamer = sdk(server, session.authentication_token)
    now = int(time.time())
    streamer.v2.billing.meter_event_stream.create({"events": [
        {"event_name": "gpu_seconds", "identifier": f"s{i}",
         "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - i)),
         "payload": {"stripe_customer_id": customer.id, "value": str(10 + i)}}
        for i in range(5)
    ]})
    assert total(client, meter.id, customer.id) == Decimal(10 + 11 + 12 + 13 + 14)
    # Re-streaming the same identifiers changes nothing.
    streamer.v2.billing.meter_event_stream.create({"events": [
        {"event_name": "gpu_seconds", "identifier": "s0",
         "payload": {"stripe_customer_id": customer.id, "value": "1000"}}
    ]})
    assert total(client, meter.id, customer.id) == Decimal(60)

    event = client.v2.billing.meter_events.create({
        "event_name": "gpu_seconds", "identifier": "v2-one",
        "payload": {"stripe_customer_id": customer.id, "value": "40"},
    })
    assert event.identifier == "v2-one" and event.object == "v2.billing.meter_event"
    assert total(client, meter.id, customer.id) == Decimal(100)
    adjustment = client.v2.billing.meter_event_adjustments.create({
        "event_name": "gpu_seconds", "type": "cancel", "cancel": {"identifier": "s4"},
    })
    assert adjustment.id and adjustment.status == "complete"
    assert total(client, meter.id, customer.id) == Decimal(86)

    with pytest.raises(stripe.AuthenticationError):
        sdk(server, "mes_tok_not-a-session").v2.billing.meter_event_stream.create(
            {"events": [{"event_name": "gpu_seconds", "payload": {"value": "1"}}]}
        )


@pytest.mark.parametrize(("formula", "values", "expected"), [
    ("sum", ["3", "4.25", "1"], Decimal("8.25")),
    ("count", ["3", "4.25", "1"], Decimal(3)),
    ("max", ["3", "4.25", "1"], Decimal("4.25")),
    ("last", ["3", "4.25", "1"], Decimal(1)),
    ("unique_count", ["a", "b", "a"], Decimal(2)),
])
def test_each_formula(client: stripe.StripeClient, formula: str, values: list[str],
                      expected: Decimal) -> None:
    customer = client.v1.customers.create({"name": formula})
    meter = client.v1.billing.meters.create({
        "display_name": formula, "event_name": f"ev_{formula}",
        "default_aggregation": {"formula": formula},
    })
    now = int(time.time()) - 600
    for i, value in enumerate(values):
        client.v1.billing.meter_events.create({
            "event_name": f"ev_{formula}", "identifier": str(uuid.uuid4()), "timestamp": now + i,
            "payload": {"stripe_customer_id": customer.id, "value": value},
        })
    assert total(client, meter.id, customer.id) == expected
    hourly = total(client, meter.id, customer.id, value_grouping_window="hour") if formula in (
        "sum", "count") else expected
    assert hourly == expected


def test_summary_windows(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "windows"})
    meter = client.v1.billing.meters.create({
        "display_name": "w", "event_name": "windowed", "default_aggregation": {"formula": "sum"},
    })
    day = (int(time.time()) // 86_400 - 2) * 86_400
    for hour, value in ((1, "5"), (1, "6"), (3, "7"), (30, "100")):
        client.v1.billing.meter_events.create({
            "event_name": "windowed", "identifier": str(uuid.uuid4()),
            "timestamp": day + hour * 3600 + 59,
            "payload": {"stripe_customer_id": customer.id, "value": value},
        })
    hourly = client.v1.billing.meters.event_summaries.list(meter.id, {
        "customer": customer.id, "start_time": day, "end_time": day + 4 * 3600,
        "value_grouping_window": "hour",
    })
    assert [(s.start_time - day, s.aggregated_value) for s in hourly.data] == [
        (0, 0), (3600, 11), (7200, 0), (10800, 7)
    ]
    daily = client.v1.billing.meters.event_summaries.list(meter.id, {
        "customer": customer.id, "start_time": day, "end_time": day + 2 * 86_400,
        "value_grouping_window": "day",
    })
    assert [s.aggregated_value for s in daily.data] == [18, 100]
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing.meters.event_summaries.list(meter.id, {
            "customer": customer.id, "start_time": day + 30, "end_time": day + 3600})
    assert err.value.param == "start_time"


def test_idempotency_through_the_sdk(client: stripe.StripeClient) -> None:
    first = client.v1.customers.create({"name": "once"}, {"idempotency_key": "k-1"})
    again = client.v1.customers.create({"name": "once"}, {"idempotency_key": "k-1"})
    assert again.id == first.id
    assert [c.id for c in client.v1.customers.list().data] == [first.id]
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.create({"name": "other"}, {"idempotency_key": "k-1"})


def test_accounts_and_modes_are_isolated(server: Server, client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "mine"})
    other = sdk(server, server.new_account_key())
    with pytest.raises(stripe.InvalidRequestError) as err:
        other.v1.customers.retrieve(customer.id)
    assert err.value.http_status == 404
    live = sdk(server, server.new_key(live=True))
    assert all(not c.livemode for c in client.v1.customers.list().data)
    live_customer = live.v1.customers.create({"name": "live"})
    assert live_customer.livemode is True
    with pytest.raises(stripe.AuthenticationError):
        sdk(server, "sk_test_" + "x" * 32).v1.customers.list()
