"""Large batches are validated in a parse worker process: same answers, never stale state."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from metered.clock import now_seconds
from metered.ingest.parse_pool import MIN_POOL_BYTES, ParsedBatch, ParsePool

from conftest import Server, start_server
from engine_harness import Harness


class Tenant:
    def __init__(self, client: httpx.Client):
        self.client = client
        self.customers = [client.post("/v1/customers", data={"name": f"c{i}"}).json()["id"]
                          for i in range(2)]
        self.meter = client.post("/v1/billing/meters", data={
            "display_name": "tokens", "event_name": "pool_tokens",
            "default_aggregation[formula]": "sum", "dimension_payload_keys[0]": "model",
        }).json()["id"]

    def event(self, identifier: str, value: Any, customer: int = 0, **extra: Any
              ) -> dict[str, Any]:
        return {"event_name": "pool_tokens", "identifier": identifier,
                "payload": {"stripe_customer_id": self.customers[customer], "value": value,
                            "model": f"m{len(identifier) % 3}", "pad": "x" * 40}, **extra}

    def post(self, events: list[Any], ndjson: bool = False) -> dict[str, Any]:
        if ndjson:
            body = "\n".join(json.dumps(e) for e in events).encode()
            response = self.client.post("/v1/metered/events/batch", content=body,
                                        headers={"content-type": "application/x-ndjson"})
        else:
            body = json.dumps(events).encode()
            response = self.client.post("/v1/metered/events/batch", content=body,
                                        headers={"content-type": "application/json"})
        assert len(body) >= MIN_POOL_BYTES, "the batch must be large enough for a parse worker"
        assert response.status_code == 200, response.text
        return response.json()

    def total(self, customer: int = 0) -> Decimal:
        now = int(time.time())
        body = self.client.get(f"/v1/billing/meters/{self.meter}/event_summaries", params={
            "customer": self.customers[customer], "start_time": (now - 86_400) // 60 * 60,
            "end_time": (now // 60 + 2) * 60,
        }).json()
        return Decimal(str(body["data"][0]["aggregated_value"]))


@pytest.fixture
def tenant(server: Server) -> Iterator[Tenant]:
    with server.client(server.new_account_key()) as client:
        yield Tenant(client)


def parse_workers(server: Server) -> list[int]:
    """The server's child processes (its parse workers), from /proc."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children]


@pytest.mark.embedded_only  # a parse worker must run (distributed mode parses in-process)
def test_large_mixed_batch_answers_per_event(server: Server, tenant: Tenant) -> None:
    first = tenant.post([tenant.event(f"a{i}", "1") for i in range(300)])
    assert first["accepted"] == 300
    assert len(parse_workers(server)) >= 1, "a large batch should have started a parse worker"
    events: list[Any] = [tenant.event(f"b{i}", str(i)) for i in range(300)]
    events[10] = tenant.event("b10", "-1")                       # negative value
    events[20] = "not an object"
    events[30] = tenant.event("a5", "1")                         # accepted before
    events[40] = tenant.event("b0", "7")                         # twice in this batch
    events[50] = tenant.event("b50", "1", timestamp=int(time.time()) - 40 * 86_400)
    events[60] = {"event_name": "nope", "identifier": "b60", "payload": {}}
    events[70] = tenant.event("b70", "2.5")                      # not an integer: slow path
    for again, body in enumerate((tenant.post(events), tenant.post(events, ndjson=True))):
        statuses = [r["status"] for r in body["results"]]
        assert [r["index"] for r in body["results"]] == list(range(300))
        if not again:
            expected = ["accepted"] * 300
            for i in (10, 20, 50, 60):
                expected[i] = "rejected"
            expected[30] = expected[40] = "duplicate"
            assert statuses == expected
        else:  # the same batch again: everything valid is now a duplicate
            assert statuses == ["rejected" if i in (10, 20, 50, 60) else "duplicate"
                                for i in range(300)]
        codes = {r["index"]: r["error"]["code"] for r in body["results"]
                 if r["status"] == "rejected"}
        assert codes == {10: "meter_event_invalid_value", 20: "parameter_invalid",
                         50: "timestamp_too_far_in_past", 60: "no_meter"}
        assert body["results"][70]["identifier"] == "b70"
    accepted = [i for i in range(300) if i not in (10, 20, 30, 40, 50, 60, 70)]
    assert tenant.total() == 300 + sum(Decimal(i) for i in accepted) + Decimal("2.5")


def test_workers_see_deleted_customers_and_deactivated_meters(tenant: Tenant) -> None:
    # Warm the worker's caches with both customers, then change them through the API.
    body = tenant.post([tenant.event(f"w{i}", "1", customer=i % 2) for i in range(300)])
    assert body["accepted"] == 300
    tenant.client.delete(f"/v1/customers/{tenant.customers[1]}")
    body = tenant.post([tenant.event(f"x{i}", "1", customer=i % 2) for i in range(300)])
    assert body["accepted"] == 150
    assert {r["error"]["code"] for r in body["results"] if r["status"] == "rejected"} == {
        "meter_event_customer_not_found"}
    tenant.client.post(f"/v1/billing/meters/{tenant.meter}/deactivate")
    body = tenant.post([tenant.event(f"y{i}", "1") for i in range(300)])
    assert body["rejected"] == 300
    assert body["results"][0]["error"]["code"] == "archived_meter"
    tenant.client.post(f"/v1/billing/meters/{tenant.meter}/reactivate")
    body = tenant.post([tenant.event(f"z{i}", "1") for i in range(300)])
    assert body["accepted"] == 300
    assert tenant.total() == 150 + 150 + 300


@pytest.mark.embedded_only  # parse worker processes of a SIGKILLed server
def test_workers_leave_when_the_server_is_killed(tmp_path: Path) -> None:
    """SIGKILL leaves no clean-up to the server: its parse workers must notice and leave, not
    live on holding the store open."""
    own = start_server(tmp_path / "data")
    try:
        with own.client() as client:
            tenant = Tenant(client)
            result = tenant.post([tenant.event(f"kill-{i}", 1) for i in range(300)])
            assert result["accepted"] == 300
        children = [int(pid) for pid in subprocess.run(
            ["pgrep", "-P", str(own.process.pid)], capture_output=True, text=True,
        ).stdout.split()]
        assert children, "the batch went through a parse worker"
    finally:
        own.stop(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"  # a zombie has left
    except FileNotFoundError:
        return False


def timing_stages(response: httpx.Response) -> dict[str, float]:
    header = response.headers["server-timing"]
    stages = {}
    for part in header.split(", "):
        name, _, duration = part.partition(";dur=")
        stages[name] = float(duration)
    assert all(ms >= 0 for ms in stages.values()), header
    return stages


@pytest.mark.embedded_only  # the embedded pipeline's stages (parse worker)
def test_ingest_answers_say_where_their_time_went(tenant: Tenant) -> None:
    """Server-Timing on ingest answers: the stages the benchmark's latency breakdown reads."""
    large = json.dumps([tenant.event(f"t{i}", "1") for i in range(300)]).encode()
    response = tenant.client.post("/v1/metered/events/batch", content=large,
                                  headers={"content-type": "application/json"})
    assert response.status_code == 200
    assert list(timing_stages(response)) == ["parse", "queue", "apply", "flush", "commit"]
    small = json.dumps([tenant.event("t-small", "1")]).encode()
    response = tenant.client.post("/v1/metered/events/batch", content=small,
                                  headers={"content-type": "application/json"})
    assert list(timing_stages(response)) == ["validate", "queue", "apply", "flush", "commit"]
    response = tenant.client.post("/v1/billing/meter_events", data={
        "event_name": "pool_tokens", "payload[stripe_customer_id]": tenant.customers[0],
        "payload[value]": "1"})
    assert response.status_code == 200
    assert list(timing_stages(response)) == ["queue", "apply", "flush", "commit"]
    assert "server-timing" not in tenant.client.get("/v1/customers").headers


@pytest.mark.embedded_only  # a parse worker on a SQLite file
def test_a_worker_whose_server_is_gone_at_start_leaves(tmp_path: Path) -> None:
    """A worker can start after its server is gone (spawning takes a moment): the other end of
    its request pipe is closed by then, so it reads end-of-file at once and leaves."""
    db = tmp_path / "store.sqlite3"
    sqlite3.connect(db).close()
    task_read, task_write = os.pipe()
    answer_read, answer_write = os.pipe()
    os.close(task_write)  # the server that made the pipe is gone
    worker = subprocess.Popen(
        [sys.executable, "-m", "metered.ingest.parse_channel", str(db), str(task_read),
         str(answer_write)], pass_fds=(task_read, answer_write))
    os.close(task_read)
    os.close(answer_write)
    try:
        assert worker.wait(timeout=60) == 0, "the worker should have left at once"
    finally:
        if worker.poll() is None:
            worker.kill()
        os.close(answer_read)


@pytest.mark.embedded_only  # in-process Harness (SQLite) and parse pool
def test_a_worker_killed_mid_stream_is_replaced(tmp_path: Path) -> None:
    """Its tasks are validated in-process instead (None), and a new worker takes the next."""
    h = Harness(tmp_path)
    pool = ParsePool(h.engine.db.path, 1)
    pool.start()
    try:
        customer = h.customer()
        meter = h.meter("sum")
        body = json.dumps([{"event_name": meter.event_name, "identifier": f"k{i}", "payload": {
            "stripe_customer_id": customer.id, "value": "1"}} for i in range(300)]).encode()

        async def parse() -> ParsedBatch | None:
            return await pool.parse(body, "application/json", h.caller, now_seconds(), 1, "r")

        first = h.loop.run_until_complete(parse())
        assert first is not None and first.total == 300
        old = pool._channels[0]
        old.process.kill()
        old.process.wait()
        assert h.loop.run_until_complete(parse()) is None  # the dead worker's task
        assert pool._channels[0] is not old
        again = h.loop.run_until_complete(parse())
        assert again is not None and again.answer == first.answer
    finally:
        pool.stop()
        h.close()
