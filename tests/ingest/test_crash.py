"""Crash safety: SIGKILL the server while clients ingest; nothing acknowledged is lost or doubled.

Clients send batches with unique identifiers and remember which requests were answered 200. The
server is killed at random moments and restarted on the same data folder. After each restart every
acknowledged event is in the store exactly once; at the end the unanswered requests are retried
with the same identifiers and the total equals exactly the sum of every event sent.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from metered.ingest.segments import iter_events

from conftest import Server, start_server

pytestmark = pytest.mark.slow


def _setup(server: Server) -> tuple[str, str]:
    with server.client() as c:
        customer = c.post("/v1/customers", data={"name": "crash"}).json()["id"]
        meter = c.post("/v1/billing/meters", data={
            "display_name": "crash", "event_name": "crash_units",
            "default_aggregation[formula]": "sum",
        }).json()["id"]
    return customer, meter


class Ledger:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: dict[str, Decimal] = {}
        self.unacked: dict[str, list[dict[str, object]]] = {}
        self.sent: dict[str, Decimal] = {}


def _load(base_url: str, key: str, customer: str, ledger: Ledger, stop: threading.Event,
          worker: int) -> None:
    rng = random.Random(worker)
    n = 0
    with httpx.Client(base_url=base_url, auth=(key, ""), timeout=10) as client:
        while not stop.is_set():
            batch_id = f"w{worker}-b{n}"
            n += 1
            size = rng.choice([1, 10, 100, 400])
            events = [
                {"event_name": "crash_units", "identifier": f"{batch_id}-{i}",
                 "payload": {"stripe_customer_id": customer, "value": str(rng.randint(1, 999))}}
                for i in range(size)
            ]
            with ledger.lock:
                for e in events:
                    ledger.sent[str(e["identifier"])] = Decimal(e["payload"]["value"])  # type: ignore[index]
            try:
                response = client.post("/v1/metered/events/batch", json=events)
                ok = response.status_code == 200
                statuses = {r["status"] for r in response.json()["results"]} if ok else set()
            except (httpx.HTTPError, ValueError):
                ok, statuses = False, set()
            with ledger.lock:
                if ok and statuses <= {"accepted"}:
                    for e in events:
                        ledger.acked[str(e["identifier"])] = Decimal(e["payload"]["value"])  # type: ignore[index]
                else:
                    ledger.unacked[batch_id] = events
            if not ok:
                time.sleep(0.05)


def _stored(db_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(db_path)
    try:
        return dict(Counter(event.identifier for event in iter_events(conn)))
    finally:
        conn.close()


def _total(server: Server, meter: str, customer: str) -> Decimal:
    now = int(time.time())
    start, end = (now - 86_400) // 60 * 60, (now + 3600) // 60 * 60
    with server.client() as c:
        body = c.get(f"/v1/billing/meters/{meter}/event_summaries", params={
            "customer": customer, "start_time": start, "end_time": end}).json()
    return Decimal(str(body["data"][0]["aggregated_value"]))


def test_sigkill_loses_nothing_acknowledged(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir)
    customer, meter = _setup(server)
    ledger = Ledger()
    rng = random.Random(7)
    kills = 0
    try:
        for _round in range(6):
            stop = threading.Event()
            threads = [
                threading.Thread(target=_load, args=(server.base_url, server.key, customer,
                                                     ledger, stop, w + 10 * _round))
                for w in range(4)
            ]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.3, 1.5))
            server.stop(signal.SIGKILL)
            kills += 1
            stop.set()
            for t in threads:
                t.join(timeout=30)
            stored = _stored(data_dir / "metered.sqlite3")
            with ledger.lock:
                missing = [i for i in ledger.acked if i not in stored]
                assert not missing, f"acknowledged but lost: {missing[:5]}"
            assert all(count == 1 for count in stored.values()), "an event was stored twice"
            server = start_server(data_dir, key=server.key)

        # Retry every request that got no answer, with the same identifiers, until answered.
        with server.client() as c:
            for events in ledger.unacked.values():
                response = c.post("/v1/metered/events/batch", json=events)
                assert response.status_code == 200
                assert {r["status"] for r in response.json()["results"]} <= {
                    "accepted", "duplicate"
                }
        assert kills == 6
        assert len(ledger.acked) > 0
        assert _total(server, meter, customer) == sum(ledger.sent.values(), Decimal(0))
        stored = _stored(data_dir / "metered.sqlite3")
        assert set(stored) == set(ledger.sent)
        assert all(count == 1 for count in stored.values())
    finally:
        server.stop()
