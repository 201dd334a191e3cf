"""Run the server-based tests against distributed mode: METERED_TEST_DISTRIBUTED=1.

Each data folder a test uses stands for a store of its own: a fresh PostgreSQL schema (migrated
with `metered migrate`) and a Kafka topic. `metered ...` commands run by the tests get that
store through METERED_STORE, and every `metered serve` started by tests/conftest.py becomes an
API process on it, with a `metered worker` beside it. PostgreSQL and Kafka come from
METERED_TEST_POSTGRES_URL / METERED_TEST_KAFKA, or `scripts/services up`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
ENABLED = os.environ.get("METERED_TEST_DISTRIBUTED") == "1"
_ready: set[str] = set()
_services: dict[str, str] = {}


def services() -> dict[str, str]:
    """The services' addresses, started by scripts/services when the environment lacks them."""
    if not _services:
        names = ("METERED_TEST_POSTGRES_URL", "METERED_TEST_KAFKA")
        if all(os.environ.get(n) for n in names):
            _services.update({n: os.environ[n] for n in names})
        else:
            script = str(ROOT / "scripts" / "services")
            subprocess.run([script, "up"], check=True, capture_output=True, timeout=900)
            out = subprocess.run([script, "env"], check=True, capture_output=True, text=True)
            for line in out.stdout.splitlines():
                name, _, value = line.removeprefix("export ").partition("=")
                _services[name] = value
    return _services


def store_env(data_dir: Path) -> dict[str, str]:
    """METERED_STORE and METERED_LOG for the store that `data_dir` stands for (made at first
    use: a schema, its migrations, a topic name)."""
    found = services()
    name = "t_" + hashlib.blake2b(str(data_dir.resolve()).encode(), digest_size=8).hexdigest()
    base = found["METERED_TEST_POSTGRES_URL"]
    store = f"{base}?options={quote(f'-csearch_path={name}')}"
    # A topic per test session: a data dir reused by a later session gets a new schema and
    # must not find the old session's records in its log.
    log = f"kafka://{found['METERED_TEST_KAFKA']}/metered-{name}-{os.getpid()}?partitions=4"
    if name not in _ready:
        import psycopg

        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
            conn.execute(f'CREATE SCHEMA "{name}"')
        subprocess.run([sys.executable, "-m", "metered.cli.main", "migrate", "--store", store],
                       check=True, capture_output=True, timeout=120)
        _ready.add(name)
    return {"METERED_STORE": store, "METERED_LOG": log}


def start_worker(data_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    log = open(log_path, "ab")  # noqa: SIM115 - closed when the process ends
    return subprocess.Popen(
        [sys.executable, "-m", "metered.cli.main", "worker", "--log-level", "warning"],
        stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1",
                                     **store_env(data_dir)})
