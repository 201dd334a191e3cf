"""A distributed metered on real services: API processes and workers as subprocesses, sharing a
fresh PostgreSQL schema and a fresh Kafka topic, and a load driver that keeps the books of
what was acknowledged (the ground truth the fault tests compare summaries with)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg

from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Proc:
    process: subprocess.Popen[bytes]
    log_path: Path
    base_url: str | None = None

    def signal(self, sig: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@dataclass
class Cluster:
    postgres_url: str
    kafka: str
    workdir: Path
    partitions: int = 4
    name: str = field(default_factory=lambda: f"dist_{uuid.uuid4().hex[:10]}")
    procs: list[Proc] = field(default_factory=list)
    key: str = ""

    @property
    def store(self) -> str:
        return f"{self.postgres_url}?options={quote(f'-csearch_path={self.name}')}"

    @property
    def log(self) -> str:
        return f"kafka://{self.kafka}/{self.name}?partitions={self.partitions}"

    def create(self) -> None:
        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')
        self.cli("migrate")
        self.key = self.cli("keys", "create")

    def drop(self) -> None:
        for proc in self.procs:
            proc.kill()
        with psycopg.connect(self.postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')

    def cli(self, *args: str) -> str:
        out = subprocess.run([sys.executable, "-m", "metered.cli.main", *args, "--store",
                              self.store], check=True, capture_output=True, text=True,
                             timeout=120)
        return out.stdout.strip().splitlines()[-1] if out.stdout.strip() else ""

    def _spawn(self, args: list[str], name: str) -> Proc:
        log_path = self.workdir / f"{name}.log"
        log = open(log_path, "ab")  # noqa: SIM115 - closed with the process
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "METERED_STORE": self.store,
               "METERED_LOG": self.log}
        process = subprocess.Popen([sys.executable, "-m", "metered.cli.main", *args],
                                   stdout=log, stderr=log, env=env)
        proc = Proc(process, log_path)
        self.procs.append(proc)
        return proc

    def api(self, port: int | None = None) -> Proc:
        port = port or free_port()
        proc = self._spawn(["serve", "--port", str(port), "--log-level", "warning"],
                           f"api-{port}")
        proc.base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.process.poll() is not None:
                raise RuntimeError(f"api exited: {proc.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{proc.base_url}/healthz", timeout=1).status_code == 200:
                    return proc
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError(f"api did not start: {proc.log_path.read_text()[-3000:]}")

    def worker(self, session_timeout_ms: int = 6000, batch_records: int = 200) -> Proc:
        return self._spawn(["worker", "--log-level", "info", "--session-timeout-ms",
                            str(session_timeout_ms), "--batch-records", str(batch_records)],
                           f"worker-{len(self.procs)}")

    def client(self, api: Proc) -> httpx.Client:
        assert api.base_url
        return httpx.Client(base_url=api.base_url, auth=(self.key, ""), timeout=30)

    def applied(self) -> dict[int, int]:
        with psycopg.connect(self.store, autocommit=True) as conn:
            return dict(conn.execute("SELECT partition, next_offset FROM log_offsets"
                                     " WHERE topic = %s", [self.name]).fetchall())


def setup_meter(client: httpx.Client, customers: int) -> tuple[str, list[str]]:
    meter = client.post("/v1/billing/meters", data={
        "display_name": "tokens", "event_name": "tokens",
        "default_aggregation[formula]": "sum",
        "customer_mapping[event_payload_key]": "stripe_customer_id",
        "customer_mapping[type]": "by_id", "value_settings[event_payload_key]": "value"})
    assert meter.status_code == 200, meter.text
    ids = []
    for n in range(customers):
        created = client.post("/v1/customers", data={"name": f"c{n}"})
        assert created.status_code == 200, created.text
        ids.append(created.json()["id"])
    return meter.json()["id"], ids


@dataclass
class Ledger:
    """What the load driver sent and what the servers acknowledged, per identifier."""

    values: dict[str, tuple[str, Decimal]] = field(default_factory=dict)  # id -> customer, value
    acked: set[str] = field(default_factory=set)
    unanswered: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def expected(self, ids: set[str]) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for identifier in ids:
            customer, value = self.values[identifier]
            totals[customer] = totals.get(customer, Decimal(0)) + value
        return totals


def send_batch(client: httpx.Client, ledger: Ledger, batch: list[dict[str, object]]) -> bool:
    """POST a native batch; records each event as acknowledged or unanswered."""
    ids = [str(e["identifier"]) for e in batch]
    try:
        response = client.post("/v1/metered/events/batch", content=json.dumps(batch),
                               headers={"content-type": "application/json"})
    except httpx.HTTPError:
        with ledger.lock:
            ledger.unanswered.update(ids)
        return False
    if response.status_code != 200:
        with ledger.lock:
            ledger.unanswered.update(ids)
        return False
    results = response.json()["results"]
    with ledger.lock:
        for result in results:
            assert result["status"] in ("accepted", "duplicate"), result
            ledger.acked.add(result["identifier"])
            ledger.unanswered.discard(result["identifier"])
    return True


def make_batches(ledger: Ledger, customers: list[str], prefix: str, batches: int, size: int
                 ) -> Iterator[list[dict[str, object]]]:
    now = int(time.time())
    for b in range(batches):
        batch = []
        for i in range(size):
            identifier = f"{prefix}-{b}-{i}"
            customer = customers[(b * size + i) % len(customers)]
            value = Decimal(f"{(b * size + i) % 97 + 1}.{i % 10}")
            ledger.values[identifier] = (customer, value)
            batch.append({"event_name": "tokens", "identifier": identifier, "timestamp": now,
                          "payload": {"stripe_customer_id": customer, "value": str(value)}})
        yield batch


def summary_totals(client: httpx.Client, meter_id: str, customers: list[str],
                   token: str | None = None) -> dict[str, Decimal]:
    now = int(time.time())
    start, end = (now // 3600 - 2) * 3600, (now // 3600 + 2) * 3600
    totals = {}
    for customer in customers:
        params = {"customer": customer, "start_time": start, "end_time": end}
        headers = {"metered-consistency-token": token} if token else {}
        response = client.get(f"/v1/billing/meters/{meter_id}/event_summaries", params=params,
                              headers=headers)
        assert response.status_code == 200, response.text
        data = response.json()["data"]
        totals[customer] = Decimal(str(data[0]["aggregated_value"])) if data else Decimal(0)
    return totals


def wait_until_idle(cluster: Cluster, timeout: float = 60) -> None:
    """Until every partition's applied offset equals the topic's end."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": cluster.kafka, "group.id": "test-watermarks"})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(cluster.name, p),
                                                  timeout=10)[1]
                for p in range(cluster.partitions)}
    finally:
        consumer.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        applied = cluster.applied()
        if all(applied.get(p, 0) >= end for p, end in ends.items() if end > 0):
            return
        time.sleep(0.2)
    raise AssertionError(f"workers did not catch up: applied {cluster.applied()}, ends {ends}")


__all__ = ["Cluster", "Ledger", "Proc", "free_port", "make_batches", "send_batch", "setup_meter",
           "signal", "summary_totals", "wait_until_idle"]
