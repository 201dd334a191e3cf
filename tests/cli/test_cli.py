"""The `metered` command end to end: keys, accounts, meters, events (one and NDJSON), usage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import Server


def run(server: Server, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "METERED_API_KEY": key, "METERED_BASE_URL": server.base_url,
           "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "metered.cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=120)


def test_keys_and_accounts_work_while_serving(server: Server) -> None:
    test_key = server.new_key()
    live_key = server.new_key(live=True)
    other = server.new_account_key()
    assert test_key.startswith("sk_test_") and live_key.startswith("sk_live_")
    assert other.startswith("sk_test_")
    for key, livemode in ((test_key, False), (live_key, True), (other, False)):
        created = httpx.post(f"{server.base_url}/v1/customers", auth=(key, ""),
                             data={"name": "k"}).json()
        assert created["livemode"] is livemode
    # Keys are stored hashed: the secret itself is nowhere in the database file.
    assert test_key.encode() not in (server.data_dir / "metered.sqlite3").read_bytes()


def test_meters_events_and_usage(server: Server, tmp_path: Path) -> None:
    key = server.new_account_key()
    customer = httpx.post(f"{server.base_url}/v1/customers", auth=(key, ""),
                          data={"name": "cli"}).json()["id"]
    made = run(server, key, "meters", "create", "--display-name", "Tokens", "--event-name",
               "tokens", "--dimension", "model")
    assert made.returncode == 0, made.stderr
    meter = made.stdout.strip().splitlines()[-1]
    assert meter.startswith("mtr_")
    listed = run(server, key, "meters", "list")
    assert meter in listed.stdout and "tokens" in listed.stdout

    one = run(server, key, "events", "send", "--event-name", "tokens", "--customer", customer,
              "--value", "5", "--payload", "model=small", "--identifier", "one")
    assert one.returncode == 0, one.stdout + one.stderr
    assert "accepted 1" in one.stdout

    now = int(time.time())
    lines = [json.dumps({"event_name": "tokens", "identifier": f"f{i}", "timestamp": now - i,
                         "payload": {"stripe_customer_id": customer, "value": "2",
                                     "model": "large"}}) for i in range(2_500)]
    lines.insert(10, json.dumps({"event_name": "tokens", "identifier": "bad",
                                 "payload": {"stripe_customer_id": customer, "value": "-1"}}))
    lines.append(json.dumps({"event_name": "tokens", "identifier": "one",
                             "payload": {"stripe_customer_id": customer, "value": "5"}}))
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    sent = run(server, key, "events", "send", "--file", str(path), "--batch-size", "1000")
    assert sent.returncode == 1  # one event was rejected
    assert "accepted 2500, duplicate 1, rejected 1" in sent.stdout
    assert "meter_event_invalid_value" in sent.stdout

    table = run(server, key, "usage", "--meter", meter, "--customer", customer,
                "--start", str((now - 86_400) // 60 * 60), "--group-by", "model")
    assert table.returncode == 0, table.stderr
    rows = {line.split("│")[3].strip(): line.split("│")[4].strip()
            for line in table.stdout.splitlines() if line.count("│") >= 5}
    assert rows == {"large": "5000", "small": "5"}


def test_errors_exit_non_zero(server: Server) -> None:
    result = run(server, "sk_test_" + "q" * 32, "meters", "list")
    assert result.returncode == 2 and "api_key_invalid" in result.stdout
