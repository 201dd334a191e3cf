"""Meter events through metered.client against a live server: per-event batch outcomes,
chunking, exact Decimal usage, v1 events and cancellations, summaries and the usage query."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from metered.client import (
    BatchResult,
    Client,
    EventIn,
    InvalidRequestError,
    MeterEvent,
    MeterEventAdjustment,
)


def minute_range() -> tuple[int, int]:
    """A range holding every event sent by the test: the last day up to the next minutes."""
    now = int(time.time())
    return (now - 86_400) // 60 * 60, (now // 60 + 2) * 60


def today() -> tuple[int, int]:
    start = int(time.time()) // 86_400 * 86_400
    return start, start + 86_400


@pytest.fixture
def customer(client: Client) -> str:
    return client.customers.create(name="Acme").id


def test_batch_outcomes_per_event(client: Client, customer: str) -> None:
    client.meters.create(display_name="Tokens", event_name="tokens")
    events = [
        EventIn(event_name="tokens", payload={"stripe_customer_id": customer, "value": "3"}),
        {"event_name": "tokens", "identifier": "req-1",
         "payload": {"stripe_customer_id": customer, "value": 4}},
        {"event_name": "tokens", "identifier": "req-1",  # the same event again
         "payload": {"stripe_customer_id": customer, "value": 4}},
        {"event_name": "tokens", "payload": {"stripe_customer_id": "cus_nobody", "value": "1"}},
        {"event_name": "no_such_meter", "payload": {}},
        {"payload": {"stripe_customer_id": customer}},  # malformed: the server says why
    ]
    result = client.events.send_batch(events)
    assert isinstance(result, BatchResult)
    assert (result.accepted, result.duplicate, result.rejected) == (2, 1, 3)
    assert [r.index for r in result.results] == list(range(6))
    assert [r.status for r in result.results] == ["accepted", "accepted", "duplicate",
                                                  "rejected", "rejected", "rejected"]
    assert [r.error.code for r in result.rejections if r.error] == [
        "meter_event_customer_not_found", "no_meter", "parameter_missing"]
    assert result.rejections[0].error is not None
    assert result.rejections[0].error.param == "payload[stripe_customer_id]"
    # Identifiers were assigned client-side before sending, and kept where given.
    assert result.results[1].identifier == "req-1"
    assert all(r.identifier for r in result.results)
    assert len({r.identifier for r in result.results}) == 5


def test_resending_prepared_events_never_counts_twice(client: Client, customer: str) -> None:
    meter = client.meters.create(display_name="Calls", event_name="calls", formula="count")
    prepared = client.events.prepare(
        {"event_name": "calls", "payload": {"stripe_customer_id": customer}} for _ in range(5))
    assert client.events.prepare(prepared) == prepared  # identifiers are fixed once
    assert client.events.send_batch(prepared).accepted == 5
    again = client.events.send_batch(prepared)
    assert (again.accepted, again.duplicate) == (0, 5)
    start, end = minute_range()
    usage = client.meters.usage(meter.id, customer=customer, start_time=start, end_time=end)
    assert [row.aggregated_value for row in usage.data] == [Decimal(5)]


def test_large_inputs_are_sent_in_chunks(client: Client, customer: str) -> None:
    meter = client.meters.create(display_name="Calls", event_name="calls", formula="count")
    events = ({"event_name": "calls", "payload": {"stripe_customer_id": customer}}
              for _ in range(2_345))  # a generator: consumed lazily, chunk by chunk
    result = client.events.send_batch(events, chunk_size=1_000)
    assert result.accepted == 2_345
    assert [r.index for r in result.results] == list(range(2_345))
    by_bytes = client.events.send_batch(
        [{"event_name": "calls", "payload": {"stripe_customer_id": customer}}] * 30,
        max_chunk_bytes=1_000,
    )
    assert by_bytes.accepted == 30 and [r.index for r in by_bytes.results] == list(range(30))
    start, end = minute_range()
    usage = client.meters.usage(meter.id, start_time=start, end_time=end)
    assert usage.data[0].aggregated_value == Decimal(2_375)


def test_usage_is_exact_decimal(client: Client, customer: str) -> None:
    meter = client.meters.create(display_name="Credits", event_name="credits",
                                 dimensions=["model"])
    result = client.events.send_batch([
        {"event_name": "credits", "payload": {"stripe_customer_id": customer, "value": "0.1",
                                              "model": "small"}},
        {"event_name": "credits", "payload": {"stripe_customer_id": customer,
                                              "value": Decimal("0.2"), "model": "small"}},
        # 15 significant digits each; their sum needs 27, more than a float holds.
        {"event_name": "credits", "payload": {"stripe_customer_id": customer,
                                              "value": "999999999999999", "model": "large"}},
        {"event_name": "credits", "payload": {"stripe_customer_id": customer,
                                              "value": "0.000000000001", "model": "large"}},
    ])
    assert result.accepted == 4
    start, end = minute_range()
    grouped = client.meters.usage(meter.id, customer=customer, start_time=start,
                                  end_time=end, group_by=["model"])
    values = {row.dimensions["model"]: row.aggregated_value
              for row in grouped.data if row.dimensions}
    assert values == {"small": Decimal("0.3"), "large": Decimal("999999999999999.000000000001")}
    assert all(type(v) is Decimal for v in values.values())
    assert str(values["small"]) == "0.3"  # not 0.30000000000000004
    assert (grouped.formula, grouped.group_by, grouped.customer) == ("sum", ["model"], customer)

    total = client.meters.usage(meter.id, start_time=start, end_time=end)
    assert total.customer is None
    assert [row.aggregated_value for row in total.data] == [
        Decimal("999999999999999.300000000001")]


def test_event_summaries_pages(client: Client, customer: str) -> None:
    meter = client.meters.create(display_name="Tokens", event_name="tokens",
                                 dimensions=["model"])
    client.events.send_batch([
        {"event_name": "tokens", "payload": {"stripe_customer_id": customer, "value": v,
                                             "model": m}}
        for v, m in (("1.5", "a"), ("2.25", "b"), ("4", "c"), ("0.25", "a"))
    ])
    start, end = today()
    page = client.meters.event_summaries(meter.id, customer=customer, start_time=start,
                                         end_time=end, value_grouping_window="day",
                                         group_by=["model"], limit=1)
    assert len(page.data) == 1 and page.has_more
    summaries = list(page.auto_paging_iter())
    assert {s.dimensions["model"]: s.aggregated_value for s in summaries if s.dimensions} == {
        "a": Decimal("1.75"), "b": Decimal("2.25"), "c": Decimal(4)}
    assert all(s.meter == meter.id and (s.start_time, s.end_time) == (start, end)
               for s in summaries)
    whole = client.meters.event_summaries(meter.id, customer=customer, start_time=start,
                                          end_time=end)
    assert [s.aggregated_value for s in whole] == [Decimal(8)]


def test_v1_event_duplicate_and_cancel(client: Client, customer: str) -> None:
    meter = client.meters.create(display_name="Tokens", event_name="tokens")
    ts = int(time.time()) - 120
    event = client.events.create("tokens", {"stripe_customer_id": customer, "value": "12.5"},
                                 identifier="call-1", timestamp=ts)
    assert isinstance(event, MeterEvent)
    assert (event.identifier, event.timestamp, event.payload["value"]) == ("call-1", ts,
                                                                           "12.5")
    auto = client.events.create("tokens", {"stripe_customer_id": customer, "value": 1})
    assert auto.identifier  # chosen by the client before sending

    with pytest.raises(InvalidRequestError) as err:
        client.events.create("tokens", {"stripe_customer_id": customer, "value": "99"},
                             identifier="call-1")
    assert (err.value.status, err.value.code, err.value.param) == (400, "duplicate_meter_event",
                                                                   "identifier")
    assert err.value.request_id and err.value.request_id.startswith("req_")

    adjustment = client.events.cancel("tokens", "call-1")
    assert isinstance(adjustment, MeterEventAdjustment)
    assert (adjustment.cancel.identifier, adjustment.type, adjustment.event_name) == (
        "call-1", "cancel", "tokens")
    start, end = minute_range()
    usage = client.meters.usage(meter.id, customer=customer, start_time=start, end_time=end)
    assert [row.aggregated_value for row in usage.data] == [Decimal(1)]

    with pytest.raises(InvalidRequestError) as missing:
        client.events.cancel("tokens", "never-sent")
    assert (missing.value.status, missing.value.code) == (404, "resource_missing")
