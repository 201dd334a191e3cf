"""docs/concepts.md's worked example, run against a live server: the numbers there are true."""

from __future__ import annotations

import time
from decimal import Decimal

import httpx


def test_worked_example(account: httpx.Client) -> None:
    customer = account.post("/v1/customers", data={"name": "A"}).json()["id"]
    meter = account.post("/v1/billing/meters", data={
        "display_name": "Tokens", "event_name": "tokens", "default_aggregation[formula]": "sum",
        "dimension_payload_keys[]": "model",
    }).json()["id"]
    ten = (int(time.time()) - 86_400) // 86_400 * 86_400 + 10 * 3600  # 10:00 UTC yesterday
    rows = [("r1", ten + 5, "large", "1200"), ("r2", ten + 40, "small", "300.5"),
            ("r1", ten + 60, "large", "999"), ("r3", ten + 5400, "large", "50")]
    answer = account.post("/v1/metered/events/batch", json=[
        {"event_name": "tokens", "identifier": i, "timestamp": ts,
         "payload": {"stripe_customer_id": customer, "model": model, "value": value}}
        for i, ts, model, value in rows
    ]).json()
    assert [r["status"] for r in answer["results"]] == [
        "accepted", "accepted", "duplicate", "accepted"
    ]

    def usage(**params: object) -> list[tuple[object, Decimal]]:
        body = account.get(f"/v1/metered/meters/{meter}/usage", params={
            "customer": customer, "start_time": ten, "end_time": ten + 7200, **params,
        }).json()
        return [(row["dimensions"] or row["start_time"], Decimal(str(row["aggregated_value"])))
                for row in body["data"]]

    assert usage() == [(ten, Decimal("1550.5"))]
    assert usage(value_grouping_window="hour") == [
        (ten, Decimal("1500.5")), (ten + 3600, Decimal("50"))
    ]
    assert sorted(usage(**{"group_by[]": "model"}), key=str) == [
        ({"model": "large"}, Decimal("1250")), ({"model": "small"}, Decimal("300.5"))
    ]
    account.post("/v1/billing/meter_event_adjustments", data={
        "event_name": "tokens", "type": "cancel", "cancel[identifier]": "r2"})
    assert usage() == [(ten, Decimal("1250"))]
