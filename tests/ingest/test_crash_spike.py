"""Crash during a spike: SIGKILL the server while a spike of concurrent batches is in flight,
more than its ingest budget takes at once (some answered, some refused, some unanswered).

After each restart, from the store itself: every acknowledged event is there exactly once,
every event of a refused batch (429/503) is absent, and an unanswered batch is there whole or
not at all (a batch is applied in one transaction). At the end the unanswered batches and a
sample of the refused ones are sent again with the same identifiers until answered; then each
of their events and of the acknowledged ones is stored exactly once, nothing else is, and
the meter's total is their sum.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import pytest

from metered.ingest.segments import iter_events

from conftest import Server, start_server

pytestmark = pytest.mark.slow

BATCH = 1000
CONNECTIONS = 32  # at once; the 16 MB budget takes ~20 of these batches
ROUNDS = 3
TAG = b"~~~~~~~~~~~~"
VALUES = [j % 7 + 1 for j in range(BATCH)]


@dataclass
class Ledger:
    acked: set[str] = field(default_factory=set)  # batch tags answered 200, all accepted
    refused: set[str] = field(default_factory=set)  # 429 or 503: stored nothing
    unanswered: set[str] = field(default_factory=set)  # sent, no answer (the kill)
    sent: set[str] = field(default_factory=set)


def batch_body(customer: str) -> bytes:
    return json.dumps([
        {"event_name": "spike", "identifier": f"{TAG.decode()}-{j}",
         "payload": {"stripe_customer_id": customer, "value": str(VALUES[j])}}
        for j in range(BATCH)], separators=(",", ":")).encode()


async def _connection(port: int, key: str, body: bytes, prefix: str, ledger: Ledger,
                      stop: threading.Event) -> None:
    head = ("POST /v1/metered/events/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    k = 0
    try:
        while not stop.is_set():
            tag = f"{prefix}{k:08d}"  # 12 characters, as TAG
            k += 1
            ledger.sent.add(tag)
            try:
                writer.write(head + body.replace(TAG, tag.encode()))
                response = await reader.readuntil(b"\r\n\r\n")
                length = int(next(line.split(b":", 1)[1] for line in response.split(b"\r\n")
                                  if line.lower().startswith(b"content-length:")))
                answer = json.loads(await reader.readexactly(length))
            except (OSError, asyncio.IncompleteReadError):
                ledger.unanswered.add(tag)
                return
            status = int(response[9:12])
            if status == 200:
                assert answer["accepted"] == BATCH, answer
                ledger.acked.add(tag)
            else:  # refused by admission control (api.admission), before anything was read
                assert answer["error"]["code"] in ("ingest_backpressure", "ingest_unavailable")
                ledger.refused.add(tag)
                await asyncio.sleep(0.01)
    finally:
        writer.close()


def spike(port: int, key: str, body: bytes, round_: int, ledger: Ledger,
          stop: threading.Event) -> None:
    async def run() -> None:
        await asyncio.gather(*(_connection(port, key, body, f"{round_}c{c:02d}", ledger, stop)
                               for c in range(CONNECTIONS)))

    asyncio.run(run())


def stored(db_path: Path) -> Counter[str]:
    """How many times each batch tag's events are stored, and check no event is stored twice."""
    conn = sqlite3.connect(db_path)
    try:
        events = Counter(event.identifier for event in iter_events(conn))
    finally:
        conn.close()
    assert all(count == 1 for count in events.values()), "an event was stored twice"
    return Counter(identifier.rsplit("-", 1)[0] for identifier in events)


def check_after_restart(ledger: Ledger, batches: Counter[str]) -> None:
    for tag in ledger.acked:
        assert batches[tag] == BATCH, f"acknowledged batch {tag}: {batches[tag]} events stored"
    for tag in ledger.refused:
        assert batches[tag] == 0, f"refused batch {tag}: {batches[tag]} events stored"
    for tag in ledger.unanswered:
        assert batches[tag] in (0, BATCH), f"unanswered batch {tag} stored in part"
    assert set(batches) <= ledger.sent


def send_until_answered(server: Server, body: bytes, tags: set[str]) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    with server.client() as client:
        for tag in sorted(tags):
            while True:
                response = client.post("/v1/metered/events/batch", content=body.replace(
                    TAG, tag.encode()), headers={"content-type": "application/json"})
                if response.status_code in (429, 503):
                    time.sleep(float(response.headers["retry-after"]))
                    continue
                assert response.status_code == 200, response.text
                answer = response.json()
                assert answer["accepted"] + answer["duplicate"] == BATCH
                outcomes["accepted" if answer["accepted"] else "duplicate"] += 1
                break
    return outcomes


def test_sigkill_during_a_spike(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    db_path = data_dir / "metered.sqlite3"
    args = ("--memory-budget", "16")
    server = start_server(data_dir, args=args)
    with server.client() as client:
        customer = client.post("/v1/customers", data={"name": "spike"}).json()["id"]
        meter = client.post("/v1/billing/meters", data={
            "display_name": "spike", "event_name": "spike",
            "default_aggregation[formula]": "sum"}).json()["id"]
    body = batch_body(customer)
    ledger, rng = Ledger(), random.Random(11)
    try:
        for round_ in range(ROUNDS):
            stop = threading.Event()
            port = int(server.base_url.rsplit(":", 1)[1])
            thread = threading.Thread(target=spike, args=(port, server.key, body, round_,
                                                          ledger, stop))
            thread.start()
            time.sleep(rng.uniform(0.5, 1.2))
            server.stop(signal.SIGKILL)
            stop.set()
            thread.join(timeout=30)
            check_after_restart(ledger, stored(db_path))
            server = start_server(data_dir, key=server.key, args=args)

        assert ledger.acked and ledger.refused and ledger.unanswered, (
            len(ledger.acked), len(ledger.refused), len(ledger.unanswered))
        # Every unanswered batch, and some refused ones (each stored nothing, checked above),
        # sent again with the same identifiers.
        again = sorted(ledger.refused)[:: max(1, len(ledger.refused) // 20)]
        outcomes = send_until_answered(server, body, ledger.unanswered | set(again))
        assert outcomes["accepted"] >= len(again)
        expected = ledger.acked | ledger.unanswered | set(again)
        batches = stored(db_path)
        assert set(batches) == expected and set(batches.values()) == {BATCH}
        now = int(time.time())
        with server.client() as client:
            summary = client.get(f"/v1/billing/meters/{meter}/event_summaries", params={
                "customer": customer, "start_time": (now - 3600) // 60 * 60,
                "end_time": (now + 3600) // 60 * 60}).json()["data"]
        counted = sum((Decimal(str(row["aggregated_value"])) for row in summary), Decimal(0))
        assert counted == len(expected) * sum(VALUES)
        print(f"{ROUNDS} kills: {len(ledger.acked)} batches acknowledged, {len(ledger.refused)}"
              f" refused, {len(ledger.unanswered)} unanswered ({outcomes['duplicate']} of those"
              " had been stored)")
    finally:
        server.stop()
