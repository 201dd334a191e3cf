"""The core engine's exactly-once property, on distributed mode: whatever the batching, the
order and the retries (re-sent copies of events, through either API process), each customer's
summary is the sum of its distinct events."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from integration.cluster import Cluster, summary_totals

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_apis(postgres_url: str, kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
             ) -> Iterator[tuple[Cluster, list[httpx.Client]]]:
    cluster = Cluster(postgres_url, kafka_bootstrap, tmp_path_factory.mktemp("props"))
    cluster.create()
    apis = [cluster.api(), cluster.api()]
    cluster.worker()
    cluster.worker()
    clients = [cluster.client(api) for api in apis]
    try:
        yield cluster, clients
    finally:
        for client in clients:
            client.close()
        cluster.drop()


events = st.lists(st.tuples(st.integers(0, 2), st.decimals("0.001", "1000", places=3)),
                  min_size=1, max_size=60)


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
@given(events=events, copies=st.lists(st.integers(0, 59), max_size=30),
       cuts=st.lists(st.integers(1, 25), min_size=1, max_size=8), seed=st.randoms())
def test_summaries_count_each_distinct_event_once(two_apis, events, copies, cuts, seed) -> None:  # type: ignore[no-untyped-def]
    cluster, clients = two_apis
    name = f"ev_{uuid.uuid4().hex[:8]}"
    meter = clients[0].post("/v1/billing/meters", data={
        "display_name": name, "event_name": name, "default_aggregation[formula]": "sum",
        "customer_mapping[event_payload_key]": "stripe_customer_id",
        "customer_mapping[type]": "by_id", "value_settings[event_payload_key]": "value"})
    assert meter.status_code == 200, meter.text
    customers = [clients[1].post("/v1/customers", data={"name": "p"}).json()["id"]
                 for _ in range(3)]
    now = int(time.time())
    sent = [{"event_name": name, "identifier": f"{name}-{n}", "timestamp": now,
             "payload": {"stripe_customer_id": customers[c], "value": str(v)}}
            for n, (c, v) in enumerate(events)]
    stream = sent + [sent[i] for i in copies if i < len(sent)]  # retries: identical copies
    seed.shuffle(stream)
    token = ""
    start, n = 0, 0
    while start < len(stream):
        size = cuts[n % len(cuts)]
        answer = clients[n % 2].post("/v1/metered/events/batch", json=stream[start:start + size])
        assert answer.status_code == 200, answer.text
        token = answer.headers["metered-consistency-token"] if not token else (
            token + "." + answer.headers["metered-consistency-token"])
        start, n = start + size, n + 1
    want = {c: Decimal(0) for c in customers}
    for c, v in events:
        want[customers[c]] += v
    got = summary_totals(clients[0], meter.json()["id"], customers, token=token)
    assert got == want
