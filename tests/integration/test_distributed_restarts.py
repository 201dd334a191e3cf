"""Distributed mode while its services restart: the Kafka broker, then PostgreSQL. These tests
stop and start services, so they run on a PostgreSQL and a Kafka of their own (scripts/services
with a private state folder and ports), never on the ones other tests share."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

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
from integration.conftest import SERVICES, parse_exports

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class PrivateServices:
    env: dict[str, str]
    postgres: str = ""
    kafka: str = ""

    def run(self, *args: str) -> str:
        done = subprocess.run([str(SERVICES), *args], env=self.env, capture_output=True,
                              text=True, timeout=600, check=False)
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    def restart(self, service: str) -> None:
        self.run("restart", service)


@pytest.fixture(scope="module")
def private(tmp_path_factory: pytest.TempPathFactory,
            service_env: dict[str, str]) -> Iterator[PrivateServices]:
    """A PostgreSQL and a Kafka for this module only. The shared services are up first
    (service_env), so their Kafka jars are there to be reused."""
    state = tmp_path_factory.mktemp("services")
    shared = Path(os.environ.get("METERED_SERVICES_DIR", ROOT / ".services")) / "kafka" / "libs"
    if shared.is_dir():
        (state / "kafka").mkdir()
        (state / "kafka" / "libs").symlink_to(shared)
    services = PrivateServices({
        **os.environ, "METERED_SERVICES_DIR": str(state), "METERED_PG_PORT": str(free_port()),
        "METERED_KAFKA_PORT": str(free_port()),
        "METERED_KAFKA_CONTROLLER_PORT": str(free_port())})
    services.run("up")
    found = parse_exports(services.run("env"))
    services.postgres = found["METERED_TEST_POSTGRES_URL"]
    services.kafka = found["METERED_TEST_KAFKA"]
    try:
        yield services
    finally:
        services.run("down")


@pytest.fixture
def cluster(private: PrivateServices, tmp_path: Path) -> Iterator[Cluster]:
    made = Cluster(private.postgres, private.kafka, tmp_path)
    made.create()
    try:
        yield made
    finally:
        made.drop()


def _drive(client, ledger: Ledger, customers: list[str], prefix: str, batches: int  # type: ignore[no-untyped-def]
           ) -> threading.Thread:
    def run() -> None:
        for batch in make_batches(ledger, customers, prefix, batches, 100):
            send_batch(client, ledger, batch)
            time.sleep(0.02)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _retry_unanswered(client, ledger: Ledger, deadline: float) -> None:  # type: ignore[no-untyped-def]
    """The client's retries, same identifiers, until all are answered."""
    while ledger.unanswered:
        assert time.monotonic() < deadline, f"{len(ledger.unanswered)} events never answered"
        now = int(time.time())
        pending = sorted(ledger.unanswered)[:200]
        batch = [{"event_name": "tokens", "identifier": i, "timestamp": now,
                  "payload": {"stripe_customer_id": ledger.values[i][0],
                              "value": str(ledger.values[i][1])}} for i in pending]
        if not send_batch(client, ledger, batch):
            time.sleep(0.5)


@pytest.mark.parametrize("service", ["kafka", "postgres"])
def test_a_service_restart_under_load(cluster: Cluster, private: PrivateServices,
                                      service: str) -> None:
    api = cluster.api()
    cluster.worker(batch_records=50)
    cluster.worker(batch_records=50)
    ledger = Ledger()
    with cluster.client(api) as client:
        meter_id, customers = setup_meter(client, 8)
        load = _drive(client, ledger, customers, service, 80)
        time.sleep(1.0)
        private.restart(service)
        load.join()
        acked_before_retry = set(ledger.acked)
        _retry_unanswered(client, ledger, time.monotonic() + 120)
        wait_until_idle(cluster, timeout=120)
        got = summary_totals(client, meter_id, customers)
        assert got == ledger.expected(ledger.acked)
        assert ledger.acked >= acked_before_retry
        assert len(ledger.acked) == len(ledger.values)  # every event, once
