"""Refused meter events are answered at once and also reported asynchronously, as Stripe's
`v1.billing.meter.error_report_triggered` and `v1.billing.meter.no_meter_found` events."""

from __future__ import annotations

import time
from typing import Any

import httpx

from conftest import Server


def events_of(http: httpx.Client, kind: str) -> list[dict[str, Any]]:
    return list(http.get("/v1/events", params={"type": kind}).json()["data"])


def wait_for(http: httpx.Client, kind: str, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = events_of(http, kind)
        if found:
            return found
        time.sleep(0.25)
    raise AssertionError(f"no {kind} event within {timeout} s")


def test_refused_events_are_reported(server: Server) -> None:
    with server.client(server.new_account_key()) as http:
        meter = http.post("/v1/billing/meters", data={
            "display_name": "t", "event_name": "tokens",
            "default_aggregation[formula]": "sum"}).json()["id"]
        customer = http.post("/v1/customers", data={"name": "a"}).json()["id"]
        bad = http.post("/v1/billing/meter_events", data={
            "event_name": "tokens", "identifier": "x1",
            "payload[stripe_customer_id]": "cus_missing", "payload[value]": "3"})
        assert bad.json()["error"]["code"] == "meter_event_customer_not_found"
        batch = http.post("/v1/metered/events/batch", json=[
            {"event_name": "tokens", "identifier": "x2",
             "payload": {"stripe_customer_id": customer, "value": "-4"}},
            {"event_name": "tokens", "identifier": "ok",
             "payload": {"stripe_customer_id": customer, "value": "4"}},
            {"event_name": "no_such_meter", "identifier": "x3",
             "payload": {"stripe_customer_id": customer, "value": "4"}},
        ]).json()
        assert (batch["accepted"], batch["rejected"]) == (1, 2)

        report = wait_for(http, "v1.billing.meter.error_report_triggered")[0]["data"]["object"]
        assert report["meter"] == meter
        assert report["reason"]["error_count"] == 2
        codes = {t["code"]: t for t in report["reason"]["error_types"]}
        assert set(codes) == {"meter_event_customer_not_found", "meter_event_invalid_value"}
        sample = codes["meter_event_invalid_value"]["sample_errors"][0]
        assert sample["request"]["identifier"] == "x2"
        missing = wait_for(http, "v1.billing.meter.no_meter_found")[0]["data"]["object"]
        assert (missing["event_name"], missing["reason"]["error_count"]) == ("no_such_meter", 1)
        # Reported once: the counts start again after a report.
        time.sleep(6)
        assert len(events_of(http, "v1.billing.meter.error_report_triggered")) == 1
