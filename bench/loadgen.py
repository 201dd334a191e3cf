"""A lean HTTP/1.1 load generator: keep-alive connections sending pre-encoded requests.

It always runs in a process of its own (`run_load`), never in the server's interpreter. Each
connection is an asyncio Protocol on uvloop that parses only the status line, Content-Length
and, for batch answers, the `accepted`/`duplicate`/`rejected` counts.

Requests are built from a few pre-encoded templates. Every template holds the placeholder TAG
in each identifier; each request swaps in a fresh tag of the same width (one bytes.replace in
C), so every event sent in a run has a unique identifier and Content-Length never changes.

Closed loop: each connection sends its next request as soon as the answer arrives (maximum
rate). Open loop: requests are scheduled at a fixed rate, spread evenly over the connections,
and latency counts from the scheduled time, so a slow answer is not hidden by a late send
(no coordinated omission).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import re
import resource
import signal
import time
from array import array
from dataclasses import dataclass, field

import msgspec

TAG = b"~~~~~~~~~~~~"  # 12 bytes; replaced by a unique tag per request
_COUNT_RE = {name: re.compile(rb'"' + name.encode() + rb'":(\d+)')
             for name in ("accepted", "duplicate", "rejected")}


@dataclass
class Workload:
    """What to send: full HTTP requests (head and body) with TAG in every identifier."""

    templates: list[bytes]
    events_per_request: int  # 1 for single-event requests
    values: list[list[int]]  # per template, the value of each event, in order
    batch: bool  # answers carry per-event counts (else: 200 = accepted, as Stripe's v1)


@dataclass
class LoadResult:
    started: float = 0.0  # time.time() at the start of measurement
    seconds: float = 0.0  # measured window
    requests: int = 0  # answered inside the window (the rate counts these)
    answered: int = 0  # all answers, including those in flight at the end of the window
    events: int = 0  # events in answered requests
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    accepted_value: int = 0  # sum of the values of accepted events (the correctness check)
    errors: int = 0  # non-2xx answers other than reported duplicates, and broken connections
    error_samples: list[str] = field(default_factory=list)
    late_sends: int = 0  # open loop: sends more than 1 ms behind schedule
    latencies: array = field(default_factory=lambda: array("d"))  # seconds, answered in window
    # Batches: each of those answers' Server-Timing header (the server's stages), b"" if none.
    timings: list[bytes] = field(default_factory=list)
    done_at: array = field(default_factory=lambda: array("d"))  # when each of those answered
    client_cpu_s: float = 0.0  # this load generator's CPU time over the measured window
    server_cpu_s: float = 0.0  # the watched server's CPU time over the measured window
    server_write_bytes: int = 0  # bytes the watched server sent to storage over the window

    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def sorted_latencies(self) -> list[float]:
        return sorted(self.latencies)

    def interval_rates(self, step: float) -> list[float]:
        """Requests/s in each `step`-second slice of the window: is the rate sustained?"""
        slices = max(1, int(self.seconds // step))
        counts = [0] * slices
        for t in self.done_at:
            if 0 <= t < slices * step:
                counts[int(t // step)] += 1
        return [c / step for c in counts]


def _header(head: bytes, name: bytes) -> bytes:
    """A header's value in a lower-cased response head, b"" if absent."""
    at = head.find(b"\r\n" + name + b":")
    if at < 0:
        return b""
    end = head.find(b"\r\n", at + 2)
    return head[at + len(name) + 3 : end if end >= 0 else len(head)].strip()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: at most one request in flight."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.head_end = -1
        self.need = 0
        self.status = 0
        self.timing = b""  # the last answer's Server-Timing value
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.transport: asyncio.Transport | None = None
        self.lost: Exception | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment] # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionResetError("connection closed by the server")
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(self.lost)

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if self.head_end < 0:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buf[:end]).lower()
            self.status = int(head[9:12])
            at = head.find(b"\r\ncontent-length:")
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end > 0 else len(head)]) if at >= 0 else 0
            self.timing = _header(head, b"server-timing")
            self.head_end = end + 4
            self.need = end + 4 + length
        if len(buf) >= self.need:
            body = bytes(buf[self.head_end : self.need])
            del buf[: self.need]
            self.head_end = -1
            waiter, self.waiter = self.waiter, None
            if waiter is not None and not waiter.done():
                waiter.set_result((self.status, body))

    def request(self, data: bytes) -> asyncio.Future[tuple[int, bytes]]:
        if self.lost is not None:
            raise self.lost
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return self.waiter


def _tally(out: LoadResult, work: Workload, template: int, status: int, body: bytes) -> None:
    """Count one answer's outcome: accepted, duplicate, rejected, error, and accepted value."""
    n = work.events_per_request
    out.answered += 1
    out.events += n
    if work.batch:
        if status != 200:
            out.errors += 1
            if len(out.error_samples) < 5:
                out.error_samples.append(f"{status} {body[:300]!r}")
            return
        head = body[:400]
        counts = {}
        for name, pattern in _COUNT_RE.items():
            match = pattern.search(head)
            counts[name] = int(match.group(1)) if match else -1
        out.accepted += counts["accepted"]
        out.duplicate += counts["duplicate"]
        out.rejected += counts["rejected"]
        if counts["accepted"] == n:
            out.accepted_value += sum(work.values[template])
        elif counts["accepted"] > 0:  # a partial batch: read which events counted
            results = msgspec.json.decode(body)["results"]
            out.accepted_value += sum(work.values[template][r["index"]] for r in results
                                      if r["status"] == "accepted")
        if counts["rejected"] and len(out.error_samples) < 5:
            out.error_samples.append(f"rejected events: {body[:600]!r}")
        return
    if status == 200:
        out.accepted += 1
        out.accepted_value += work.values[template][0]
    elif status == 400 and b"duplicate_meter_event" in body:
        out.duplicate += 1
    else:
        out.errors += 1
        if len(out.error_samples) < 5:
            out.error_samples.append(f"{status} {body[:300]!r}")


async def _drive(port: int, work: Workload, prefix: bytes, index: int, connections: int,
                 started: float, deadline: float, interval: float | None,
                 out: LoadResult) -> None:
    loop = asyncio.get_running_loop()
    transport, conn = await loop.create_connection(_Connection, "127.0.0.1", port)
    await asyncio.sleep(max(0.0, started - time.perf_counter()))
    templates = work.templates
    k = index  # global request number: this connection sends k, k + n, k + 2n, ...
    perf = time.perf_counter
    try:
        while True:
            now = perf()
            if interval is not None:
                scheduled = started + k * interval
                if scheduled >= deadline:
                    break
                if scheduled > now:
                    await asyncio.sleep(scheduled - now)
                elif now - scheduled > 0.001:
                    out.late_sends += 1
            else:
                if now >= deadline:
                    break
                scheduled = now
            template = k % len(templates)
            tag = prefix + b"%011d" % k
            k += connections
            if conn.lost is not None:  # closed while idle (keep-alive timeout): reconnect
                transport, conn = await loop.create_connection(_Connection, "127.0.0.1", port)
            try:
                status, body = await conn.request(templates[template].replace(TAG, tag))
            except OSError as exc:
                out.errors += 1
                out.error_samples.append(f"connection: {exc!r}")
                return
            done = perf()
            _tally(out, work, template, status, body)
            if interval is not None or done <= deadline:
                # Open loop: every scheduled request counts, even one answered after the end.
                out.requests += 1
                out.latencies.append(done - scheduled)
                out.done_at.append(done - started)
                out.timings.append(conn.timing)
    finally:
        transport.close()


async def _run(port: int, work: Workload, prefix: bytes, connections: int, seconds: float,
               rate: float | None, watch_pid: int | None) -> LoadResult:
    out = LoadResult()
    loop = asyncio.get_running_loop()
    # Connect first, then start the clock: connection set-up is not part of the measurement.
    lead = 0.3
    started = time.perf_counter() + lead
    out.started = time.time() + lead
    marks: list[tuple[float, float, int]] = []

    def mark() -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu, written = _server_usage(watch_pid) if watch_pid else (0.0, 0)
        marks.append((usage.ru_utime + usage.ru_stime, cpu, written))

    loop.call_at(loop.time() + lead, mark)
    loop.call_at(loop.time() + lead + seconds, mark)
    await asyncio.gather(*(
        _drive(port, work, prefix, i, connections, started, started + seconds,
               1.0 / rate if rate else None, out)
        for i in range(connections)
    ))
    out.seconds = seconds
    if len(marks) == 2:
        out.client_cpu_s = marks[1][0] - marks[0][0]
        out.server_cpu_s = marks[1][1] - marks[0][1]
        out.server_write_bytes = marks[1][2] - marks[0][2]
    return out


def _server_usage(pid: int) -> tuple[float, int]:
    """CPU seconds (all threads) and bytes written to storage so far by process `pid`."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    written = 0
    try:
        with open(f"/proc/{pid}/io") as io:
            for line in io:
                if line.startswith("write_bytes:"):
                    written = int(line.split()[1])
    except OSError:  # /proc/<pid>/io may be unreadable: report 0
        pass
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), written


def _child(pipe: mp.connection.Connection, args: tuple[object, ...]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us on Ctrl-C
    import uvloop

    pipe.send(uvloop.run(_run(*args)))  # type: ignore[arg-type]
    pipe.close()


def run_load(port: int, work: Workload, *, prefix: str, connections: int, seconds: float,
             rate: float | None = None, watch_pid: int | None = None) -> LoadResult:
    """Drive the server on 127.0.0.1:`port` from a separate process for `seconds`.

    `prefix` (one character) makes this phase's identifiers unique in the run; `rate` in
    requests/s switches to the open loop; `watch_pid`'s CPU time over the window is reported.
    Returns once every request sent has been answered.
    """
    from harness import register_child, stop_child

    assert len(prefix) == 1
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, (port, work, prefix.encode(), connections,
                                                    seconds, rate, watch_pid)), daemon=True)
    proc.start()
    register_child(proc)
    child.close()
    try:
        result: LoadResult = parent.recv()
    except EOFError:
        raise RuntimeError(f"the load generator died (exit code {proc.exitcode})") from None
    finally:
        stop_child(proc)
    return result


def http_request(method: str, path: str, body: bytes = b"", *, auth: str | None = None,
                 content_type: str | None = None) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if content_type:
        head.append(f"Content-Type: {content_type}")
    if body or method == "POST":
        head.append(f"Content-Length: {len(body)}")
    if auth:
        head.append(f"Authorization: Bearer {auth}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def merge_results(parts: list[LoadResult]) -> LoadResult:
    """One result from several windows of the same load (e.g. before and after another test)."""
    out = LoadResult(started=parts[0].started)
    for part in parts:
        out.done_at.extend(t + out.seconds for t in part.done_at)  # windows laid end to end
        for name in ("seconds", "requests", "answered", "events", "accepted", "duplicate",
                     "rejected", "accepted_value", "errors", "late_sends", "client_cpu_s",
                     "server_cpu_s", "server_write_bytes"):
            setattr(out, name, getattr(out, name) + getattr(part, name))
        out.error_samples += part.error_samples
        out.latencies.extend(part.latencies)
        out.timings += part.timings
    return out
