"""The webhook outbox in-process: events recorded atomically with their change, the retry
schedule, giving up, dropped deliveries, and signatures the stripe SDK accepts."""

from __future__ import annotations

import asyncio
import random
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import stripe

from metered.api.responses import STRIPE_VERSION
from metered.billing.customers import CustomerChanges, create_customer, update_customer
from metered.billing.test_clocks import create_test_clock, delete_test_clock
from metered.clock import now_ms
from metered.errors import InvalidRequestError
from metered.webhooks import API_VERSION, changed_attributes, record_event, verify_signature
from metered.webhooks.dispatcher import (
    BACKOFF_CAP,
    JITTER,
    MAX_ATTEMPTS,
    Attempt,
    record_attempt,
    retry_delay_ms,
)
from metered.webhooks.endpoints import EndpointChanges, create_endpoint, update_endpoint
from metered.webhooks.events import matching_types
from metered.webhooks.signing import sign_payload

from engine_harness import Harness

HOUR = 3600


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path / "data")
    yield harness
    harness.close()


def listening(h: Harness, *events: str) -> str:
    changes = EndpointChanges(url="http://127.0.0.1:9/never", enabled_events=list(events))
    return h.run(lambda c: create_endpoint(c, h.caller, changes, 0)).id  # type: ignore[no-any-return]


def counts(h: Harness) -> tuple[int, int]:
    conn = h.engine.reader()
    return (conn.execute("SELECT COUNT(*) FROM events").fetchone()[0],
            conn.execute("SELECT COUNT(*) FROM webhook_deliveries").fetchone()[0])


def test_signatures_verify_with_the_stripe_sdk() -> None:
    payload = b'{"id": "evt_1", "object": "event", "type": "customer.created", "data": {}}'
    now = int(time.time())
    header = sign_payload(payload, "whsec_abc", now)
    event = stripe.Webhook.construct_event(payload, header, "whsec_abc")
    assert event.id == "evt_1"
    assert verify_signature(payload, header, "whsec_abc")
    assert not verify_signature(payload + b" ", header, "whsec_abc")
    assert not verify_signature(payload, header, "whsec_abd")
    stale = sign_payload(payload, "whsec_abc", now - 301)
    assert not verify_signature(payload, stale, "whsec_abc")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, stale, "whsec_abc")


def test_events_are_rendered_in_the_servers_api_version() -> None:
    assert API_VERSION == STRIPE_VERSION


def test_retry_schedule_doubles_from_the_base_to_a_cap_over_about_three_days() -> None:
    rng = random.Random(7)
    first = retry_delay_ms(1, 60, rng)
    assert 60_000 * (1 - JITTER) <= first <= 60_000 * (1 + JITTER)
    mean = [60 * min(2 ** (n - 1), BACKOFF_CAP) for n in range(1, MAX_ATTEMPTS)]
    assert mean[:3] == [60, 120, 240] and max(mean) == 6 * HOUR
    assert 72 * HOUR <= sum(mean) <= 78 * HOUR  # Stripe: retries for up to three days
    jittered = [retry_delay_ms(n, 60, rng) for n in range(1, MAX_ATTEMPTS)]
    assert all(abs(j - m * 1000) <= m * 1000 * JITTER for j, m in zip(jittered, mean,
                                                                       strict=True))
    assert retry_delay_ms(1, 0.001, rng) >= 1  # a tiny test base still waits a millisecond


@pytest.mark.embedded_only  # in-process Harness (SQLite)
def test_an_event_exists_iff_its_change_committed(h: Harness) -> None:
    listening(h, "customer.created")
    listening(h, "*")
    listening(h, "invoice.paid")

    def fails(conn: sqlite3.Connection) -> None:
        create_customer(conn, h.caller, CustomerChanges(name="rolled back"))
        raise InvalidRequestError("the change fails after its event was recorded")

    with pytest.raises(InvalidRequestError):
        h.run(fails)
    assert counts(h) == (0, 0)
    h.customer()
    assert counts(h) == (1, 2)  # one event, a delivery to each of the two listening endpoints


def test_record_event_refuses_unknown_types() -> None:
    with pytest.raises(ValueError, match="unknown event type"):  # before any SQL
        record_event(sqlite3.connect(":memory:"), 1, False, "customer.exploded",
                     {"id": "cus_1"}, 0)


def test_type_patterns_name_known_types_and_nothing_else() -> None:
    """`type` filters are matched here, not by the store (no GLOB on PostgreSQL): `*` is the
    only wildcard, `_` and `.` are themselves."""
    assert matching_types("customer.created") == ("customer.created",)
    assert set(matching_types("customer.*")) == {  # `*` spans dots, as GLOB's did
        "customer.created", "customer.updated", "customer.deleted",
        "customer.subscription.created", "customer.subscription.updated",
        "customer.subscription.deleted", "customer.subscription.trial_will_end"}
    assert matching_types("customer.*.created") == ("customer.subscription.created",)
    assert matching_types("*.paid") == ("invoice.paid",)
    assert matching_types("test_helpers.*") == ("test_helpers.test_clock.advancing",
                                                "test_helpers.test_clock.ready")
    assert matching_types("test?helpers.*") == matching_types("nothing.*") == ()
    assert len(matching_types("*")) == len(set(matching_types("*"))) > 20


@pytest.mark.embedded_only  # in-process Harness (SQLite)
def test_updates_record_only_what_changed(h: Harness) -> None:
    customer = h.customer()
    h.run(lambda c: update_customer(c, h.caller, customer.id, CustomerChanges(
        name="New", metadata={"a": "1"}, provided={"name", "metadata"})))
    h.run(lambda c: update_customer(c, h.caller, customer.id, CustomerChanges(
        name="New", provided={"name"})))
    rows = h.engine.reader().execute("SELECT type FROM events ORDER BY pk").fetchall()
    assert rows == [("customer.created",), ("customer.updated",)]
    assert changed_attributes({"a": 1, "m": {"x": "1", "y": "2"}, "b": None},
                              {"a": 2, "m": {"x": "1", "z": "3"}, "b": None}) == {
        "a": 1, "m": {"y": "2", "z": None}}


@pytest.mark.embedded_only  # in-process Harness (SQLite)
def test_deleting_a_test_clock_records_its_customers_deletion(h: Harness) -> None:
    clock = h.run(lambda c: create_test_clock(c, h.caller, 1_767_225_600, "jan"))
    customer = h.run(lambda c: create_customer(c, h.caller, CustomerChanges(
        test_clock=clock.id)))
    h.run(lambda c: delete_test_clock(c, h.caller, clock.id))
    rows = h.engine.reader().execute("SELECT type, created FROM events ORDER BY pk").fetchall()
    assert rows == [("customer.created", 1_767_225_600), ("customer.deleted", 1_767_225_600)]
    assert customer.id in h.engine.reader().execute(
        "SELECT data FROM events WHERE type='customer.deleted'").fetchone()[0]


def _delivery(h: Harness) -> tuple[str, int, int | None, str | None]:
    row = h.engine.reader().execute(
        "SELECT status, attempts, last_status_code, last_error FROM webhook_deliveries"
    ).fetchone()
    return row  # type: ignore[no-any-return]


@pytest.mark.embedded_only  # in-process Harness (SQLite)
def test_a_delivery_gives_up_when_the_schedule_runs_out(h: Harness) -> None:
    listening(h, "*")
    h.customer()
    (pk,) = h.engine.reader().execute("SELECT pk FROM webhook_deliveries").fetchone()
    rng = random.Random(1)
    for n in range(1, MAX_ATTEMPTS):
        now = now_ms()
        h.run(lambda c, now=now: record_attempt(c, pk, Attempt(500, "HTTP 500"), now, 60, rng))
        status, attempts, code, _ = _delivery(h)
        (next_at,) = h.engine.reader().execute(
            "SELECT next_attempt_at FROM webhook_deliveries").fetchone()
        assert (status, attempts, code) == ("pending", n, 500)
        assert next_at - now == pytest.approx(60_000 * min(2 ** (n - 1), BACKOFF_CAP),
                                              rel=JITTER)
    h.run(lambda c: record_attempt(c, pk, Attempt(None, "ConnectError: refused"), now_ms(),
                                   60, rng))
    assert _delivery(h) == ("failed", MAX_ATTEMPTS, None, "ConnectError: refused")
    # Settled: a late outcome changes nothing.
    h.run(lambda c: record_attempt(c, pk, Attempt(200, None), now_ms(), 60, rng))
    assert _delivery(h)[0] == "failed"


@pytest.mark.embedded_only  # in-process Harness (SQLite)
def test_pending_deliveries_of_a_disabled_endpoint_are_dropped(h: Harness) -> None:
    endpoint_id = listening(h, "customer.created")
    h.customer()
    h.run(lambda c: update_endpoint(c, h.caller, endpoint_id, EndpointChanges(
        disabled=True, provided={"disabled"})))
    dispatcher = h.engine.webhooks

    async def one_round() -> int:
        async with httpx.AsyncClient() as client:
            started = dispatcher.start_due(client)
            await asyncio.gather(*dispatcher._in_flight.values())
            return started

    assert h.loop.run_until_complete(one_round()) == 1
    assert _delivery(h) == ("failed", 0, None, "the webhook endpoint was disabled")
    assert h.loop.run_until_complete(one_round()) == 0


@pytest.mark.embedded_only  # in-process Harness (SQLite)
def test_one_endpoint_holds_at_most_two_of_the_four_slots(h: Harness) -> None:
    listening(h, "*")
    listening(h, "*")
    for _ in range(3):
        h.customer()
    dispatcher = h.engine.webhooks

    async def one_round() -> tuple[int, list[int]]:
        async with httpx.AsyncClient() as client:
            started = dispatcher.start_due(client)
            per_endpoint = sorted(dispatcher._per_endpoint.values())
            await asyncio.gather(*dispatcher._in_flight.values())
            return started, per_endpoint

    assert h.loop.run_until_complete(one_round()) == (4, [2, 2])
    assert dispatcher._per_endpoint == {} and dispatcher._in_flight == {}
    rows = h.engine.reader().execute(
        "SELECT status, attempts, last_error LIKE 'ConnectError%' FROM webhook_deliveries"
        " ORDER BY attempts").fetchall()
    assert rows == [("pending", 0, None)] * 2 + [("pending", 1, 1)] * 4
