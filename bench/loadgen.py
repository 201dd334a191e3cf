"""A small HTTP/1.1 load generator: keep-alive connections sending pre-encoded requests.

Runs in its own process (see `run_in_process`) so that it never shares an interpreter with the
server under test. Closed loop (as fast as answers come) or open loop (paced, for latency).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    seconds: float
    latencies: list[float]
    bodies: list[bytes]  # a sample of answer bodies (the last of each connection)
    errors: int

    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status_line = await reader.readuntil(b"\r\n")
    status = int(status_line.split(b" ", 2)[1])
    length = 0
    while True:
        line = await reader.readuntil(b"\r\n")
        if line == b"\r\n":
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, await reader.readexactly(length)


async def _connection(host: str, port: int, requests: list[bytes], start: int, step: int,
                      deadline: float, interval: float | None, out: LoadResult) -> None:
    reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
    i = start
    # Stagger the paced connections evenly over one interval, so requests arrive spread out
    # (a Poisson-like stream), not in bursts of one request per connection.
    next_send = time.perf_counter() + (interval or 0) * start / step
    body = b""
    try:
        while True:
            now = time.perf_counter()
            if now >= deadline:
                break
            if interval is not None:
                if next_send > now:
                    await asyncio.sleep(next_send - now)
                sent_at = next_send
                next_send += interval
            else:
                sent_at = now
            writer.write(requests[i % len(requests)])
            i += step
            status, body = await _read_response(reader)
            out.latencies.append(time.perf_counter() - sent_at)
            out.requests += 1
            if status != 200:
                out.errors += 1
    finally:
        out.bodies.append(body)
        writer.close()


async def _run(host: str, port: int, requests: list[bytes], connections: int, seconds: float,
               rate: float | None) -> LoadResult:
    result = LoadResult(0, 0.0, [], [], 0)
    interval = connections / rate if rate else None
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(
        _connection(host, port, requests, c, connections, deadline, interval, result)
        for c in range(connections)
    ))
    result.seconds = time.perf_counter() - started
    return result


def _child(conn: mp.connection.Connection, args: tuple[object, ...]) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    conn.send(asyncio.run(_run(*args)))  # type: ignore[arg-type]
    conn.close()


def run_in_process(host: str, port: int, requests: list[bytes], *, connections: int,
                   seconds: float, rate: float | None = None) -> LoadResult:
    """Drive the server from a separate process; `rate` (requests/s) paces it (open loop)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child, args=(child, (host, port, requests, connections,
                                                    seconds, rate)))
    proc.start()
    result: LoadResult = parent.recv()
    proc.join()
    return result


def http_request(method: str, path: str, body: bytes, *, auth: str | None,
                 content_type: str) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}"]
    if auth:
        head.append(f"Authorization: Bearer {auth}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
