"""Rate limits: token buckets per key and per account, separate for ingest and for the rest of
the API. Over a limit: 429, Stripe's rate_limit_error, Retry-After; other tenants, and the
other kind of traffic, unaffected; a refused event is not counted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from metered.api.rate_limits import Limit, RateLimits, TokenBuckets

from conftest import Server, metered_cli, start_server


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("limited") / "data"
    server = start_server(data_dir, args=("--rate-limit", "api-key=5/5",
                                          "--rate-limit", "ingest-account=4/4"))
    yield server
    server.stop()


def burst(client: httpx.Client, n: int, send: str) -> list[httpx.Response]:
    return [client.get("/v1/customers") if send == "api" else client.post(
        "/v1/billing/meter_events", data={
            "event_name": "rl", "identifier": f"e{time.monotonic_ns()}",
            "payload[stripe_customer_id]": CUSTOMERS[client.headers["x-tenant"]],
            "payload[value]": "1"}) for _ in range(n)]


CUSTOMERS: dict[str, str] = {}


def tenant(server: Server, name: str) -> httpx.Client:
    key = metered_cli("accounts", "create", data_dir=server.data_dir)
    client = httpx.Client(base_url=server.base_url, auth=(key, ""), timeout=30,
                          headers={"x-tenant": name})
    CUSTOMERS[name] = client.post("/v1/customers", data={"name": name}).json()["id"]
    client.post("/v1/billing/meters", data={"display_name": "rl", "event_name": "rl",
                                            "default_aggregation[formula]": "sum"})
    time.sleep(1.2)  # the setup's requests spent tokens: let the buckets fill again
    return client


def test_limits_answer_429_and_isolate_tenants(limited: Server) -> None:
    noisy, quiet = tenant(limited, "noisy"), tenant(limited, "quiet")
    answers = burst(noisy, 10, "api")
    codes = [a.status_code for a in answers]
    assert codes[:5] == [200] * 5 and 429 in codes[5:]
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert int(refused.headers["retry-after"]) >= 1
    assert quiet.get("/v1/customers").status_code == 200  # another tenant's reads go on

    events = burst(noisy, 8, "ingest")  # ingest has its own buckets
    accepted = [a for a in events if a.status_code == 200]
    assert 4 <= len(accepted) < 8 and any(a.status_code == 429 for a in events)
    time.sleep(1.2)
    assert [a.status_code for a in burst(quiet, 3, "ingest")] == [200] * 3
    # What was refused was not counted: the meter holds exactly the accepted events.
    meter = noisy.get("/v1/billing/meters").json()["data"][0]["id"]
    now = int(time.time()) // 60 * 60
    time.sleep(1.2)
    usage = noisy.get(f"/v1/metered/meters/{meter}/usage", params={
        "customer": CUSTOMERS["noisy"], "start_time": now - 3600, "end_time": now + 120})
    assert sum(int(r["aggregated_value"]) for r in usage.json()["data"]) == len(accepted)


def test_token_buckets_refill_at_their_rate() -> None:
    buckets = TokenBuckets(Limit(rate=2, burst=3))
    assert [buckets.take("k", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k", 0.0) == pytest.approx(0.5)
    assert buckets.take("k", 0.5) == 0.0  # one token came back in half a second
    assert buckets.take("other", 0.5) == 0.0


def test_rate_limit_options() -> None:
    limits = RateLimits.from_options(["api-key=0", "ingest-key=100/10"])
    assert "api-key" not in limits.buckets and limits.buckets["ingest-key"].limit.burst == 10
    with pytest.raises(ValueError):
        RateLimits.from_options(["nope=1"])
    with pytest.raises(ValueError):
        RateLimits.from_options(["api-key"])


def test_defaults_do_not_limit_ingest(tmp_path: Path) -> None:
    assert set(RateLimits().buckets) == {"api-key", "api-account"}
