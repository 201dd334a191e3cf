"""Real PostgreSQL and Kafka for the integration tests: from METERED_TEST_POSTGRES_URL and
METERED_TEST_KAFKA when set (CI sets them), otherwise started here by `scripts/services up`."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "scripts" / "services"
ENV_VARS = ("METERED_TEST_POSTGRES_URL", "METERED_TEST_KAFKA")


def services(command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SERVICES), command], capture_output=True, text=True,
                          timeout=timeout, check=False)


def parse_exports(text: str) -> dict[str, str]:
    """`export NAME=value` lines, as `scripts/services env` prints them."""
    found = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            found[name] = value
    return found


@pytest.fixture(scope="session")
def service_env() -> Iterator[dict[str, str]]:
    """The addresses of both services. When the environment lacks them, `scripts/services up`
    starts them (the first run on a machine installs and fetches them: a minute or more), and
    the ones this session started are stopped at its end."""
    if all(os.environ.get(name) for name in ENV_VARS):
        yield {name: os.environ[name] for name in ENV_VARS}
        return
    started = services("up", timeout=900)
    if started.returncode != 0:
        pytest.fail(f"scripts/services up failed:\n{started.stderr[-4000:]}", pytrace=False)
    # `up` says which service was running before it (decided under its lock): leave those be.
    ours = "already running" not in started.stderr
    try:
        found = parse_exports(services("env").stdout)
        yield {name: os.environ.get(name) or found[name] for name in ENV_VARS}
    finally:
        if ours:
            services("down")


@pytest.fixture(scope="session")
def postgres_url(service_env: dict[str, str]) -> str:
    """postgresql://user:password@127.0.0.1:port/metered_test"""
    return service_env["METERED_TEST_POSTGRES_URL"]


@pytest.fixture(scope="session")
def kafka_bootstrap(service_env: dict[str, str]) -> str:
    """host:port of a single-node Kafka (KRaft) broker; topics are not auto-created."""
    return service_env["METERED_TEST_KAFKA"]
