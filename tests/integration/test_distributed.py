"""Distributed mode on a real PostgreSQL and a real Kafka broker: two API processes, workers in a
consumer group, and faults. After each fault, summaries equal exactly the acknowledged events;
an event whose request got no answer counts at most once, and exactly once after the client
sends it again with the same identifier."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import stripe

from integration.cluster import (
    Cluster,
    Ledger,
    free_port,
    make_batches,
    send_batch,
    setup_meter,
    summary_totals,
    wait_until_idle,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster(postgres_url: str, kafka_bootstrap: str, tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(postgres_url, kafka_bootstrap, tmp_path)
    made.create()
    try:
        yield made
    finally:
        made.drop()


def _resend(cluster: Cluster, api_client, ledger: Ledger) -> None:  # type: ignore[no-untyped-def]
    """The client's retry: every unanswered event again, same identifiers."""
    pending = sorted(ledger.unanswered)
    now = int(time.time())
    for start in range(0, len(pending), 200):
        batch = [{"event_name": "tokens", "identifier": i, "timestamp": now,
                  "payload": {"stripe_customer_id": ledger.values[i][0],
                              "value": str(ledger.values[i][1])}}
                 for i in pending[start : start + 200]]
        assert send_batch(api_client, ledger, batch)
    assert not ledger.unanswered


def _check_exact(cluster: Cluster, client, meter_id: str, customers: list[str],  # type: ignore[no-untyped-def]
                 ledger: Ledger) -> None:
    wait_until_idle(cluster)
    got = summary_totals(client, meter_id, customers)
    want = ledger.expected(ledger.acked)
    assert {c: got[c] for c in customers} == {c: want.get(c, Decimal(0)) for c in customers}


def test_two_apis_two_workers_count_every_event_once(cluster: Cluster) -> None:
    api_a, api_b = cluster.api(), cluster.api()
    cluster.worker()
    cluster.worker()
    ledger = Ledger()
    with cluster.client(api_a) as a, cluster.client(api_b) as b:
        meter_id, customers = setup_meter(a, 6)
        batches = list(make_batches(ledger, customers, "two", 20, 100))
        for n, batch in enumerate(batches):
            assert send_batch(a if n % 2 else b, ledger, batch)
            assert send_batch(b if n % 2 else a, ledger, batch)  # every batch twice
        # Read your writes across processes: B's token, read through A, with no waiting here.
        last = b.post("/v1/metered/events/batch", json=batches[-1])
        token = last.headers["metered-consistency-token"]
        got = summary_totals(a, meter_id, customers, token=token)
        assert got == ledger.expected(ledger.acked)
        assert sum(got.values()) == sum(v for _, v in ledger.values.values())


def test_stripe_sdk_against_two_apis_and_two_workers(cluster: Cluster) -> None:
    api_a, api_b = cluster.api(), cluster.api()
    cluster.worker()
    cluster.worker()
    a = stripe.StripeClient(cluster.key, base_addresses={"api": api_a.base_url},
                            max_network_retries=0)
    b = stripe.StripeClient(cluster.key, base_addresses={"api": api_b.base_url},
                            max_network_retries=0)
    meter = a.v1.billing.meters.create(params={
        "display_name": "Tokens", "event_name": "sdk_tokens",
        "default_aggregation": {"formula": "sum"},
        "customer_mapping": {"event_payload_key": "stripe_customer_id", "type": "by_id"},
        "value_settings": {"event_payload_key": "value"}})
    customer = b.v1.customers.create(params={"name": "Ada"})
    now = int(time.time())
    for n in range(10):
        client = a if n % 2 else b
        event = client.v1.billing.meter_events.create(params={
            "event_name": "sdk_tokens", "identifier": f"sdk-{n}", "timestamp": now,
            "payload": {"stripe_customer_id": customer.id, "value": str(n + 1)}})
    token = event.last_response.headers["metered-consistency-token"]  # from process a
    with pytest.raises(stripe.InvalidRequestError, match="already exists"):
        b.v1.billing.meter_events.create(params={  # a retry, through the other process
            "event_name": "sdk_tokens", "identifier": "sdk-0", "timestamp": now,
            "payload": {"stripe_customer_id": customer.id, "value": "1"}})
    start = now // 60 * 60 - 3600
    summaries = a.v1.billing.meters.event_summaries.list(meter.id, params={
        "customer": customer.id, "start_time": start, "end_time": start + 7200,
        "consistency_token": token})  # type: ignore[typeddict-unknown-key]
    assert [s.aggregated_value for s in summaries.data] == [55]
    # An adjustment through the other process cancels one event, exactly once.
    for _ in range(2):
        a.v1.billing.meter_event_adjustments.create(params={
            "event_name": "sdk_tokens", "type": "cancel", "cancel": {"identifier": "sdk-9"}})
    summaries = b.v1.billing.meters.event_summaries.list(meter.id, params={
        "customer": customer.id, "start_time": start, "end_time": start + 7200})
    assert [s.aggregated_value for s in summaries.data] == [45]


def _load(cluster: Cluster, client, ledger: Ledger, customers: list[str], prefix: str,  # type: ignore[no-untyped-def]
          batches: int, stop: threading.Event | None = None) -> threading.Thread:
    def run() -> None:
        for batch in make_batches(ledger, customers, prefix, batches, 100):
            if stop is not None and stop.is_set():
                return
            send_batch(client, ledger, batch)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_worker_killed_mid_batch_loses_and_doubles_nothing(cluster: Cluster) -> None:
    api = cluster.api()
    first = cluster.worker(batch_records=50)
    second = cluster.worker(batch_records=50)
    ledger = Ledger()
    with cluster.client(api) as client:
        meter_id, customers = setup_meter(client, 8)
        load = _load(cluster, client, ledger, customers, "kill", 60)
        time.sleep(1.5)
        first.signal(signal.SIGKILL)
        time.sleep(1.0)
        second.signal(signal.SIGKILL)  # both, mid-stream: nothing applies for a while
        cluster.worker(batch_records=50)
        load.join()
        assert not ledger.unanswered
        _check_exact(cluster, client, meter_id, customers, ledger)


def test_an_api_killed_between_produce_and_answer(cluster: Cluster) -> None:
    api_a, api_b = cluster.api(), cluster.api()
    cluster.worker()
    ledger = Ledger()
    with cluster.client(api_a) as a, cluster.client(api_b) as b:
        meter_id, customers = setup_meter(b, 8)
        load = _load(cluster, a, ledger, customers, "api", 400)
        time.sleep(2.0)
        api_a.signal(signal.SIGKILL)
        load.join()
        assert ledger.unanswered, "the kill came after the load: no request was cut"
        wait_until_idle(cluster)
        got = summary_totals(b, meter_id, customers)
        acked = ledger.expected(ledger.acked)
        cut = ledger.expected(ledger.unanswered)
        for c in customers:  # each unanswered event counted at most once
            assert acked.get(c, 0) <= got[c] <= acked.get(c, 0) + cut.get(c, 0)
        _resend(cluster, b, ledger)
        _check_exact(cluster, b, meter_id, customers, ledger)


def test_a_worker_paused_past_its_session_timeout(cluster: Cluster) -> None:
    api = cluster.api()
    paused = cluster.worker(session_timeout_ms=6000, batch_records=50)
    other = cluster.worker(session_timeout_ms=6000, batch_records=50)
    ledger = Ledger()
    with cluster.client(api) as client:
        meter_id, customers = setup_meter(client, 8)
        time.sleep(3)  # both in the group
        load = _load(cluster, client, ledger, customers, "pause", 30)
        time.sleep(0.5)
        paused.signal(signal.SIGSTOP)
        load.join()
        time.sleep(9)  # past the session timeout: its partitions move to the other worker
        more = _load(cluster, client, ledger, customers, "after", 20)
        more.join()
        wait_until_idle(cluster)
        paused.signal(signal.SIGCONT)  # wakes with a batch it read before it was paused
        time.sleep(4)
        assert "assigned partitions" in other.log_path.read_text()
        assert not ledger.unanswered
        _check_exact(cluster, client, meter_id, customers, ledger)


def test_rate_limits_hold_across_api_processes(cluster: Cluster) -> None:
    """Two processes with api-account=10/s (burst 10): together they let about 10/s through,
    not 20/s."""
    ports = (free_port(), free_port())
    apis = [cluster._spawn(["serve", "--port", str(port), "--log-level", "warning",
                            "--rate-limit", "api-account=10/10"], f"limited-{port}")
            for port in ports]
    for api, port in zip(apis, ports, strict=True):
        api.base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    clients = []
    for api in apis:
        while True:
            try:
                if httpx.get(f"{api.base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, api.log_path.read_text()[-2000:]
            time.sleep(0.1)
        clients.append(cluster.client(api))
    time.sleep(2.5)  # each has counted the other (a check a second)
    started = time.monotonic()
    statuses = [clients[n % 2].get("/v1/customers").status_code for n in range(80)]
    elapsed = time.monotonic() - started
    for client in clients:
        client.close()
    allowed = statuses.count(200)
    assert set(statuses) <= {200, 429}
    assert allowed <= 10 + 10 * elapsed + 2, (allowed, elapsed)
    assert allowed >= 5


def test_readiness_and_worker_metrics(cluster: Cluster) -> None:
    api = cluster.api()
    port = free_port()
    cluster._spawn(["worker", "--metrics-port", str(port)], "metered-worker")
    ledger = Ledger()
    with cluster.client(api) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"store": "ok", "writer": "ok", "log": "ok",
                                          "billing": "ok"}
        meter_id, customers = setup_meter(client, 2)
        for batch in make_batches(ledger, customers, "metrics", 3, 50):
            assert send_batch(client, ledger, batch)
        _check_exact(cluster, client, meter_id, customers, ledger)
    deadline = time.monotonic() + 30
    while True:
        try:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        except httpx.HTTPError:
            text = ""
        if 'metered_worker_events_total{outcome="accepted"} 150.0' in text and (
                "metered_worker_lag_records{" in text):
            break
        assert time.monotonic() < deadline, text[-3000:]
        time.sleep(0.5)
    assert "metered_worker_apply_seconds_bucket" in text
