"""Shared fixtures: a real `metered serve` process on localhost with a fresh data folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import distributed_mode
import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def metered_cli(*args: str, data_dir: Path) -> str:
    """Run the `metered` command; returns its last line of stdout."""
    env = None
    if distributed_mode.ENABLED:  # the data folder stands for a PostgreSQL store
        env = {**os.environ, **distributed_mode.store_env(data_dir)}
    out = subprocess.run(
        [sys.executable, "-m", "metered.cli.main", *args, "--data-dir", str(data_dir)],
        check=True, capture_output=True, text=True, timeout=60, env=env,
    )
    return out.stdout.strip().splitlines()[-1]


@dataclass
class Server:
    base_url: str
    data_dir: Path
    key: str
    process: subprocess.Popen[bytes]
    log_path: Path
    worker: subprocess.Popen[bytes] | None = None  # distributed mode: its `metered worker`

    def client(self, key: str | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, auth=(key or self.key, ""), timeout=30)

    def new_account_key(self) -> str:
        return metered_cli("accounts", "create", data_dir=self.data_dir)

    def new_key(self, live: bool = False) -> str:
        return metered_cli("keys", "create", *(["--live"] if live else []),
                           data_dir=self.data_dir)

    def stop(self, sig: int | None = None) -> None:
        for process in (self.process, self.worker):
            if process is not None and process.poll() is None:
                if sig is None:
                    process.terminate()
                else:
                    process.send_signal(sig)
                process.wait(timeout=30)


def start_server(data_dir: Path, *, port: int | None = None, key: str | None = None,
                 log_path: Path | None = None, env: dict[str, str] | None = None,
                 args: tuple[str, ...] = ()) -> Server:
    """`env`: variables set for the server process on top of this one's (METERED_...);
    `args`: more options of `metered serve`."""
    port = port or free_port()
    key = key or metered_cli("keys", "create", data_dir=data_dir)
    log_path = log_path or data_dir.parent / f"server-{port}.log"
    log = open(log_path, "ab")  # noqa: SIM115 - closed when the process ends
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    worker = None
    if distributed_mode.ENABLED:
        env.update(distributed_mode.store_env(data_dir))
        worker = distributed_mode.start_worker(data_dir, log_path.with_suffix(".worker.log"))
    process = subprocess.Popen(
        [sys.executable, "-m", "metered.cli.main", "serve", "--port", str(port),
         "--data-dir", str(data_dir), "--log-level", "warning", *args],
        stdout=log, stderr=log, env=env,
    )
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if worker is not None:
                worker.kill()
            raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                return Server(base_url, data_dir, key, process, log_path, worker)
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    if worker is not None:
        worker.kill()
    raise RuntimeError(f"server did not start: {log_path.read_text()[-2000:]}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Distributed mode skips the tests of the embedded store's own machinery."""
    if distributed_mode.ENABLED:
        skip = pytest.mark.skip(reason="embedded store only")
        for item in items:
            if item.get_closest_marker("embedded_only") is not None:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One live server for the session; tests isolate themselves with fresh accounts/meters."""
    data_dir = tmp_path_factory.mktemp("metered") / "data"
    srv = start_server(data_dir)
    yield srv
    srv.stop()


@pytest.fixture
def account(server: Server) -> Iterator[httpx.Client]:
    """An HTTP client authenticated as a brand-new account on the shared server."""
    with server.client(server.new_account_key()) as client:
        yield client
