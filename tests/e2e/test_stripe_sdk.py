"""The official stripe SDK (16.x) against a live `metered serve`.

Every value a summary returns is checked against a small reference implementation of the
formulas (`expected`), over the whole range, hour windows, day windows and an unaligned range,
before and after cancellations. Isolation between accounts and modes, idempotency through the
SDK's request options, and the SDK's error classes are checked on the same live server.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest
import stripe

from conftest import Server

HOUR = 3600
DAY = 86_400


def sdk(server: Server, key: str, retries: int = 0) -> stripe.StripeClient:
    """An SDK client whose v1 and v2 (meter events) traffic both go to the local server."""
    return stripe.StripeClient(
        key,
        base_addresses={"api": server.base_url, "meter_events": server.base_url},
        max_network_retries=retries,
    )


@pytest.fixture
def client(server: Server) -> stripe.StripeClient:
    """The SDK as a brand-new account (test mode): nothing else lives there."""
    return sdk(server, server.new_account_key())


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def base_day() -> int:
    """Midnight UTC three days ago: whole hours and days, well inside the 35-day window."""
    return (int(time.time()) // DAY - 3) * DAY


def minute_range() -> tuple[int, int]:
    """A minute-aligned range from two days ago to a few minutes ahead (covers 'now')."""
    now = int(time.time())
    return (now - 2 * DAY) // 60 * 60, (now // 60 + 10) * 60


def create_meter(client: stripe.StripeClient, formula: str, **extra: Any) -> Any:
    return client.v1.billing.meters.create({
        "display_name": f"{formula} meter", "event_name": unique(formula),
        "default_aggregation": {"formula": formula}, **extra,
    })


def summaries(client: stripe.StripeClient, meter_id: str, customer_id: str, start: int, end: int,
              window: str | None = None) -> list[tuple[int, int, Decimal]]:
    """Every summary of the range, through the SDK's auto-pagination: (start, end, value)."""
    params: dict[str, Any] = {"customer": customer_id, "start_time": start, "end_time": end}
    if window:
        params["value_grouping_window"] = window
    page = client.v1.billing.meters.event_summaries.list(meter_id, params)
    out = []
    for s in page.auto_paging_iter():
        assert s.object == "billing.meter_event_summary" and s.meter == meter_id
        assert s.id.startswith("mtrsum_")
        out.append((s.start_time, s.end_time, dec(s.aggregated_value)))
    return out


def total(client: stripe.StripeClient, meter_id: str, customer_id: str) -> Decimal:
    start, end = minute_range()
    [(_, _, value)] = summaries(client, meter_id, customer_id, start, end)
    return value


# --- a reference implementation of the five formulas ------------------------------------------

@dataclass(frozen=True)
class Sent:
    ts: int
    value: str
    order: int  # ingestion order: breaks ties between events with the same timestamp
    identifier: str


def expected(formula: str, events: list[Sent], lo: int, hi: int) -> Decimal:
    inside = [e for e in events if lo <= e.ts < hi]
    if formula == "count":
        return Decimal(len(inside))
    if formula == "unique_count":
        return Decimal(len({e.value for e in inside}))
    if not inside:
        return Decimal(0)
    if formula == "sum":
        return sum((Decimal(e.value) for e in inside), Decimal(0))
    if formula == "max":
        return max(Decimal(e.value) for e in inside)
    assert formula == "last"
    return Decimal(max(inside, key=lambda e: (e.ts, e.order)).value)


# Offsets from midnight (seconds) and values; sent in reverse, so ingestion order != event time.
# Two events share a timestamp (1h40m): `last` takes the one ingested later.
NUMERIC = [
    (HOUR + 300, "3"), (HOUR + 2400, "4.25"), (HOUR + 2400, "2"), (3 * HOUR + 60, "1"),
    (DAY - 1, "7.5"), (DAY + 2 * HOUR, "10"), (DAY + 2 * HOUR + 30, "0.125"),
    (2 * DAY - 1800, "2.5"),
]
WORDS = ["a", "b", "a", "c", "b", "d", "a", "e"]


def check_all_views(client: stripe.StripeClient, formula: str, meter_id: str, customer_id: str,
                    day: int, sent: list[Sent]) -> None:
    end = day + 2 * DAY
    assert summaries(client, meter_id, customer_id, day, end) == [
        (day, end, expected(formula, sent, day, end))
    ]
    hourly = summaries(client, meter_id, customer_id, day, end, "hour")
    assert hourly == [(t, t + HOUR, expected(formula, sent, t, t + HOUR))
                      for t in range(day, end, HOUR)]
    daily = summaries(client, meter_id, customer_id, day, end, "day")
    assert daily == [(t, t + DAY, expected(formula, sent, t, t + DAY)) for t in (day, day + DAY)]
    lo, hi = day + HOUR + 360, day + DAY + 2 * HOUR + 60  # minute-aligned, not hour-aligned
    assert summaries(client, meter_id, customer_id, lo, hi) == [
        (lo, hi, expected(formula, sent, lo, hi))
    ]


@pytest.mark.parametrize("formula", ["sum", "count", "last", "max", "unique_count"])
def test_summaries_match_the_formula_exactly(client: stripe.StripeClient, formula: str) -> None:
    customer = client.v1.customers.create({"name": formula})
    meter = create_meter(client, formula)
    day = base_day()
    values = WORDS if formula == "unique_count" else [v for _, v in NUMERIC]
    plan = [(day + offset, value) for (offset, _), value in zip(NUMERIC, values, strict=True)]
    sent = []
    for order, (ts, value) in enumerate(reversed(plan)):
        identifier = f"e{order}"
        event = client.v1.billing.meter_events.create({
            "event_name": meter.event_name, "identifier": identifier, "timestamp": ts,
            "payload": {"stripe_customer_id": customer.id, "value": value},
        })
        assert (event.identifier, event.timestamp, event.event_name) == (
            identifier, ts, meter.event_name
        )
        sent.append(Sent(ts, value, order, identifier))
    check_all_views(client, formula, meter.id, customer.id, day, sent)

    # Cancel the event that decides each view (the max, the latest, a repeated word), then the
    # later-ingested of the two events sharing a timestamp: every view is recomputed exactly.
    decisive = {
        "sum": "e0", "count": "e0",
        "max": "e2",  # "10"
        "last": "e0",  # the latest event (2.5)
        "unique_count": "e1",  # "a" on day two; "a" is still sent on day one
    }[formula]
    for identifier in (decisive, "e6"):
        adjustment = client.v1.billing.meter_event_adjustments.create({
            "event_name": meter.event_name, "type": "cancel", "cancel": {"identifier": identifier},
        })
        assert adjustment.cancel.identifier == identifier and adjustment.status == "complete"
        sent = [e for e in sent if e.identifier != identifier]
        check_all_views(client, formula, meter.id, customer.id, day, sent)


def test_customers_crud_metadata_and_pagination(client: stripe.StripeClient) -> None:
    first = client.v1.customers.create({
        "name": "Ada", "email": "ada@example.com", "description": "first",
        "metadata": {"plan": "pro", "region": "eu", "empty": ""},
    })
    assert first.id.startswith("cus_") and first.object == "customer"
    assert (first.name, first.email, first.description, first.livemode) == (
        "Ada", "ada@example.com", "first", False
    )
    assert first.metadata.to_dict() == {"plan": "pro", "region": "eu"}

    fetched = client.v1.customers.retrieve(first.id)
    assert fetched.to_dict() == first.to_dict()

    # Metadata merges key by key; an empty string deletes a key; other fields stay.
    updated = client.v1.customers.update(first.id, {"metadata": {"plan": "team", "seats": "5",
                                                                 "region": ""}})
    assert updated.metadata.to_dict() == {"plan": "team", "seats": "5"}
    assert (updated.name, updated.email, updated.description) == ("Ada", "ada@example.com", "first")
    updated = client.v1.customers.update(first.id, {"name": "Ada L.", "email": ""})
    assert (updated.name, updated.email) == ("Ada L.", None)
    assert updated.metadata.to_dict() == {"plan": "team", "seats": "5"}
    cleared = client.v1.customers.update(first.id, {"metadata": ""})
    assert cleared.metadata.to_dict() == {}
    assert client.v1.customers.retrieve(first.id).metadata.to_dict() == {}

    created = [first] + [client.v1.customers.create({"name": f"c{i}", "email": f"c{i}@x.io"})
                         for i in range(1, 7)]
    newest_first = [c.id for c in reversed(created)]
    page = client.v1.customers.list({"limit": 3})
    assert [c.id for c in page.data] == newest_first[:3] and page.has_more is True
    assert page.url == "/v1/customers"
    assert [c.id for c in client.v1.customers.list({"limit": 3}).auto_paging_iter()] == (
        newest_first
    )
    last_page = client.v1.customers.list({"limit": 3, "starting_after": newest_first[5]})
    assert [c.id for c in last_page.data] == newest_first[6:] and last_page.has_more is False
    # ending_before walks towards newer objects; the SDK iterates them oldest first.
    before = client.v1.customers.list({"limit": 2, "ending_before": created[0].id})
    assert [c.id for c in before.data] == [created[2].id, created[1].id] and before.has_more
    assert [c.id for c in before.auto_paging_iter()] == [c.id for c in created[1:]]
    assert [c.id for c in client.v1.customers.list({"email": "c3@x.io"}).data] == [created[3].id]

    deleted = client.v1.customers.delete(created[3].id)
    assert (deleted.id, deleted.deleted) == (created[3].id, True)
    assert client.v1.customers.retrieve(created[3].id).deleted is True
    remaining = [c.id for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()]
    assert remaining == [i for i in newest_first if i != created[3].id]
    for call in (lambda: client.v1.customers.delete(created[3].id),
                 lambda: client.v1.customers.update(created[3].id, {"name": "ghost"})):
        with pytest.raises(stripe.InvalidRequestError) as err:
            call()
        assert (err.value.http_status, err.value.code) == (404, "resource_missing")


def test_meters_lifecycle(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "meters"})
    meters = {}
    for formula in ("sum", "count", "last", "max", "unique_count"):
        meter = create_meter(client, formula, customer_mapping={
            "event_payload_key": "account", "type": "by_id"},
            value_settings={"event_payload_key": "amount"})
        assert meter.id.startswith("mtr_") and meter.object == "billing.meter"
        assert (meter.status, meter.default_aggregation.formula) == ("active", formula)
        assert meter.customer_mapping.to_dict() == {"event_payload_key": "account",
                                                    "type": "by_id"}
        assert meter.value_settings.event_payload_key == "amount"
        assert meter.status_transitions.deactivated_at is None and meter.livemode is False
        meters[formula] = meter
    assert client.v1.billing.meters.retrieve(meters["max"].id).to_dict() == meters["max"].to_dict()

    renamed = client.v1.billing.meters.update(meters["sum"].id, {"display_name": "Tokens"})
    assert renamed.display_name == "Tokens" and renamed.event_name == meters["sum"].event_name
    assert client.v1.billing.meters.retrieve(meters["sum"].id).display_name == "Tokens"

    newest_first = [m.id for m in reversed(meters.values())]
    assert [m.id for m in client.v1.billing.meters.list({"limit": 2}).auto_paging_iter()] == (
        newest_first
    )
    for formula in ("count", "max"):
        off = client.v1.billing.meters.deactivate(meters[formula].id)
        assert off.status == "inactive" and off.status_transitions.deactivated_at >= off.created
    inactive = client.v1.billing.meters.list({"status": "inactive"})
    assert [m.id for m in inactive.data] == [meters["max"].id, meters["count"].id]
    active = client.v1.billing.meters.list({"status": "active"})
    assert [m.id for m in active.data] == [meters[f].id for f in ("unique_count", "last", "sum")]

    # A deactivated meter refuses events, and deactivating it again is an error.
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing.meter_events.create({
            "event_name": meters["max"].event_name,
            "payload": {"account": customer.id, "amount": "1"}})
    assert (err.value.code, err.value.param) == ("archived_meter", "event_name")
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing.meters.deactivate(meters["max"].id)
    assert (err.value.http_status, err.value.code) == (400, "meter_status_unchanged")

    back = client.v1.billing.meters.reactivate(meters["max"].id)
    assert back.status == "active" and back.status_transitions.deactivated_at is None
    client.v1.billing.meter_events.create({
        "event_name": meters["max"].event_name, "payload": {"account": customer.id,
                                                            "amount": "4.5"}})
    assert total(client, meters["max"].id, customer.id) == Decimal("4.5")

    # While `count` is inactive its event_name is free; reactivating it then is refused with a
    # 400 (not a 409, which the SDK would retry and raise as an APIError).
    taken = client.v1.billing.meters.create({
        "display_name": "successor", "event_name": meters["count"].event_name,
        "default_aggregation": {"formula": "sum"}})
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing.meters.reactivate(meters["count"].id)
    assert (err.value.http_status, err.value.code) == (400, "resource_already_exists")
    assert client.v1.billing.meters.retrieve(taken.id).status == "active"


def test_v1_events_identifiers_duplicates_and_adjustments(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "v1"})
    meter = create_meter(client, "sum")
    payload = {"stripe_customer_id": customer.id}
    sent_at = int(time.time())
    explicit = client.v1.billing.meter_events.create({
        "event_name": meter.event_name, "identifier": "req-1",
        "payload": {**payload, "value": "12.5"}})
    assert explicit.object == "billing.meter_event" and explicit.identifier == "req-1"
    assert explicit.payload.to_dict() == {**payload, "value": "12.5"}
    # Without a timestamp, the event happens when it is received.
    assert sent_at <= explicit.timestamp <= int(time.time()) and explicit.livemode is False
    generated = [client.v1.billing.meter_events.create({
        "event_name": meter.event_name, "payload": {**payload, "value": "1"}})
        for _ in range(3)]
    identifiers = {e.identifier for e in generated}
    assert len(identifiers) == 3 and "req-1" not in identifiers
    assert all(len(i) >= 16 for i in identifiers)
    assert total(client, meter.id, customer.id) == Decimal("15.5")

    for value in ("12.5", "99"):  # the same identifier again, with any value, is refused
        with pytest.raises(stripe.InvalidRequestError) as err:
            client.v1.billing.meter_events.create({
                "event_name": meter.event_name, "identifier": "req-1",
                "payload": {**payload, "value": value}})
        assert (err.value.http_status, err.value.code, err.value.param) == (
            400, "duplicate_meter_event", "identifier")
    assert total(client, meter.id, customer.id) == Decimal("15.5")

    # The same identifier under another meter's event_name is another event.
    other = create_meter(client, "sum")
    client.v1.billing.meter_events.create({
        "event_name": other.event_name, "identifier": "req-1",
        "payload": {**payload, "value": "100"}})
    assert total(client, other.id, customer.id) == Decimal(100)
    assert total(client, meter.id, customer.id) == Decimal("15.5")

    first = client.v1.billing.meter_event_adjustments.create({
        "event_name": meter.event_name, "type": "cancel", "cancel": {"identifier": "req-1"}})
    assert first.object == "billing.meter_event_adjustment" and first.type == "cancel"
    assert (first.event_name, first.cancel.identifier, first.status) == (
        meter.event_name, "req-1", "complete")
    assert total(client, meter.id, customer.id) == Decimal(3)
    again = client.v1.billing.meter_event_adjustments.create({
        "event_name": meter.event_name, "type": "cancel", "cancel": {"identifier": "req-1"}})
    assert again.id == first.id
    assert total(client, meter.id, customer.id) == Decimal(3)
    assert total(client, other.id, customer.id) == Decimal(100)
    # A cancelled identifier stays taken: re-sending it does not bring the usage back.
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing.meter_events.create({
            "event_name": meter.event_name, "identifier": "req-1",
            "payload": {**payload, "value": "12.5"}})
    assert err.value.code == "duplicate_meter_event"
    assert total(client, meter.id, customer.id) == Decimal(3)

    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.billing.meter_event_adjustments.create({
            "event_name": meter.event_name, "type": "cancel",
            "cancel": {"identifier": "never-sent"}})
    assert (err.value.http_status, err.value.param) == (404, "cancel[identifier]")


def iso_seconds(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def iso(ts: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def test_v2_session_stream_events_and_adjustments(server: Server,
                                                  client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "v2"})
    meter = create_meter(client, "sum")
    session = client.v2.billing.meter_event_session.create()
    assert session.object == "v2.billing.meter_event_session" and session.id.startswith("mes_")
    assert session.authentication_token.startswith("mes_tok_") and session.livemode is False
    assert iso_seconds(session.expires_at) - iso_seconds(session.created) == 15 * 60

    streamer = sdk(server, session.authentication_token)
    now = int(time.time())
    events = [{"event_name": meter.event_name, "identifier": f"s{i}", "timestamp": iso(now - i),
               "payload": {"stripe_customer_id": customer.id, "value": str(10 + i)}}
              for i in range(5)]
    assert streamer.v2.billing.meter_event_stream.create({"events": events}) is None
    assert total(client, meter.id, customer.id) == Decimal(60)  # read your writes
    # The same identifiers again (with other values), plus one new one: only the new one counts.
    again = [{**e, "payload": {**e["payload"], "value": "1000"}} for e in events]
    new = {"event_name": meter.event_name, "identifier": "s5",
           "payload": {"stripe_customer_id": customer.id, "value": "0.75"}}
    streamer.v2.billing.meter_event_stream.create({"events": [*again, new]})
    assert total(client, meter.id, customer.id) == Decimal("60.75")

    # The session token authenticates the stream and nothing else; a secret key is no token.
    with pytest.raises(stripe.AuthenticationError):
        streamer.v1.customers.list()
    with pytest.raises(stripe.AuthenticationError):
        client.v2.billing.meter_event_stream.create({"events": [new]})
    with pytest.raises(stripe.AuthenticationError):
        sdk(server, "mes_tok_" + "x" * 40).v2.billing.meter_event_stream.create(
            {"events": [new]})

    event = client.v2.billing.meter_events.create({
        "event_name": meter.event_name, "identifier": "v2-one", "timestamp": iso(now - 60),
        "payload": {"stripe_customer_id": customer.id, "value": "39.25"}})
    assert (event.object, event.identifier, event.event_name) == (
        "v2.billing.meter_event", "v2-one", meter.event_name)
    assert iso_seconds(event.timestamp) == now - 60 and event.livemode is False
    assert event.payload.to_dict() == {"stripe_customer_id": customer.id, "value": "39.25"}
    assert total(client, meter.id, customer.id) == Decimal(100)
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v2.billing.meter_events.create({
            "event_name": meter.event_name, "identifier": "s0",  # streamed earlier
            "payload": {"stripe_customer_id": customer.id, "value": "5"}})
    assert (err.value.http_status, err.value.code) == (400, "duplicate_meter_event")

    adjustment = client.v2.billing.meter_event_adjustments.create({
        "event_name": meter.event_name, "type": "cancel", "cancel": {"identifier": "s4"}})
    assert adjustment.object == "v2.billing.meter_event_adjustment"
    assert adjustment.id and adjustment.status == "complete" and adjustment.type == "cancel"
    assert adjustment.cancel.identifier == "s4" and adjustment.event_name == meter.event_name
    assert total(client, meter.id, customer.id) == Decimal(86)
    repeat = client.v2.billing.meter_event_adjustments.create({
        "event_name": meter.event_name, "type": "cancel", "cancel": {"identifier": "s4"}})
    assert repeat.id == adjustment.id
    assert total(client, meter.id, customer.id) == Decimal(86)
    # A v1 adjustment can cancel a v2 event, and the other way round.
    client.v1.billing.meter_event_adjustments.create({
        "event_name": meter.event_name, "cancel": {"identifier": "v2-one"}})
    assert total(client, meter.id, customer.id) == Decimal("46.75")


def test_stream_rejects_bad_events_one_by_one(server: Server, client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "mixed"})
    meter = create_meter(client, "sum")
    streamer = sdk(server, client.v2.billing.meter_event_session.create().authentication_token)
    streamer.v2.billing.meter_event_stream.create({"events": [
        {"event_name": meter.event_name, "payload": {"stripe_customer_id": customer.id,
                                                     "value": "2"}},
        {"event_name": meter.event_name, "payload": {"stripe_customer_id": customer.id,
                                                     "value": "-2"}},
        {"event_name": "no_such_meter", "payload": {"stripe_customer_id": customer.id,
                                                    "value": "2"}},
        {"event_name": meter.event_name, "payload": {"stripe_customer_id": "cus_nobody",
                                                     "value": "2"}},
        {"event_name": meter.event_name, "payload": {"stripe_customer_id": customer.id,
                                                     "value": "3"}},
    ]})
    assert total(client, meter.id, customer.id) == Decimal(5)


def test_read_your_writes(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "ryw"})
    meter = create_meter(client, "sum")
    running = Decimal(0)
    for i in range(12):
        value = Decimal(i) / 4
        client.v1.billing.meter_events.create({
            "event_name": meter.event_name, "identifier": f"r{i}",
            "payload": {"stripe_customer_id": customer.id, "value": str(value)}})
        running += value
        assert total(client, meter.id, customer.id) == running
        if i % 4 == 3:
            client.v1.billing.meter_event_adjustments.create({
                "event_name": meter.event_name, "cancel": {"identifier": f"r{i}"}})
            running -= value
            assert total(client, meter.id, customer.id) == running
    assert running == Decimal("11.25")


def test_idempotency_through_request_options(server: Server,
                                             client: stripe.StripeClient) -> None:
    key = unique("idem")
    first = client.v1.customers.create({"name": "once"}, {"idempotency_key": key})
    replay = client.v1.customers.create({"name": "once"}, {"idempotency_key": key})
    assert replay.to_dict() == first.to_dict()
    assert [c.id for c in client.v1.customers.list().data] == [first.id]
    with pytest.raises(stripe.IdempotencyError) as err:
        client.v1.customers.create({"name": "twice"}, {"idempotency_key": key})
    assert err.value.http_status == 400
    with pytest.raises(stripe.IdempotencyError):  # same key, another endpoint
        client.v1.customers.update(first.id, {"name": "once"}, {"idempotency_key": key})
    assert [c.id for c in client.v1.customers.list().data] == [first.id]

    # Meter events: a replay returns the first answer and counts once, even without identifier.
    meter = create_meter(client, "sum")
    params = {"event_name": meter.event_name,
              "payload": {"stripe_customer_id": first.id, "value": "7"}}
    event = client.v1.billing.meter_events.create(params, {"idempotency_key": "ev-1"})
    assert client.v1.billing.meter_events.create(params, {"idempotency_key": "ev-1"}).identifier \
        == event.identifier
    with pytest.raises(stripe.IdempotencyError):
        client.v1.billing.meter_events.create(
            {**params, "payload": {"stripe_customer_id": first.id, "value": "8"}},
            {"idempotency_key": "ev-1"})
    v2 = {"event_name": meter.event_name, "identifier": "v2-idem",
          "payload": {"stripe_customer_id": first.id, "value": "3"}}
    assert client.v2.billing.meter_events.create(v2, {"idempotency_key": "ev-2"}).identifier == (
        "v2-idem")
    client.v2.billing.meter_events.create(v2, {"idempotency_key": "ev-2"})
    assert total(client, meter.id, first.id) == Decimal(10)

    # Keys belong to an account and a mode: the same key elsewhere is a new request.
    other = sdk(server, server.new_account_key())
    elsewhere = other.v1.customers.create({"name": "once"}, {"idempotency_key": key})
    assert elsewhere.id != first.id

    # The SDK's own retries add keys of their own; everything still counts once.
    retrying = sdk(server, server.new_account_key(), retries=2)
    c = retrying.v1.customers.create({"name": "retrying"})
    m = create_meter(retrying, "count")
    for _ in range(3):
        retrying.v1.billing.meter_events.create({
            "event_name": m.event_name, "payload": {"stripe_customer_id": c.id}})
    assert total(retrying, m.id, c.id) == Decimal(3)


def test_other_accounts_objects_are_not_found(server: Server,
                                              client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "mine"})
    meter = create_meter(client, "sum")
    client.v1.billing.meter_events.create({
        "event_name": meter.event_name, "identifier": "mine-1",
        "payload": {"stripe_customer_id": customer.id, "value": "5"}})
    other = sdk(server, server.new_account_key())
    other_customer = other.v1.customers.create({"name": "theirs"})
    other_meter = other.v1.billing.meters.create({
        "display_name": "same name", "event_name": meter.event_name,
        "default_aggregation": {"formula": "sum"}})
    start, end = minute_range()

    not_found = [
        (lambda: other.v1.customers.retrieve(customer.id), "id"),
        (lambda: other.v1.customers.update(customer.id, {"name": "x"}), "id"),
        (lambda: other.v1.customers.delete(customer.id), "id"),
        (lambda: other.v1.billing.meters.retrieve(meter.id), "id"),
        (lambda: other.v1.billing.meters.update(meter.id, {"display_name": "x"}), "id"),
        (lambda: other.v1.billing.meters.deactivate(meter.id), "id"),
        (lambda: other.v1.billing.meters.event_summaries.list(meter.id, {
            "customer": other_customer.id, "start_time": start, "end_time": end}), "id"),
        (lambda: other.v1.billing.meters.event_summaries.list(other_meter.id, {
            "customer": customer.id, "start_time": start, "end_time": end}), "customer"),
        (lambda: other.v1.customers.list({"starting_after": customer.id}), "starting_after"),
        (lambda: other.v1.billing.meters.list({"ending_before": meter.id}), "ending_before"),
        (lambda: other.v1.billing.meter_event_adjustments.create({
            "event_name": meter.event_name, "cancel": {"identifier": "mine-1"}}),
         "cancel[identifier]"),
    ]
    for call, param in not_found:
        with pytest.raises(stripe.InvalidRequestError) as err:
            call()
        assert (err.value.http_status, err.value.code, err.value.param) == (
            404, "resource_missing", param)

    # Their meter has my meter's event_name, but my customer is nobody to them.
    with pytest.raises(stripe.InvalidRequestError) as err:
        other.v1.billing.meter_events.create({
            "event_name": meter.event_name,
            "payload": {"stripe_customer_id": customer.id, "value": "1"}})
    assert (err.value.http_status, err.value.code) == (400, "meter_event_customer_not_found")
    assert total(client, meter.id, customer.id) == Decimal(5)
    assert client.v1.customers.retrieve(customer.id).name == "mine"
    assert client.v1.billing.meters.retrieve(meter.id).status == "active"


def test_live_key_does_not_see_test_mode(server: Server) -> None:
    test = sdk(server, server.new_key())
    live = sdk(server, server.new_key(live=True))
    customer = test.v1.customers.create({"name": "test-mode"})
    meter = create_meter(test, "sum")
    assert customer.livemode is False and meter.livemode is False

    with pytest.raises(stripe.InvalidRequestError) as err:
        live.v1.customers.retrieve(customer.id)
    assert err.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as err:
        live.v1.billing.meters.retrieve(meter.id)
    assert err.value.http_status == 404
    live_customers = [c for c in live.v1.customers.list({"limit": 100}).auto_paging_iter()]
    assert customer.id not in {c.id for c in live_customers}
    assert all(c.livemode for c in live_customers)
    assert meter.id not in {m.id for m in live.v1.billing.meters.list({"limit": 100})
                            .auto_paging_iter()}
    with pytest.raises(stripe.InvalidRequestError) as err:
        live.v1.billing.meter_events.create({
            "event_name": meter.event_name,
            "payload": {"stripe_customer_id": customer.id, "value": "1"}})
    assert err.value.code == "no_meter"  # the test-mode meter does not exist in live mode

    live_customer = live.v1.customers.create({"name": "live-mode"})
    live_meter = live.v1.billing.meters.create({
        "display_name": "live", "event_name": meter.event_name,
        "default_aggregation": {"formula": "sum"}})
    assert live_customer.livemode is True and live_meter.livemode is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        live.v1.billing.meter_events.create({
            "event_name": meter.event_name,
            "payload": {"stripe_customer_id": customer.id, "value": "1"}})
    assert err.value.code == "meter_event_customer_not_found"
    live.v1.billing.meter_events.create({
        "event_name": meter.event_name, "identifier": "shared-id",
        "payload": {"stripe_customer_id": live_customer.id, "value": "8"}})
    test.v1.billing.meter_events.create({  # same identifier, other mode: another event
        "event_name": meter.event_name, "identifier": "shared-id",
        "payload": {"stripe_customer_id": customer.id, "value": "2"}})
    assert total(live, live_meter.id, live_customer.id) == Decimal(8)
    start, end = minute_range()
    [summary] = live.v1.billing.meters.event_summaries.list(live_meter.id, {
        "customer": live_customer.id, "start_time": start, "end_time": end}).data
    assert summary.livemode is True and summary.meter == live_meter.id
    assert total(test, meter.id, customer.id) == Decimal(2)
    session = live.v2.billing.meter_event_session.create()
    assert session.livemode is True
    with pytest.raises(stripe.InvalidRequestError) as err:
        test.v1.customers.retrieve(live_customer.id)
    assert err.value.http_status == 404


@pytest.mark.parametrize("key", [
    "sk_test_" + "0" * 32, "sk_live_" + "0" * 32, "pk_test_123", "rk_test_abc", "garbage",
])
def test_bad_keys_are_authentication_errors(server: Server, key: str) -> None:
    bad = sdk(server, key)
    for call in (lambda: bad.v1.customers.list(),
                 lambda: bad.v1.customers.create({"name": "x"}),
                 lambda: bad.v2.billing.meter_event_session.create(),
                 lambda: bad.v2.billing.meter_event_stream.create({"events": [
                     {"event_name": "x", "payload": {"value": "1"}}]})):
        with pytest.raises(stripe.AuthenticationError) as err:
            call()
        assert err.value.http_status == 401


def test_unknown_parameters_and_expand_through_the_sdk(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "x"})
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.create({"name": "x", "colour": "red"})  # type: ignore
    assert (err.value.code, err.value.param) == ("parameter_unknown", "colour")
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.customers.retrieve(customer.id, {"expand": ["nothing"]})
    assert err.value.param == "expand"
    expanded = client.v1.customers.retrieve(customer.id, {"expand": ["test_clock"]})
    assert expanded.id == customer.id and expanded.test_clock is None


def test_count_meter_ignores_values(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"name": "count"})
    meter = create_meter(client, "count")
    for value in (None, "5", "not a number"):
        payload = {"stripe_customer_id": customer.id}
        if value is not None:
            payload["value"] = value
        client.v1.billing.meter_events.create({"event_name": meter.event_name,
                                               "payload": payload})
    assert total(client, meter.id, customer.id) == Decimal(3)
