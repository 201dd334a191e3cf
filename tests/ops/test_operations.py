"""Operations on a live server: Prometheus metrics, readiness, JSON logs, and an online backup
taken while events keep arriving, restored into a new store that counts exactly what it holds."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from metered.ops.logs import REQUEST_ID, JsonFormatter

from conftest import Server, start_server


def metric(text: str, name: str) -> float:
    """The value of one sample line `name{...} value` (exact match of name and labels)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return 0.0


def test_metrics_and_readiness(server: Server) -> None:
    with server.client(server.new_account_key()) as http:
        customer = http.post("/v1/customers", data={"name": "m"}).json()["id"]
        http.post("/v1/billing/meters", data={
            "display_name": "m", "event_name": "metrics_ev",
            "default_aggregation[formula]": "sum"}).raise_for_status()
        before = httpx.get(f"{server.base_url}/metrics").text
        batch = http.post("/v1/metered/events/batch", json=[
            {"event_name": "metrics_ev", "identifier": f"m{i}",
             "payload": {"stripe_customer_id": customer, "value": "1"}} for i in range(20)
        ] + [{"event_name": "metrics_ev", "identifier": "m0",
              "payload": {"stripe_customer_id": customer, "value": "1"}},
             {"event_name": "metrics_ev", "identifier": "bad",
              "payload": {"stripe_customer_id": "cus_nope", "value": "1"}}]).json()
        assert (batch["accepted"], batch["duplicate"], batch["rejected"]) == (20, 1, 1)
        response = httpx.get(f"{server.base_url}/metrics")
        assert response.headers["content-type"].startswith("text/plain")
        after = response.text
    accepted = 'metered_events_total{outcome="accepted"}'
    duplicate = 'metered_events_total{outcome="duplicate"}'
    rejected = 'metered_events_rejected_total{code="meter_event_customer_not_found"}'
    assert metric(after, accepted) - metric(before, accepted) == 20
    assert metric(after, duplicate) - metric(before, duplicate) == 1
    assert metric(after, rejected) - metric(before, rejected) == 1
    assert metric(after, "metered_ack_seconds_count") > metric(before, "metered_ack_seconds_count")
    assert metric(after, 'metered_http_responses_total{status="2xx"}') > 0
    assert "metered_webhook_backlog" in after and "metered_write_queue" in after
    ready = httpx.get(f"{server.base_url}/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"store": "ok", "writer": "ok",
                                                          "log": "ok", "billing": "ok"}}


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("metered.api", logging.ERROR, __file__, 1, "failed %s", ("x",),
                               None)
    token = REQUEST_ID.set("req_abc")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        REQUEST_ID.reset(token)
    assert (line["level"], line["logger"], line["message"], line["request_id"]) == (
        "error", "metered.api", "failed x", "req_abc")


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "metered.cli.main", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.embedded_only  # backs up and restores the SQLite file
def test_online_backup_and_restore(tmp_path: Path) -> None:
    source = start_server(tmp_path / "source")
    try:
        with source.client() as http:
            customer = http.post("/v1/customers", data={"name": "b"}).json()["id"]
            meter = http.post("/v1/billing/meters", data={
                "display_name": "b", "event_name": "backup_ev",
                "default_aggregation[formula]": "sum"}).json()["id"]
            acknowledged: list[int] = []
            stop = threading.Event()

            def send() -> None:
                with source.client() as writer:
                    n = 0
                    while not stop.is_set():
                        body = [{"event_name": "backup_ev", "identifier": f"b{n}-{i}",
                                 "payload": {"stripe_customer_id": customer, "value": "1"}}
                                for i in range(200)]
                        if writer.post("/v1/metered/events/batch", json=body).status_code == 200:
                            acknowledged.append(200)
                        n += 1

            sender = threading.Thread(target=send)
            sender.start()
            while sum(acknowledged) < 2000:
                threading.Event().wait(0.05)
            before = sum(acknowledged)
            done = cli("backup", str(tmp_path / "store.backup"), "--data-dir",
                       str(source.data_dir))
            stop.set()
            sender.join()
            assert done.returncode == 0, done.stderr
            held = int(done.stdout.split(" bytes, ")[1].split(" events")[0])
            # Consistent: every event acknowledged before the backup began is in it.
            assert before <= held <= sum(acknowledged)
    finally:
        source.stop()

    refused = cli("restore", "/etc/hostname", "--data-dir", str(tmp_path / "x"))
    assert refused.returncode == 2 and "not a metered store" in refused.stderr
    restored_dir = tmp_path / "restored"
    assert cli("restore", str(tmp_path / "store.backup"), "--data-dir",
               str(restored_dir)).returncode == 0
    again = cli("restore", str(tmp_path / "store.backup"), "--data-dir", str(restored_dir))
    assert again.returncode == 2 and "--replace" in again.stderr
    restored = start_server(restored_dir)
    try:
        with restored.client() as http:
            now = int(time.time()) // 60 * 60
            usage = http.get(f"/v1/metered/meters/{meter}/usage", params={
                "customer": customer, "start_time": now - 86_400, "end_time": now + 3600})
            total = sum(int(row["aggregated_value"]) for row in usage.json()["data"])
            assert total == held  # the rollups in the copy agree with its raw events
    finally:
        restored.stop()
