"""Invoice properties on a live server: a period's invoice depends on its events only, not on
their order or how they were batched, and equals its preview taken just before the period
ends when no late event comes."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

import httpx
import pytest
from golden.runner import form
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metered.pricing import PriceTerms, Tier, rate, round_minor

from conftest import Server

JAN_1 = 1_767_225_600
FEB_1 = 1_769_904_000
TIERS = (Tier(Decimal(1000), Decimal("0.5")), Tier(Decimal(5000), Decimal("0.25"), Decimal(100)),
         Tier(None, Decimal("0.125")))


def post(http: httpx.Client, path: str, data: dict[str, Any]) -> dict[str, Any]:
    response = http.post(path, data=form("", data, {}))
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def billing(server: Server) -> tuple[httpx.Client, str]:
    """An account with a sum meter and a graduated price on it (fractional cents)."""
    http = server.client(server.new_account_key())
    meter = post(http, "/v1/billing/meters", {
        "display_name": "units", "event_name": "units", "default_aggregation": {"formula": "sum"}})
    price = post(http, "/v1/prices", {
        "currency": "usd", "product_data": {"name": "Units"}, "billing_scheme": "tiered",
        "tiers_mode": "graduated",
        "tiers": [{"up_to": 1000, "unit_amount_decimal": "0.5"},
                  {"up_to": 5000, "unit_amount_decimal": "0.25", "flat_amount": 100},
                  {"up_to": "inf", "unit_amount_decimal": "0.125"}],
        "recurring": {"interval": "month", "usage_type": "metered", "meter": meter["id"]}})
    return http, price["id"]


def subscribed_customer(http: httpx.Client, price: str) -> tuple[str, str, str]:
    clock = post(http, "/v1/test_helpers/test_clocks", {"frozen_time": JAN_1})["id"]
    customer = post(http, "/v1/customers", {"test_clock": clock})["id"]
    sub = post(http, "/v1/subscriptions", {"customer": customer, "items": [{"price": price}]})
    post(http, f"/v1/test_helpers/test_clocks/{clock}/advance", {"frozen_time": FEB_1 - 60})
    return clock, customer, sub["id"]


def send_in_batches(http: httpx.Client, customer: str, events: list[tuple[str, int, int]],
                    size: int) -> None:
    token = http.post("/v2/billing/meter_event_session", json={}).json()["authentication_token"]
    for i in range(0, len(events), size):
        body = {"events": [
            {"event_name": "units", "identifier": f"{customer}-{identifier}",
             "timestamp": _iso(ts),
             "payload": {"stripe_customer_id": customer, "value": str(value)}}
            for identifier, value, ts in events[i : i + size]]}
        response = httpx.post(str(http.base_url.join("/v2/billing/meter_event_stream")),
                              json=body, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code in (200, 202), response.text


def _iso(ts: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def cycle_invoice(http: httpx.Client, customer: str) -> dict[str, Any]:
    invoices = http.get("/v1/invoices", params={"customer": customer}).json()["data"]
    cycle = [i for i in invoices if i["billing_reason"] == "subscription_cycle"]
    assert len(cycle) == 1
    return dict(cycle[0])


def lines(invoice: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(line["metered"]["kind"], line["quantity_decimal"], line["amount"])
            for line in invoice["lines"]["data"]]


# Events of January (the clock stands at Jan 31st 23:59 when they are sent), some duplicated.
events_strategy = st.lists(
    st.tuples(st.integers(0, 3000), st.integers(0, 30 * 86_400 - 1), st.booleans()),
    min_size=0, max_size=25,
)


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=events_strategy, seed=st.integers(0, 2**32 - 1), batch=st.integers(1, 10))
def test_invoice_ignores_order_batches_and_duplicates(
        billing: tuple[httpx.Client, str], events: list[tuple[int, int, bool]], seed: int,
        batch: int) -> None:
    http, price = billing
    stamped = [(f"e{i}", value, JAN_1 + offset) for i, (value, offset, _) in enumerate(events)]
    resent = stamped + [e for e, (_, _, again) in zip(stamped, events, strict=True) if again]
    shuffled = resent[:]
    random.Random(seed).shuffle(shuffled)

    clock_a, customer_a, sub_a = subscribed_customer(http, price)
    clock_b, customer_b, _ = subscribed_customer(http, price)
    send_in_batches(http, customer_a, resent, batch)
    send_in_batches(http, customer_b, shuffled, max(1, 11 - batch))
    preview = post(http, "/v1/invoices/create_preview", {"subscription": sub_a})
    for clock in (clock_a, clock_b):
        post(http, f"/v1/test_helpers/test_clocks/{clock}/advance",
             {"frozen_time": FEB_1 + 3600})
    a, b = cycle_invoice(http, customer_a), cycle_invoice(http, customer_b)
    assert a["status"] == b["status"] == ("open" if a["total"] else "paid")
    assert lines(a) == lines(b)
    total = sum(value for _, value, _ in stamped)
    expected = round_minor(rate(PriceTerms("tiered", tiers=TIERS, tiers_mode="graduated"),
                                Decimal(total)))
    assert a["total"] == expected
    # The preview taken a minute before the period's end is the invoice it closed with.
    assert lines(preview) == lines(a) and preview["total"] == a["total"]
