"""Test clocks: CRUD through the stripe SDK, customers on a clock, and their meter events
validated against the clock's frozen time on every ingest path (the v1 single event, the v2
stream, the native batch in-process and in a parse worker), not against the wall clock."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import distributed_mode
import httpx
import pytest
import stripe

from metered import native
from metered.billing.customers import CustomerChanges, CustomerDirectory, create_customer
from metered.billing.test_clocks import create_test_clock, delete_test_clock
from metered.errors import MeteredError
from metered.ingest import native_batch
from metered.ingest.batches import validate_events
from metered.ingest.events import MAX_FUTURE_SECONDS, MAX_PAST_SECONDS
from metered.ingest.native_single import native_event
from metered.ingest.parse_pool import MIN_POOL_BYTES, parse_to_columns
from metered.ingest.validation import IngestContext, validate_event
from metered.ingest.wire_batch import decode_columns
from metered.metering.meters import MeterRegistry, load_all_meters

from conftest import Server
from engine_harness import Harness

DAY = 86_400
YEAR = 365 * DAY


def sdk(server: Server, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": server.base_url,
                                                    "meter_events": server.base_url},
                               max_network_retries=0)


@pytest.fixture
def key(server: Server) -> str:
    return server.new_account_key()


@pytest.fixture
def globals_sdk(server: Server, key: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The SDK's resource classes (stripe.test_helpers.TestClock, ...) pointed at the server
    as a brand-new account; returns its key."""
    monkeypatch.setattr(stripe, "api_key", key)
    monkeypatch.setattr(stripe, "api_base", server.base_url)
    monkeypatch.setattr(stripe, "meter_events_api_base", server.base_url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    return key


@pytest.fixture
def client(server: Server, key: str) -> stripe.StripeClient:
    return sdk(server, key)


@pytest.fixture
def http(server: Server, key: str) -> Iterator[httpx.Client]:
    with server.client(key) as c:
        yield c


def iso(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_of(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json()["error"])


# --- the test clock resource ----------------------------------------------------------------

def test_crud_through_the_sdk(globals_sdk: str) -> None:
    TestClock = stripe.test_helpers.TestClock  # noqa: N806 - the SDK's class
    frozen = int(time.time()) - 30 * DAY
    before = int(time.time())
    clock = TestClock.create(frozen_time=frozen, name="Monthly renewal")
    assert clock.id.startswith("clock_") and clock.object == "test_helpers.test_clock"
    assert (clock.frozen_time, clock.name, clock.status, clock.livemode) == (
        frozen, "Monthly renewal", "ready", False)
    assert before <= clock.created <= int(time.time())
    assert clock.deletes_after == clock.created + 30 * DAY
    assert clock.status_details.to_dict() == {}

    got = TestClock.retrieve(clock.id)
    assert got.to_dict() == clock.to_dict()
    other = TestClock.create(frozen_time=frozen + DAY)  # no name
    assert other.name is None

    listed = TestClock.list()
    assert [c.id for c in listed.data] == [other.id, clock.id]  # newest first
    first = TestClock.list(limit=1)
    assert [c.id for c in first.data] == [other.id] and first.has_more
    rest = TestClock.list(limit=1, starting_after=other.id)
    assert [c.id for c in rest.data] == [clock.id] and not rest.has_more
    assert [c.id for c in TestClock.list().auto_paging_iter()] == [other.id, clock.id]

    deleted = TestClock.delete(clock.id)
    assert deleted.id == clock.id and deleted.deleted is True
    assert [c.id for c in TestClock.list().data] == [other.id]
    for call in (lambda: TestClock.retrieve(clock.id), lambda: TestClock.delete(clock.id)):
        with pytest.raises(stripe.InvalidRequestError) as err:
            call()
        assert err.value.http_status == 404 and err.value.code == "resource_missing"
        assert f"No such test_clock: '{clock.id}'" in str(err.value)


def test_the_sdk_client_service(client: stripe.StripeClient) -> None:
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": 1_700_000_000})
    assert client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == 1_700_000_000
    assert [c.id for c in client.v1.test_helpers.test_clocks.list().data] == [clock.id]
    assert client.v1.test_helpers.test_clocks.delete(clock.id).deleted is True


@pytest.mark.parametrize(("data", "param", "code"), [
    ({}, "frozen_time", "parameter_missing"),
    ({"frozen_time": "soon"}, "frozen_time", "parameter_invalid"),
    ({"frozen_time": "946684799"}, "frozen_time", "parameter_invalid"),  # 1999-12-31T23:59:59Z
    ({"frozen_time": "4133980800"}, "frozen_time", "parameter_invalid"),  # 2101-01-01
    ({"frozen_time": "-1"}, "frozen_time", "parameter_invalid"),
    ({"frozen_time": "1700000000", "name": "n" * 301}, "name", "parameter_invalid"),
    ({"frozen_time": "1700000000", "color": "red"}, "color", "parameter_unknown"),
    ({"frozen_time": "1700000000", "customer": "cus_x"}, "customer", "parameter_invalid"),
    ({"frozen_time": "1700000000", "expand[]": "customer"}, "expand", "parameter_invalid"),
])
def test_create_refuses_bad_params(http: httpx.Client, data: dict[str, str], param: str,
                                   code: str) -> None:
    error = error_of(http.post("/v1/test_helpers/test_clocks", data=data))
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error", param, code), error
    assert http.get("/v1/test_helpers/test_clocks").json()["data"] == []


def test_the_years_2000_to_2100_are_accepted(http: httpx.Client) -> None:
    for frozen in (946_684_800, 4_133_980_799):
        response = http.post("/v1/test_helpers/test_clocks",
                             data={"frozen_time": str(frozen), "name": "n" * 300})
        assert response.status_code == 200, response.text
        assert response.json()["frozen_time"] == frozen


def test_live_mode_has_no_test_clocks(server: Server) -> None:
    with server.client(server.new_key(live=True)) as live:
        error = error_of(live.post("/v1/test_helpers/test_clocks",
                                   data={"frozen_time": "1700000000"}))
        assert "test mode" in error["message"]
        assert live.get("/v1/test_helpers/test_clocks").json()["data"] == []


def test_accounts_are_isolated(server: Server, client: stripe.StripeClient) -> None:
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": 1_700_000_000})
    other = sdk(server, server.new_account_key())
    assert other.v1.test_helpers.test_clocks.list().data == []
    for call in (lambda: other.v1.test_helpers.test_clocks.retrieve(clock.id),
                 lambda: other.v1.test_helpers.test_clocks.delete(clock.id),
                 lambda: other.v1.test_helpers.test_clocks.list({"starting_after": clock.id})):
        with pytest.raises(stripe.InvalidRequestError) as err:
            call()
        assert err.value.http_status == 404
    with pytest.raises(stripe.InvalidRequestError) as err:
        other.v1.customers.create({"test_clock": clock.id})
    assert err.value.http_status == 404 and err.value.param == "test_clock"
    assert client.v1.test_helpers.test_clocks.retrieve(clock.id).id == clock.id


# --- customers on a clock --------------------------------------------------------------------

def test_customer_on_a_clock(globals_sdk: str, http: httpx.Client) -> None:
    frozen = 1_700_000_000
    clock = stripe.test_helpers.TestClock.create(frozen_time=frozen, name="c")
    customer = stripe.Customer.create(name="on the clock", test_clock=clock.id)
    assert customer.test_clock == clock.id
    assert customer.created == frozen  # created at the clock's time, as on Stripe
    assert stripe.Customer.retrieve(customer.id).test_clock == clock.id
    expanded = stripe.Customer.retrieve(customer.id, expand=["test_clock"])
    assert expanded.test_clock.id == clock.id
    assert expanded.test_clock.object == "test_helpers.test_clock"
    assert expanded.test_clock.frozen_time == frozen
    created = stripe.Customer.create(test_clock=clock.id, expand=["test_clock"])
    assert created.test_clock.id == clock.id
    plain = stripe.Customer.create(name="wall clock", expand=["test_clock"])
    assert plain.test_clock is None and plain.created >= int(time.time()) - 60

    listed = stripe.Customer.list(expand=["data.test_clock"])
    shown = {c.id: c.test_clock for c in listed.data}
    assert shown[plain.id] is None and shown[customer.id].id == clock.id
    assert {c.id: c.test_clock for c in stripe.Customer.list().data}[customer.id] == clock.id

    # The clock is set on create only: an update that names one is refused, clearly.
    error = error_of(http.post(f"/v1/customers/{customer.id}", data={"test_clock": clock.id}))
    assert error["param"] == "test_clock" and "only be set when the customer is created" in (
        error["message"])
    error = error_of(http.post(f"/v1/customers/{plain.id}", data={"test_clock": clock.id}))
    assert error["param"] == "test_clock"
    assert stripe.Customer.retrieve(plain.id).test_clock is None
    updated = stripe.Customer.modify(customer.id, name="renamed")
    assert (updated.name, updated.test_clock) == ("renamed", clock.id)

    error = error_of(http.post("/v1/customers", data={"test_clock": "clock_nope"}), 404)
    assert error["param"] == "test_clock" and "No such test_clock: 'clock_nope'" in (
        error["message"])
    stripe.test_helpers.TestClock.delete(clock.id)
    error = error_of(http.post("/v1/customers", data={"test_clock": clock.id}), 404)
    assert error["param"] == "test_clock" and error["code"] == "resource_missing"


# --- events on the clock's time --------------------------------------------------------------

class Scene:
    """An account with a sum meter, a clock `offset` seconds from now, a customer on it and
    one on the wall clock."""

    def __init__(self, server: Server, offset: int):
        self.server = server
        self.key = server.new_account_key()
        self.client = sdk(server, self.key)
        self.http = server.client(self.key)
        self.frozen = (int(time.time()) + offset) // 60 * 60
        self.clock = self.client.v1.test_helpers.test_clocks.create(
            {"frozen_time": self.frozen, "name": "scene"})
        self.on_clock = self.client.v1.customers.create({"test_clock": self.clock.id}).id
        self.plain = self.client.v1.customers.create({"name": "plain"}).id
        self.meter = self.client.v1.billing.meters.create({
            "display_name": "tokens", "event_name": f"tokens_{uuid.uuid4().hex[:8]}",
            "default_aggregation": {"formula": "sum"}})

    def event(self, identifier: str, customer: str, value: int, ts: int | None = None,
              **payload: Any) -> dict[str, Any]:
        event: dict[str, Any] = {"event_name": self.meter.event_name, "identifier": identifier,
                                 "payload": {"stripe_customer_id": customer,
                                             "value": str(value), **payload}}
        if ts is not None:
            event["timestamp"] = ts
        return event

    def v1(self, identifier: str, customer: str, value: int, ts: int | None = None) -> Any:
        return self.client.v1.billing.meter_events.create(
            self.event(identifier, customer, value, ts))

    def v1_whole(self, identifier: str, customer: str, value: int) -> dict[str, Any]:
        """A v1 event without a timestamp, sent in one write over a raw socket: the request
        the HTTP fast path (api.fast_events) reads whole."""
        body = urlencode({"event_name": self.meter.event_name, "identifier": identifier,
                          "payload[stripe_customer_id]": customer,
                          "payload[value]": str(value)}).encode()
        head = (f"POST /v1/billing/meter_events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Authorization: Bearer {self.key}\r\n"
                f"Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
        host, port = self.server.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(head + body)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        status, _, rest = answer.partition(b"\r\n")
        assert b" 200 " in status, answer
        return dict(json.loads(rest.partition(b"\r\n\r\n")[2]))

    def v1_error(self, identifier: str, customer: str, ts: int | None) -> stripe.StripeError:
        with pytest.raises(stripe.InvalidRequestError) as err:
            self.v1(identifier, customer, 1, ts)
        return err.value

    def batch(self, events: list[Any]) -> dict[str, Any]:
        response = self.http.post("/v1/metered/events/batch", content=json.dumps(events),
                                  headers={"content-type": "application/json"})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def stream(self, events: list[Any]) -> dict[str, Any]:
        token = self.client.v2.billing.meter_event_session.create().authentication_token
        response = httpx.post(f"{self.server.base_url}/v2/billing/meter_event_stream",
                              json={"events": events},
                              headers={"authorization": f"Bearer {token}"}, timeout=30)
        assert response.status_code == 202, response.text
        return dict(response.json())

    def total(self, customer: str, start: int, end: int) -> Decimal:
        page = self.client.v1.billing.meters.event_summaries.list(self.meter.id, {
            "customer": customer, "start_time": start // 60 * 60, "end_time": end // 60 * 60})
        [summary] = page.data
        return Decimal(str(summary.aggregated_value))

    def clock_total(self) -> Decimal:
        return self.total(self.on_clock, self.frozen - 36 * DAY, self.frozen + DAY)

    def wall_total(self) -> Decimal:
        now = int(time.time())
        return self.total(self.plain, now - DAY, now + 3600)


def statuses(body: dict[str, Any]) -> list[str]:
    return [r["status"] for r in body["results"]]


def codes(body: dict[str, Any]) -> dict[int, str]:
    return {r["index"]: r["error"]["code"] for r in body["results"] if r["status"] == "rejected"}


@pytest.fixture(params=[-YEAR, YEAR], ids=["past", "future"])
def scene(server: Server, request: pytest.FixtureRequest) -> Iterator[Scene]:
    scene = Scene(server, request.param)
    yield scene
    scene.http.close()


def check_window_error(err: stripe.StripeError, code: str, scene: Scene) -> None:
    assert err.code == code and err.param == "timestamp"  # type: ignore[attr-defined]
    message = str(err.user_message)
    assert scene.clock.id in message and iso(scene.frozen) in message
    assert iso(scene.frozen - MAX_PAST_SECONDS) in message
    assert iso(scene.frozen + MAX_FUTURE_SECONDS) in message


def test_v1_events_live_on_the_clock(scene: Scene) -> None:
    frozen, now = scene.frozen, int(time.time())
    assert scene.v1("a", scene.on_clock, 1, frozen - 3600).timestamp == frozen - 3600
    assert scene.v1("b", scene.on_clock, 2).timestamp == frozen  # no timestamp: the clock's
    assert scene.v1_whole("b2", scene.on_clock, 16)["timestamp"] == frozen
    assert scene.v1_whole("b3", scene.plain, 32)["timestamp"] >= now
    assert scene.v1("c", scene.on_clock, 4, frozen + MAX_FUTURE_SECONDS).timestamp == (
        frozen + MAX_FUTURE_SECONDS)
    assert scene.v1("d", scene.on_clock, 8, frozen - MAX_PAST_SECONDS).timestamp == (
        frozen - MAX_PAST_SECONDS)
    check_window_error(scene.v1_error("e", scene.on_clock, frozen + MAX_FUTURE_SECONDS + 1),
                       "timestamp_in_future", scene)
    check_window_error(scene.v1_error("f", scene.on_clock, frozen - MAX_PAST_SECONDS - 1),
                       "timestamp_too_far_in_past", scene)
    wall = scene.v1_error("g", scene.on_clock, now)  # the wall clock's now is not the clock's
    check_window_error(wall, "timestamp_in_future" if frozen < now else
                       "timestamp_too_far_in_past", scene)
    # A customer on the wall clock is unaffected: its now is the wall clock's.
    assert scene.v1("h", scene.plain, 100).timestamp >= now
    far = scene.v1_error("i", scene.plain, frozen - 3600)
    assert far.code in ("timestamp_in_future", "timestamp_too_far_in_past")
    assert scene.clock.id not in str(far.user_message)
    assert scene.clock_total() == 31 and scene.wall_total() == 132


def test_v2_stream_mixes_clock_and_wall_customers(scene: Scene) -> None:
    frozen, now = scene.frozen, int(time.time())
    body = scene.stream([
        {**scene.event("s0", scene.on_clock, 16), "timestamp": iso(frozen - 7200)},
        {**scene.event("s1", scene.plain, 200), "timestamp": iso(now)},
        scene.event("s2", scene.on_clock, 32),  # no timestamp: the clock's time
        {**scene.event("s3", scene.on_clock, 1), "timestamp": iso(frozen + 3600)},
        {**scene.event("s4", scene.on_clock, 1), "timestamp": iso(frozen - 40 * DAY)},
        {**scene.event("s5", scene.plain, 1), "timestamp": iso(frozen)},
    ])
    assert statuses(body)[:3] == ["accepted"] * 3
    assert codes(body) == {3: "timestamp_in_future", 4: "timestamp_too_far_in_past",
                           5: "timestamp_too_far_in_past" if frozen < now
                           else "timestamp_in_future"}
    for index in (3, 4):
        message = body["results"][index]["error"]["message"]
        assert scene.clock.id in message and iso(frozen) in message
        assert iso(frozen - MAX_PAST_SECONDS) in message
        assert iso(frozen + MAX_FUTURE_SECONDS) in message
    # POST /v2/billing/meter_events: one event, the same rules.
    one = scene.client.v2.billing.meter_events.create(scene.event("v2-one", scene.on_clock, 64))
    assert one.timestamp.startswith(iso(frozen)[:-1])  # v2 answers milliseconds
    with pytest.raises(stripe.InvalidRequestError) as err:
        scene.client.v2.billing.meter_events.create(
            {**scene.event("v2-two", scene.on_clock, 1), "timestamp": iso(frozen + 3600)})
    assert scene.clock.id in str(err.value)
    assert scene.clock_total() == 112 and scene.wall_total() == 200


@pytest.mark.parametrize("large", [False, True], ids=["in-process", "parse-worker"])
def test_native_batches_mix_clock_and_wall_customers(scene: Scene, large: bool) -> None:
    frozen, now = scene.frozen, int(time.time())
    count = 160 if large else 6
    pad = {"pad": "x" * 60} if large else {}
    events = [scene.event(f"n{i}", scene.on_clock, 1, frozen - i * 60, **pad) if i % 2 == 0
              else scene.event(f"n{i}", scene.plain, 1, now - i, **pad) for i in range(count)]
    events.append(scene.event("late", scene.on_clock, 1, now, **pad))  # the wall clock's now
    events.append(scene.event("omitted", scene.on_clock, 5, **pad))  # the clock's now
    if large:
        assert len(json.dumps(events)) >= MIN_POOL_BYTES
    body = scene.batch(events)
    expected = {count: "timestamp_in_future" if frozen < now else "timestamp_too_far_in_past"}
    assert codes(body) == expected and body["accepted"] == count + 1
    assert scene.clock.id in body["results"][count]["error"]["message"]
    assert scene.clock_total() == count // 2 + 5 and scene.wall_total() == count // 2
    # Clock customers only (a batch the native extension would otherwise take whole).
    only = [scene.event(f"o{i}", scene.on_clock, 2, frozen - i, **pad) for i in range(count)]
    assert scene.batch(only)["accepted"] == count
    assert scene.clock_total() == count // 2 + 5 + 2 * count


def test_deleting_the_clock_deletes_its_customers(server: Server) -> None:
    scene = Scene(server, -YEAR)
    frozen, now = scene.frozen, int(time.time())
    second = scene.client.v1.customers.create({"test_clock": scene.clock.id}).id
    pad = {"pad": "x" * 60}
    big = [scene.event(f"w{i}", (scene.on_clock, second, scene.plain)[i % 3], 1,
                       now - i if i % 3 == 2 else frozen - i, **pad) for i in range(240)]
    # Every path has seen these customers (and cached what it knows of them).
    assert scene.v1("v", second, 1, frozen).timestamp == frozen
    assert scene.batch(big[:3])["accepted"] == 3
    # w0..w2 again: duplicates (distributed mode does not check large batches before the log:
    # the workers drop the repeats, answered accepted; docs/distributed.md)
    assert scene.batch(big)["accepted"] == (240 if distributed_mode.ENABLED else 240 - 3)
    assert scene.stream([scene.event("s", scene.on_clock, 1)])["accepted"] == 1

    deleted = scene.client.v1.test_helpers.test_clocks.delete(scene.clock.id)
    assert deleted.deleted is True
    for customer in (scene.on_clock, second):
        assert scene.client.v1.customers.retrieve(customer).deleted is True
    assert scene.plain in [c.id for c in scene.client.v1.customers.list().data]
    assert [c.id for c in scene.client.v1.customers.list().data] == [scene.plain]

    err = scene.v1_error("v2", second, frozen)
    assert err.code == "meter_event_customer_not_found"
    for prefix, size in (("x", 3), ("y", 240)):  # in-process, then in a parse worker
        body = scene.batch([{**e, "identifier": prefix + e["identifier"]} for e in big[:size]])
        assert set(codes(body).values()) == {"meter_event_customer_not_found"}
        assert body["accepted"] == len(body["results"]) // 3
    body = scene.stream([scene.event("s2", scene.on_clock, 1), scene.event("s3", scene.plain, 1)])
    assert codes(body) == {0: "meter_event_customer_not_found"}
    scene.http.close()


# --- every ingest path falls back for a clock customer (in-process, no HTTP) ----------------

@pytest.mark.embedded_only  # in-process Harness (SQLite)
def test_every_fast_path_leaves_clock_customers_to_validate_event(tmp_path: Any) -> None:
    h = Harness(tmp_path / "data")
    try:
        frozen = int(time.time()) - YEAR
        clock = h.run(lambda c: create_test_clock(c, h.caller, frozen, "h"))
        customer = h.run(lambda c: create_customer(c, h.caller,
                                                   CustomerChanges(test_clock=clock.id)))
        h.engine.customers.remember(customer)
        plain = h.customer()
        h.meter("sum")
        now = int(time.time())
        ctx = IngestContext(meters=h.engine.meters, customers=h.engine.customers,
                            reader=h.engine.reader())
        assert ctx.customers.lookup(ctx.reader, h.caller, customer.id) is None
        assert ctx.customers.resolve(ctx.reader, h.caller, customer.id) == (customer.pk,
                                                                             clock.pk)
        assert ctx.customers.lookup(ctx.reader, h.caller, plain.id) == plain.pk

        def event(i: int, who: str, ts: int | None) -> dict[str, Any]:
            return {"event_name": "ev_sum", "identifier": f"e{i}", "timestamp": ts,
                    "payload": {"stripe_customer_id": who, "value": "3"}}

        raw = [event(0, customer.id, frozen - 60), event(1, plain.id, now),
               event(2, customer.id, None), event(3, customer.id, now)]
        valid, positions, results = validate_events(raw, h.caller, ctx, now)
        assert positions == [0, 1, 2] and [e.ts for e in valid] == [frozen - 60, now, frozen]
        assert results[3] is not None and results[3].code == "timestamp_in_future"
        assert clock.id in (results[3].message or "")
        body = json.dumps(raw).encode()

        if native.extension is not None:
            assert native_batch.native_columns(body, h.caller, ctx, now) is None
            assert customer.id not in native_batch.caller_cache(ctx, h.caller)[1]
            for ts in (None, now, frozen):
                form = (f"event_name=ev_sum&identifier=one&payload%5Bstripe_customer_id%5D="
                        f"{customer.id}&payload%5Bvalue%5D=3")
                fields: dict[str, Any] = {"event_name": "ev_sum", "identifier": "one",
                          "payload": {"stripe_customer_id": customer.id, "value": "3"}}
                if ts is not None:
                    form += f"&timestamp={ts}"
                    fields["timestamp"] = str(ts)
                assert native_event(form.encode(), fields, h.caller, ctx, now) is None
            assert validate_event(fields, h.caller, ctx, now).ts == frozen
            del fields["timestamp"]
            assert validate_event(fields, h.caller, ctx, now).ts == frozen

        columns = decode_columns(body, h.caller, ctx, now)
        assert columns is not None and columns.positions == [0, 1, 2]
        assert columns.ts == [frozen - 60, now, frozen]

        # A parse worker: its own directory, which learns customers from the store only.
        conn = sqlite3.connect(f"file:{h.engine.db.path}?mode=ro", uri=True)
        try:
            worker = IngestContext(MeterRegistry(load_all_meters(conn)), CustomerDirectory(),
                                   conn)
            parsed = parse_to_columns(body, "application/json", h.caller, now, worker, "r")
            assert parsed.positions == [0, 1, 2]
            assert [code for _, _, code, _, _ in parsed.rejected] == ["timestamp_in_future"]
            assert worker.customers.lookup(conn, h.caller, customer.id) is None

            _, gone = h.run(lambda c: delete_test_clock(c, h.caller, clock.id))
            assert [c.id for c in gone] == [customer.id] and gone[0].deleted
            fresh = IngestContext(MeterRegistry(load_all_meters(conn)), CustomerDirectory(),
                                  conn)
            with pytest.raises(MeteredError) as err:
                validate_event(raw[0], h.caller, fresh, now)
            assert err.value.code == "meter_event_customer_not_found"
        finally:
            conn.close()
    finally:
        h.close()
