"""What both benchmarks share: servers on free loopback ports, clean-up, the machine, results.

Every process a benchmark starts is registered here and stopped on exit, on Ctrl-C and on
SIGTERM. Servers run in their own session, so a Ctrl-C reaches only the benchmark, which then
stops them in order.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
HOST = "127.0.0.1"

_children: list[Any] = []  # subprocess.Popen or multiprocessing.Process, stopped on exit


# --- the machine and the results -----------------------------------------------------------


def machine() -> dict[str, Any]:
    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
        return out.stdout.strip()

    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else ""),
        "loadavg_at_start": list(os.getloadavg()),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
    }


def print_machine(info: dict[str, Any]) -> None:
    load = ", ".join(f"{x:.2f}" for x in info["loadavg_at_start"])
    print(f"machine: nproc {info['nproc']}, Python {info['python']}, {info['platform']}")
    print(f"commit:  {info['commit']}   load average at start: {load}   {info['date']}")


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def print_table(rows: list[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    rule = "-" * min(110, width + 2 + max(len(value) for _, value in rows))
    print(rule)
    for label, value in rows:
        print(f"{label:<{width}}  {value}")
    print(rule)


def cpu_ticks() -> list[int]:
    """The machine's CPU time counters (/proc/stat's first line; empty where there is none)."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return []


def steal_share(before: list[int], after: list[int]) -> float | None:
    """The share of CPU time the hypervisor gave to other guests between two cpu_ticks(): on a
    shared virtual machine it moves from run to run and stretches every latency with it."""
    if len(before) < 8 or len(after) < 8:
        return None
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / max(sum(spent[:8]), 1)


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * q + 0.5) - 1))]


# --- processes -----------------------------------------------------------------------------


def register_child(child: Any) -> None:
    _children.append(child)


def stop_child(child: Any, timeout: float = 60) -> None:
    """Stop one process we started: SIGTERM, then SIGKILL after `timeout` seconds."""
    if isinstance(child, subprocess.Popen):
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    elif child.is_alive():
        child.terminate()
        child.join(timeout)
        if child.is_alive():
            child.kill()
            child.join()
    with contextlib.suppress(ValueError):
        _children.remove(child)


def _on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def bench_session(prefix: str) -> Iterator[Path]:
    """A temporary folder, and the promise that every registered child is stopped on exit."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    except KeyboardInterrupt:
        print("\ninterrupted: stopping servers and load generators, removing temp files",
              file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        for child in reversed(list(_children)):
            with contextlib.suppress(Exception):
                stop_child(child, timeout=15)
        shutil.rmtree(work, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_ready(port: int, proc: subprocess.Popen[bytes], path: str = "/healthz",
               timeout: float = 900) -> None:
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=2) as sock:
                sock.sendall(request)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not become ready in {timeout:.0f}s")


def _metered_command() -> list[str]:
    script = Path(sys.executable).with_name("metered")
    return [str(script)] if script.exists() else [sys.executable, "-m", "metered.cli.main"]


def start_metered(data_dir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """`metered serve` on a free port; returns once /healthz answers."""
    port = free_port()
    proc = subprocess.Popen(
        [*_metered_command(), "serve", "--data-dir", str(data_dir), "--host", HOST,
         "--port", str(port), "--log-level", "warning"],
        start_new_session=True,
    )
    register_child(proc)
    wait_ready(port, proc)
    return proc, port


def start_ceiling() -> tuple[subprocess.Popen[bytes], int]:
    """The reference app on the same stack as `metered serve`: uvicorn, uvloop, httptools,
    with the same options (no proxy-headers middleware, no server header of uvicorn's)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "ceiling_app:app", "--host", HOST, "--port", str(port),
         "--loop", "uvloop", "--http", "httptools", "--log-level", "warning",
         "--no-access-log", "--backlog", "4096", "--no-server-header", "--no-proxy-headers"],
        cwd=BENCH, start_new_session=True,
    )
    register_child(proc)
    wait_ready(port, proc)
    return proc, port


def new_key(data_dir: Path) -> str:
    out = subprocess.run([*_metered_command(), "keys", "create", "--data-dir", str(data_dir)],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


# --- what a process costs ------------------------------------------------------------------


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """Resident memory (VmRSS), or its peak (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def store_bytes(data_dir: Path) -> int:
    """The SQLite database with its WAL and shared-memory files."""
    return sum(p.stat().st_size for p in data_dir.glob("metered.sqlite3*") if p.is_file())


def wal_bytes(data_dir: Path) -> int:
    """The size of the store's write-ahead log file (0 if there is none)."""
    wal = data_dir / "metered.sqlite3-wal"
    return wal.stat().st_size if wal.exists() else 0


# --- a blocking keep-alive client, for set-up, checks and sequential latency -----------------


class KeepAliveClient:
    """One HTTP/1.1 keep-alive connection; pre-encoded requests; Content-Length answers only."""

    def __init__(self, port: int, auth: str | None = None):
        self.port = port
        self.auth = auth
        self.sock = socket.create_connection((HOST, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def close(self) -> None:
        self.sock.close()

    def encode(self, method: str, path: str, body: bytes = b"",
               content_type: str | None = None) -> bytes:
        head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}"]
        if content_type:
            head.append(f"Content-Type: {content_type}")
        if body or method == "POST":
            head.append(f"Content-Length: {len(body)}")
        if self.auth:
            head.append(f"Authorization: Bearer {self.auth}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + body

    def exchange(self, request: bytes) -> tuple[int, bytes]:
        """Send one pre-encoded request, return (status, body)."""
        self.sock.sendall(request)
        buf = self.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            buf += self._recv()
        head = buf[:end].lower()
        at = head.find(b"\r\ncontent-length:")
        if at < 0:
            raise RuntimeError(f"answer without Content-Length: {head[:200]!r}")
        line_end = head.find(b"\r\n", at + 2)
        need = end + 4 + int(head[at + 17 : line_end if line_end > 0 else len(head)])
        while len(buf) < need:
            buf += self._recv()
        self.buf = buf[need:]
        return int(head[9:12]), buf[end + 4 : need]

    def _recv(self) -> bytes:
        data = self.sock.recv(1 << 20)
        if not data:
            raise ConnectionError("the server closed the connection")
        return data

    def json(self, method: str, path: str, form: dict[str, Any] | None = None) -> Any:
        """A request with a form body (POST) or a query string (GET); the decoded JSON answer."""
        from urllib.parse import urlencode

        encoded = urlencode(form or {}, doseq=True)
        if method == "GET":
            request = self.encode("GET", f"{path}?{encoded}" if encoded else path)
        else:
            request = self.encode(method, path, encoded.encode(),
                                  "application/x-www-form-urlencoded")
        status, body = self.exchange(request)
        if status != 200:
            raise RuntimeError(f"{method} {path} answered {status}: {body[:500]!r}")
        from decimal import Decimal

        return json.loads(body, parse_float=Decimal)


def fsync_latency(folder: Path, samples: int = 200) -> dict[str, float]:
    """p50/p99 (ms) of appending 64 KiB to a file and fsync'ing it, in `folder`: the disk's
    own floor under every durable acknowledgement (a WAL commit is an append plus an fsync)."""
    path = folder / "fsync-probe"
    block = os.urandom(64 * 1024)
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(samples):
            started = time.perf_counter()
            os.write(fd, block)
            os.fsync(fd)
            times.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    times.sort()
    return {"p50_ms": percentile(times, 0.5) * 1000, "p99_ms": percentile(times, 0.99) * 1000}
