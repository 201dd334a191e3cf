"""Backpressure: ingest past its memory budget is refused (429, or 503 when the store takes no
writes), with Retry-After, before its body is read; memory stays within the budget; reads go
on; everything acknowledged is counted and nothing refused is.

The live test floods a server with a small budget from several processes while a second
SQLite connection holds the store's write lock (the writer then commits nothing: a real stall,
not a mock), then without it, faster than the server commits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import multiprocessing
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from metered.api.admission import (
    BODY_FACTOR,
    QUEUE_FLOOR_BYTES,
    REQUEST_BYTES,
    STALLED_SECONDS,
    IngestAdmission,
    IngestUnavailableError,
)
from metered.errors import PayloadTooLargeError, RateLimitError

from conftest import Server, start_server

MB = 1 << 20

# --- the admission object alone ----------------------------------------------------------------


@dataclass
class Load:
    """A writer's load as admission reads it (ingest.writer.GroupCommitWriter)."""

    open: bool = True
    queued: int = 0
    rate: float = 0.0
    busy: float = 0.0

    def accepting(self) -> bool:
        return self.open

    def backlog(self) -> int:
        return self.queued

    def busy_for(self, now: float) -> float:
        return self.busy

    def drain_rate(self) -> float:
        return self.rate


def test_budget_admits_until_full_then_refuses_with_retry_after() -> None:
    load = Load(queued=50_000, rate=20_000.0)
    admission = IngestAdmission(10 * MB, load)
    body = 200_000  # a 1,000-event batch
    charges = []
    while admission.in_flight + REQUEST_BYTES + BODY_FACTOR * body <= 10 * MB:
        charges.append(admission.admit(body))
    assert admission.requests == len(charges) == 8
    with pytest.raises(RateLimitError) as refused:
        admission.admit(body)
    error = refused.value
    assert (error.status, error.type, error.code) == (429, "rate_limit_error",
                                                      "ingest_backpressure")
    assert error.retry_after == pytest.approx(2.5)  # the backlog over the drain rate
    assert admission.refused["budget"] == 1 and admission.requests == 8
    admission.release(charges.pop())
    charges.append(admission.admit(body))  # room again
    load.queued = 10
    with pytest.raises(RateLimitError) as refused:
        admission.admit(body)
    assert refused.value.retry_after == 1.0  # at least a second (Retry-After is whole seconds)
    for charge in charges:
        admission.release(charge)
    assert admission.peak <= 10 * MB and admission.in_flight == 0


def test_more_than_a_second_of_work_in_flight_is_refused() -> None:
    now = [0.0]
    admission = IngestAdmission(512 * MB, Load(), clock=lambda: now[0])
    body = 1_000_000  # ~6 MB reserved each
    charges = [admission.admit(body) for _ in range(10)]
    now[0] = 1.0
    for _ in range(5):  # half of it answered in the first second
        admission.release(charges.pop())
    rate = admission.answered_rate(now[0])
    assert rate == pytest.approx(5 * charges[0])
    # Up to the floor, whatever the rate ...
    while admission.in_flight <= QUEUE_FLOOR_BYTES:
        charges.append(admission.admit(body))
    # ... then no more than a second of work at the rate things are answered.
    with pytest.raises(RateLimitError) as refused:
        admission.admit(body)
    assert refused.value.code == "ingest_backpressure"
    assert refused.value.retry_after == pytest.approx(admission.in_flight / rate)
    assert refused.value.retry_after > 2 and admission.refused["queue"] == 1
    now[0] = 2.0
    for charge in charges:
        admission.release(charge)
    assert admission.in_flight == 0 and admission.queue_seconds() == 0.0
    admission.release(admission.admit(body))


def test_no_writes_taken_is_503_with_retry_after() -> None:
    load = Load(open=False)
    admission = IngestAdmission(10 * MB, load)
    with pytest.raises(IngestUnavailableError) as refused:
        admission.admit(100)
    assert (refused.value.status, refused.value.type, refused.value.code) == (
        503, "api_error", "ingest_unavailable")
    assert refused.value.retry_after >= 1
    load.open, load.busy = True, STALLED_SECONDS + 0.1  # one group commit stuck that long
    with pytest.raises(IngestUnavailableError):
        admission.admit(100)
    load.busy = 0.2
    admission.release(admission.admit(100))
    assert admission.refused["unavailable"] == 2 and admission.in_flight == 0


def test_a_request_larger_than_the_budget_is_413() -> None:
    admission = IngestAdmission(16 * MB, Load())
    with pytest.raises(PayloadTooLargeError) as refused:
        admission.admit(8 * MB)
    assert refused.value.code == "request_too_large" and admission.refused["too_large"] == 1


def test_bodies_without_content_length_are_charged_as_they_come() -> None:
    admission = IngestAdmission(4 * MB, Load())
    chunks = [b"x" * 100_000] * 5

    async def read_all(length: str | None) -> tuple[int, int]:
        reservation = admission.reserve_body(length, 1 << 20)
        pending = list(chunks)

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": pending.pop(), "more_body": bool(pending)}

        receive_counted = reservation.receive(receive)
        try:
            while True:
                message = await receive_counted()
                if not message["more_body"]:
                    return reservation.charge, admission.in_flight
        finally:
            reservation.release()

    charge, in_flight = asyncio.run(read_all(None))
    assert charge == in_flight == REQUEST_BYTES + BODY_FACTOR * 500_000
    assert asyncio.run(read_all("500000"))[0] == charge  # the same, paid for up front
    assert admission.in_flight == 0
    chunks = [b"x" * 200_000] * 5  # 1 MB: over the budget half-way through the body
    with pytest.raises(PayloadTooLargeError):
        asyncio.run(read_all(None))
    assert admission.in_flight == 0 and admission.requests == 0


# --- a live server past its limits -------------------------------------------------------------

BUDGET_MB = 16
BATCH = 2000
WARM_BATCHES = 60
FLOOD_PROCESSES = 3
CONNECTIONS = 32  # per process: 96 batches at once; the budget holds 9
# While the store is locked nothing is committed, so the server's RSS may grow past what it
# held after the warm-up by the work in flight only: the budget, plus what the HTTP server
# reads ahead on each connection before the app sees the request (64 KiB of body and one read
# of up to 256 KiB; a refused body is then read and dropped), plus the allocator's slack.
# Measured: +34 MB with the budget, +78 MB without one (--memory-budget 20000).
CONNECTION_READ_AHEAD_MB = 0.3125
STALL_ALLOWANCE_MB = 8 + FLOOD_PROCESSES * CONNECTIONS * CONNECTION_READ_AHEAD_MB
# Once the store takes writes again, SQLite's page cache (bounded by its own setting, 512 MB)
# keeps pages the flood wrote (at most the store's growth, added to the limit) and the writer
# has a group of the backlog to commit (up to ~18,000 events here).
ALLOWANCE_MB = STALL_ALLOWANCE_MB + 24
TAG = b"~~~~~~~~~~~~"


def batch_body(customer: str) -> bytes:
    """BATCH events whose identifiers hold TAG; event j has the value j % 9 + 1."""
    return json.dumps([
        {"event_name": "flood", "identifier": f"{TAG.decode()}-{j}",
         "payload": {"stripe_customer_id": customer, "value": str(j % 9 + 1)}}
        for j in range(BATCH)], separators=(",", ":")).encode()


BATCH_VALUE = sum(j % 9 + 1 for j in range(BATCH))


@dataclass
class Answer:
    tag: str
    status: int
    retry_after: str | None
    code: str | None
    accepted_value: int
    sent_at: float


async def _flood_connection(port: int, key: str, body: bytes, prefix: str, until: float,
                            out: list[Answer]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = ("POST /v1/metered/events/batch HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    k = 0
    try:
        while time.time() < until:
            tag = f"{prefix}{k:09d}"  # as wide as TAG: Content-Length stays right
            k += 1
            sent = time.time()
            writer.write(head + body.replace(TAG, tag.encode()))
            status_line = await reader.readuntil(b"\r\n\r\n")
            headers = dict(line.split(": ", 1) for line in
                           status_line.decode().split("\r\n")[1:] if ": " in line)
            headers = {name.lower(): value for name, value in headers.items()}
            answer = json.loads(await reader.readexactly(int(headers["content-length"])))
            status = int(status_line[9:12])
            value = 0
            if status == 200:
                value = sum(j % 9 + 1 for j, result in enumerate(answer["results"])
                            if result["status"] == "accepted")
            code = answer["error"].get("code") if "error" in answer else None
            out.append(Answer(tag, status, headers.get("retry-after"), code, value, sent))
            if status != 200:
                await asyncio.sleep(0.02)  # a flood: far sooner than Retry-After asks
    finally:
        writer.close()


def flood(port: int, key: str, customer: str, worker: int, start: float, seconds: float
          ) -> list[Answer]:
    """One client process: CONNECTIONS keep-alive connections sending batches back to back,
    from `start` (time.time()) for `seconds`."""
    body = batch_body(customer)
    out: list[Answer] = []
    time.sleep(max(0.0, start - time.time()))
    until = start + seconds

    async def run() -> None:
        await asyncio.gather(*(_flood_connection(port, key, body, f"{worker}{c:02d}", until,
                                                 out) for c in range(CONNECTIONS)))

    asyncio.run(run())
    return out


@dataclass
class Watch:
    """The server's RSS and a reader's answers, sampled while the flood runs."""

    rss: list[tuple[float, float]] = field(default_factory=list)  # at, MB
    reads: list[tuple[float, int, float]] = field(default_factory=list)  # at, status, seconds
    stop: threading.Event = field(default_factory=threading.Event)


def sample_rss(process: psutil.Process, watch: Watch) -> None:
    while not watch.stop.is_set():
        watch.rss.append((time.time(), process.memory_info().rss / MB))
        time.sleep(0.02)


def keep_reading(server: Server, meter: str, customer: str, watch: Watch) -> None:
    with server.client() as client:
        while not watch.stop.is_set():
            started = time.monotonic()
            response = client.get(f"/v1/billing/meters/{meter}/event_summaries",
                                  params=summary_window(customer))
            watch.reads.append((time.time(), response.status_code, time.monotonic() - started))
            time.sleep(0.1)


def summary_window(customer: str) -> dict[str, Any]:
    now = int(time.time())
    return {"customer": customer, "start_time": (now - 3600) // 60 * 60,
            "end_time": (now + 3600) // 60 * 60}


def total(server: Server, meter: str, customer: str) -> Decimal:
    with server.client() as client:
        data = client.get(f"/v1/billing/meters/{meter}/event_summaries",
                          params=summary_window(customer)).json()["data"]
    return sum((Decimal(str(row["aggregated_value"])) for row in data), Decimal(0))


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def metrics(server: Server) -> dict[str, float]:
    values = {}
    for line in httpx.get(f"{server.base_url}/metrics").text.splitlines():
        if line.startswith("metered_ingest") or line.startswith("metered_write_backlog"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def hold_write_lock(db: Path, at: float, seconds: float, held: list[float]) -> None:
    """Take the store's write lock from a second connection, as another process could."""
    time.sleep(max(0.0, at - time.time()))
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN IMMEDIATE")
        held.append(time.time())
        time.sleep(seconds)
        held.append(time.time())
        conn.execute("COMMIT")
    finally:
        conn.close()


def send_single(port: int, key: str, customer: str, at: float, out: list[bytes]) -> None:
    """One v1 meter event at `at`, in one write (the fast path, api.fast_events, takes it)."""
    time.sleep(max(0.0, at - time.time()))
    body = (f"event_name=flood&identifier=single-{at}&payload%5Bstripe_customer_id%5D="
            f"{customer}&payload%5Bvalue%5D=1").encode()
    request = (f"POST /v1/billing/meter_events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               f"Authorization: Bearer {key}\r\nContent-Type: application/x-www-form-urlencoded"
               f"\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
    out.append(answer)


@dataclass
class Flood:
    answers: list[Answer]
    watch: Watch
    held: list[float]  # when the lock was taken and given back
    baseline_mb: float  # the server's RSS after the warm-up, before the flood
    peak_mb: float  # its peak RSS (VmHWM) after the flood
    store_growth_mb: float
    single: list[bytes]  # the answer to a single event sent while the store was stalled

    def of(self, status: int) -> list[Answer]:
        return [a for a in self.answers if a.status == status]


def set_up(server: Server) -> tuple[str, str, bytes]:
    """A customer, a meter and the batch body; 60 batches of warm-up (caches, the dedupe
    filter's pages, code paths), so that the RSS measured next is the server's at work."""
    with server.client() as client:
        customer = client.post("/v1/customers", data={"name": "flood"}).json()["id"]
        meter = client.post("/v1/billing/meters", data={
            "display_name": "flood", "event_name": "flood",
            "default_aggregation[formula]": "sum"}).json()["id"]
        body = batch_body(customer)
        for k in range(WARM_BATCHES):
            warm = client.post("/v1/metered/events/batch", content=body.replace(
                TAG, f"warm{k:08d}".encode()), headers={"content-type": "application/json"})
            assert warm.json()["accepted"] == BATCH
    time.sleep(1.0)
    return customer, meter, body


def run_flood(server: Server, customer: str, meter: str) -> Flood:
    """The store locked from just before the flood (at `start`, once its processes are up)
    for STALLED_SECONDS + 1.5 s; the flood goes on for 3.5 s after that. Reads and the RSS
    are sampled meanwhile."""
    store = server.data_dir / "metered.sqlite3"
    process = psutil.Process(server.process.pid)
    baseline = process.memory_info().rss / MB
    store_before = sum(p.stat().st_size for p in server.data_dir.glob("metered.sqlite3*"))
    watch, held, single, start = Watch(), [], [], time.time() + 4.0
    port = int(server.base_url.rsplit(":", 1)[1])
    threads = [threading.Thread(target=sample_rss, args=(process, watch)),
               threading.Thread(target=keep_reading, args=(server, meter, customer, watch)),
               threading.Thread(target=hold_write_lock, args=(
                   store, start - 0.3, STALLED_SECONDS + 1.5, held)),
               threading.Thread(target=send_single, args=(
                   port, server.key, customer, start + STALLED_SECONDS + 0.6, single))]
    for thread in threads:
        thread.start()
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(FLOOD_PROCESSES, mp_context=context) as pool:
        floods = [pool.submit(flood, port, server.key, customer, w, start, 10.0)
                  for w in range(FLOOD_PROCESSES)]
        answers = [a for f in floods for a in f.result(timeout=120)]
    watch.stop.set()
    for thread in threads:
        thread.join(timeout=60)
    grown = sum(p.stat().st_size for p in server.data_dir.glob("metered.sqlite3*")) - store_before
    return Flood(answers, watch, held, baseline, peak_rss_mb(server.process.pid), grown / MB,
                 single)


def check_memory(f: Flood) -> None:
    """Within the budget over what the server held after the warm-up (see the allowances)."""
    stalled = max(rss for at, rss in f.watch.rss if f.held[0] <= at <= f.held[1])
    stall_limit = f.baseline_mb + BUDGET_MB + STALL_ALLOWANCE_MB
    limit = f.baseline_mb + BUDGET_MB + ALLOWANCE_MB + f.store_growth_mb
    print(f"RSS after the warm-up {f.baseline_mb:.0f} MB; while the store was locked at most"
          f" {stalled:.0f} MB (limit {stall_limit:.0f}); peak {f.peak_mb:.0f} MB (limit"
          f" {limit:.0f}: the store grew {f.store_growth_mb:.0f} MB); answers:"
          f" {len(f.of(200))} accepted, {len(f.of(429))} 429, {len(f.of(503))} 503")
    assert stalled <= stall_limit
    assert max(rss for _, rss in f.watch.rss) <= limit and f.peak_mb <= limit


@pytest.mark.slow
@pytest.mark.embedded_only  # stalls the writer with SQLite's write lock
def test_a_flood_past_the_budget(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", args=("--memory-budget", str(BUDGET_MB)))
    try:
        customer, meter, body = set_up(server)
        f = run_flood(server, customer, meter)
        check_memory(f)

        assert {a.status for a in f.answers} <= {200, 429, 503}
        backpressure, unavailable, accepted = f.of(429), f.of(503), f.of(200)
        assert backpressure and all(a.code == "ingest_backpressure" and int(a.retry_after or 0)
                                    >= 1 for a in backpressure)
        # Refused while the lock was held past STALLED_SECONDS (until the stalled commit ends,
        # a moment after the lock is given back): 503, with Retry-After too.
        assert unavailable and all(a.code == "ingest_unavailable" and int(a.retry_after or 0)
                                   >= 1 for a in unavailable)
        sent = [a.sent_at - f.held[0] for a in unavailable]
        assert min(sent) >= STALLED_SECONDS - 0.5 and max(sent) <= f.held[1] - f.held[0] + 1.0, (
            min(sent), max(sent), f.held[1] - f.held[0])
        assert len(accepted) > 20
        # The single-event fast path is refused the same way.
        head = f.single[0].split(b"\r\n\r\n")[0].lower()
        assert head.startswith(b"http/1.1 503") and b"\r\nretry-after: " in head
        assert b'"ingest_unavailable"' in f.single[0]

        # Reads answered all along, the stall included.
        reads = f.watch.reads
        assert len([r for r in reads if f.held[0] <= r[0] <= f.held[1]]) >= 10
        assert all(status == 200 for _, status, _ in reads)
        assert max(seconds for _, _, seconds in reads) < 2.0

        used = metrics(server)
        assert used["metered_ingest_in_flight_bytes"] == 0
        assert used["metered_ingest_in_flight_peak_bytes"] <= BUDGET_MB * MB
        assert used['metered_ingest_refused_total{reason="budget"}'] + used[
            'metered_ingest_refused_total{reason="queue"}'] == len(backpressure)

        # Exactly what was acknowledged is counted...
        acknowledged = WARM_BATCHES * BATCH_VALUE + sum(a.accepted_value for a in accepted)
        assert total(server, meter, customer) == acknowledged
        # ... and a refused batch stored nothing: sent again, every event is accepted.
        with server.client() as client:
            for refused in (backpressure + unavailable)[:10]:
                again = client.post("/v1/metered/events/batch", content=body.replace(
                    TAG, refused.tag.encode()), headers={"content-type": "application/json"})
                assert again.status_code == 200 and again.json()["accepted"] == BATCH
                acknowledged += BATCH_VALUE
        assert total(server, meter, customer) == acknowledged
    finally:
        server.stop()
