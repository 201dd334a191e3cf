"""SDK benchmark: how many events/s one Python process pushes through `client.events.send`
(the background sender, batches of 1,000) into a local server, next to the server's own
ingest rate for batches of 1,000 measured in the same run by the load generator.

    .venv/bin/python bench/sdk.py                # 20 s phases
    .venv/bin/python bench/sdk.py --quick        # 5 s phases
    .venv/bin/python bench/sdk.py --rounds 3     # (a) and (b) three times: median ratio

The SDK must not be the bottleneck: target ratio >= 0.8. Phases (a) and (b) run against the
same `metered serve` on a fresh store; the SDK phase runs in its own process (as a user's
application would), sends for the phase's length, then flushes; every event it queued must
come back accepted, and the meter's total must equal the values it sent. On a shared machine
a slow moment can fall on either phase: rounds repeat them, each in turn first, and each
round's ratio is printed beside how busy the machine's cores were.

On one machine the SDK's process and the server share the cores, so each phase also reports
the CPU it cost per event: the server's (all its processes), the load generator's and the SDK
process's. From them, the rate each phase would reach if it kept every core busy ("if
CPU-bound"): where the server is CPU-bound, the SDK's CPU per event, several times the load
generator's, caps the ratio below 1. Phase (c) sends the same way to a server that only
acknowledges (counts the events of each batch, answers them all accepted, with an answer as
long as metered's), so the SDK's own ceiling is measured too.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import resource
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (  # noqa: E402
    KeepAliveClient,
    bench_session,
    cpu_ticks,
    free_port,
    machine,
    new_key,
    print_machine,
    print_table,
    register_child,
    save,
    start_metered,
    steal_share,
    stop_child,
)
from ingest import usage_total  # noqa: E402 - the same check as the ingest benchmark's
from ingest_workload import MODELS, TOKEN_TYPES, batch_workload  # noqa: E402
from loadgen import run_load  # noqa: E402

CUSTOMERS = 20
EVENT_NAME = "tokens"
ROW_CHUNKS = 4  # payload rows drawn beforehand, in chunks of 1,000


def payload_rows(customers: list[str]) -> list[list[tuple[str, int, str, str]]]:
    """Chunks of 1,000 (customer, value, model, token type), drawn once, as the load
    generator's templates are: drawing them costs about as much as queueing the event."""
    rng = random.Random(7)
    rows = [(rng.choice(customers), rng.randint(1, 4000), rng.choice(MODELS),
             rng.choice(TOKEN_TYPES)) for _ in range(ROW_CHUNKS * 1000)]
    return [rows[i : i + 1000] for i in range(0, len(rows), 1000)]


class NoSender:
    """`events.send` doing nothing: what the application's loop costs on its own."""

    def send(self, event_name: str, payload: dict[str, Any]) -> None:
        pass


def send_loop(events: Any, chunks: list[list[tuple[str, int, str, str]]],
              deadline: float) -> tuple[int, int]:
    """The application: `events.send` with a new payload dict per call, until `deadline`;
    returns the events sent and the sum of their values."""
    sums = [sum(row[1] for row in chunk) for chunk in chunks]
    sent = total = 0
    while time.perf_counter() < deadline:
        chunk = sent // 1000 % len(chunks)
        for customer, value, model, token_type in chunks[chunk]:
            events.send(EVENT_NAME, {"stripe_customer_id": customer, "value": value,
                                     "model": model, "token_type": token_type})
        sent += 1000
        total += sums[chunk]
    return sent, total


def sdk_phase(base_url: str, key: str, customers: list[str], seconds: float,
              workers: int | None, server_pid: int, out: mp.connection.Connection) -> None:
    """In a process of its own: send for `seconds`, flush, report, with the CPU this process
    and the server's used meanwhile; and the CPU the loop itself costs per event, measured
    with a `send` that does nothing."""
    from metered.client import Client

    chunks = payload_rows(customers)
    before = cpu_seconds()
    idle_sent, _ = send_loop(NoSender(), chunks, time.perf_counter() + 0.5)
    loop_us = (cpu_seconds() - before) / idle_sent * 1e6
    threads = {} if workers is None else {"sender_workers": workers}
    with Client(api_key=key, base_url=base_url, batch_size=1000, **threads) as client:
        client.events.send(EVENT_NAME, {"stripe_customer_id": customers[0], "value": 0})
        client.events.flush()  # the sender's threads and connections started
        ticks, server_before, before = cpu_ticks(), tree_cpu_seconds(server_pid), cpu_seconds()
        started = time.perf_counter()
        sent, total = send_loop(client.events, chunks, started + seconds)
        client.events.flush()
        elapsed = time.perf_counter() - started
        cpu, server_cpu, after = cpu_seconds() - before, tree_cpu_seconds(server_pid), cpu_ticks()
        sender = client.events.sender
        out.send({"sent": sent, "value": total, "seconds": elapsed, "cpu_s": cpu,
                  "server_cpu_s": server_cpu - server_before, "loop_us": loop_us,
                  "steal_share": steal_share(ticks, after),
                  "machine_busy": busy_cores(ticks, after),
                  "accepted": sender.accepted - 1, "duplicate": sender.duplicates,
                  "rejected": sender.rejected})
    out.close()


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_sdk(base_url: str, key: str, customers: list[str], seconds: float,
            workers: int | None, server_pid: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=sdk_phase,
                       args=(base_url, key, customers, seconds, workers, server_pid, child))
    proc.start()
    child.close()
    result: dict[str, Any] = parent.recv()
    proc.join(timeout=60)
    return result


# --- what the processes cost -----------------------------------------------------------------


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of process `pid` and of its live descendants (metered's parse workers run in
    processes of their own), all threads."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents.setdefault(int(f.read().rsplit(")", 1)[1].split()[1]),
                                       []).append(int(entry))
            except (OSError, IndexError):
                continue
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
        todo += parents.get(current, [])
    return total / os.sysconf("SC_CLK_TCK")


def busy_cores(before: list[int], after: list[int]) -> float | None:
    """How many cores were busy on average between two cpu_ticks(), whoever kept them busy
    (idle and iowait excluded)."""
    if len(before) < 5 or len(after) < 5:
        return None
    spent = [b - a for a, b in zip(before, after, strict=True)]
    total = sum(spent[:8])
    return (total - spent[3] - spent[4]) / max(total, 1) * (os.cpu_count() or 1)


# --- a server that only acknowledges ---------------------------------------------------------


class _Acknowledge(asyncio.Protocol):
    """Reads each request whole and answers all its events accepted (counted by their
    `"event_name"` keys), with per-event results as long as metered's."""

    answers: dict[int, bytes] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = bytearray()
        self.need = -1  # bytes of the request being read, head included; -1: head not read

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            if self.need < 0:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = bytes(buf[:end]).lower()
                at = head.find(b"content-length:") + 15
                line_end = head.find(b"\r\n", at)
                length = int(head[at : line_end if line_end >= 0 else len(head)])
                self.need = end + 4 + length
                self.body_at = end + 4
            if len(buf) < self.need:
                return
            events = bytes(buf[self.body_at : self.need]).count(b'"event_name"')
            del buf[: self.need]
            self.need = -1
            self.transport.write(self.answer(events))

    @classmethod
    def answer(cls, events: int) -> bytes:
        if events not in cls.answers:
            results = ",".join(f'{{"index":{i},"identifier":"{"x" * 29}-{i}",'
                               f'"status":"accepted"}}' for i in range(events))
            body = (f'{{"object":"metered.event_batch","accepted":{events},"duplicate":0,'
                    f'"rejected":0,"results":[{results}]}}').encode()
            cls.answers[events] = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                   b"content-length: %d\r\n\r\n" % len(body)) + body
        return cls.answers[events]


def acknowledge(port: int) -> None:
    """In a process of its own: the acknowledging server on 127.0.0.1:`port`, until stopped."""
    import uvloop

    async def serve() -> None:
        server = await asyncio.get_running_loop().create_server(_Acknowledge, "127.0.0.1", port)
        await server.serve_forever()

    uvloop.run(serve())


def start_acknowledging() -> tuple[mp.Process, int]:
    port = free_port()
    proc = mp.get_context("spawn").Process(target=acknowledge, args=(port,), daemon=True)
    proc.start()
    register_child(proc)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            KeepAliveClient(port).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the acknowledging server did not start")


# --- the run ---------------------------------------------------------------------------------


def run_reference(port: int, key: str, customers: list[str], seconds: float, prefix: str,
                  server_pid: int) -> dict[str, Any]:
    """(a): the load generator's batches of 1,000 on 8 connections, with what they cost."""
    before, server_before = cpu_ticks(), tree_cpu_seconds(server_pid)
    load = run_load(port, batch_workload(key, customers, 8, 1, (0.0, 0)), prefix=prefix,
                    connections=8, seconds=seconds, watch_pid=server_pid)
    server_cpu = tree_cpu_seconds(server_pid) - server_before
    after = cpu_ticks()
    if load.errors or load.rejected or load.duplicate:
        raise SystemExit(f"the reference load failed: {load.error_samples[:3]}")
    return {"events_per_s": load.rate() * 1000, "accepted_value": load.accepted_value,
            "server_us": server_cpu / (load.answered * 1000) * 1e6,
            "loadgen_us": load.client_cpu_s / (load.requests * 1000) * 1e6,
            "machine_busy": busy_cores(before, after), "steal_share": steal_share(before, after)}


def median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 s phases")
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--rounds", type=int, default=1, choices=range(1, 10),
                        help="(a) and (b), this many times, in turn first; the figures are"
                             " the medians")
    parser.add_argument("--workers", type=int, default=None,
                        help="the sender's threads (default: the client's, 8)")
    args = parser.parse_args()
    seconds = args.seconds or (5.0 if args.quick else 20.0)
    info = machine()
    print_machine(info)
    cores = os.cpu_count() or 1
    with bench_session("metered-sdk-") as work:
        data_dir = work / "data"
        key = new_key(data_dir)
        proc, port = start_metered(data_dir)
        client = KeepAliveClient(port, key)
        customers = [client.json("POST", "/v1/customers", {"name": f"c{i}"})["id"]
                     for i in range(CUSTOMERS)]
        meter = client.json("POST", "/v1/billing/meters", {
            "display_name": "Tokens", "event_name": EVENT_NAME,
            "default_aggregation[formula]": "sum",
            "dimension_payload_keys[0]": "model", "dimension_payload_keys[1]": "token_type",
        })["id"]
        client.close()
        start = int(time.time()) - 120

        rounds: list[dict[str, Any]] = []
        for n in range(args.rounds):
            # The store grows all along: (b) goes first in every other round, so neither
            # phase always meets the larger store.
            order = "(a), (b)" if n % 2 == 0 else "(b), (a)"
            print(f"round {n + 1}, {order}: (a) the server's own rate, batches of 1,000 from"
                  f" the load generator; (b) one Python process through client.events.send;"
                  f" {seconds:.0f} s each")
            if n % 2:
                sdk = run_sdk(f"http://127.0.0.1:{port}", key, customers, seconds,
                              args.workers, proc.pid)
            ref = run_reference(port, key, customers, seconds, "rstuvwxyz"[n], proc.pid)
            if n % 2 == 0:
                sdk = run_sdk(f"http://127.0.0.1:{port}", key, customers, seconds,
                              args.workers, proc.pid)
            if sdk["accepted"] != sdk["sent"]:
                raise SystemExit(f"the SDK's events were not all accepted: {sdk}")
            sdk["events_per_s"] = sdk["accepted"] / sdk["seconds"]
            sdk["sdk_us"] = sdk["cpu_s"] / sdk["accepted"] * 1e6
            sdk["server_us"] = sdk["server_cpu_s"] / sdk["accepted"] * 1e6
            rounds.append({"a": ref, "b": sdk, "ratio": sdk["events_per_s"] /
                           ref["events_per_s"]})
        total = usage_total(port, key, meter, start)
        expected = sum(r["a"]["accepted_value"] + r["b"]["value"] for r in rounds)

        print(f"(c) the same as (b), to a server that only acknowledges, {seconds:.0f} s")
        ack_proc, ack_port = start_acknowledging()
        ack = run_sdk(f"http://127.0.0.1:{ack_port}", key, customers, seconds, args.workers,
                      ack_proc.pid or 0)
        stop_child(ack_proc)
        ack["events_per_s"] = ack["accepted"] / ack["seconds"]
        ack["sdk_us"] = ack["cpu_s"] / ack["accepted"] * 1e6

        def mid(phase: str, name: str) -> float:
            return median([r[phase][name] or 0.0 for r in rounds])

        server_rate, sdk_rate = mid("a", "events_per_s"), mid("b", "events_per_s")
        ratio = median([r["ratio"] for r in rounds])
        sdk_us, server_us = mid("b", "sdk_us"), mid("b", "server_us")
        # Every core busy with the phase's own processes, none idle and nothing else running:
        # the most each phase could reach on this machine at the CPU it cost per event.
        bound_a = cores / ((mid("a", "server_us") + mid("a", "loadgen_us")) / 1e6)
        bound = cores / ((sdk_us + server_us) / 1e6)
        sent = sum(r["b"]["sent"] for r in rounds)
        rows = [(f"round {n + 1}: a, b, ratio",
                 f"{r['a']['events_per_s']:>9,.0f} {r['b']['events_per_s']:>9,.0f}"
                 f"  {r['ratio']:.3f}   cores busy in all: a {r['a']['machine_busy'] or 0:.2f},"
                 f" b {r['b']['machine_busy'] or 0:.2f} (SDK + server"
                 f" {(r['b']['cpu_s'] + r['b']['server_cpu_s']) / r['b']['seconds']:.2f});"
                 f" steal {r['b']['steal_share'] or 0:.0%}")
                for n, r in enumerate(rounds)] if args.rounds > 1 else []
        rows += [
            ("(a) server: batches of 1,000, 8 connections",
             f"{server_rate:,.0f} events/s (server {mid('a', 'server_us'):.2f} us CPU/event,"
             f" load generator {mid('a', 'loadgen_us'):.2f}; {mid('a', 'machine_busy'):.2f}"
             f" of {cores} cores busy in all; steal {mid('a', 'steal_share'):.0%})"),
            ("(b) SDK: one process, events.send + flush",
             f"{sdk_rate:,.0f} events/s (all {sent:,} events accepted;"
             f" {mid('b', 'machine_busy'):.2f} of {cores} cores busy in all; steal"
             f" {mid('b', 'steal_share'):.0%})"),
            ("    CPU per event", f"SDK process {sdk_us:.2f} us (the loop calling send:"
             f" {mid('b', 'loop_us'):.2f} us of it) + server {server_us:.2f} us"),
            ("    ratio b / a" + (" (median)" if args.rounds > 1 else ""),
             f"{ratio:.3f}   target >= 0.8"),
            ("    if CPU-bound", f"(a) {bound_a:,.0f}, (b) {bound:,.0f} events/s on {cores}"
             f" cores at these costs per event: ratio {bound / bound_a:.3f}"),
            ("(c) SDK alone, acknowledging server",
             f"{ack['events_per_s']:,.0f} events/s (SDK process {ack['sdk_us']:.2f} us"
             f" CPU/event) = {ack['events_per_s'] / server_rate:.2f} x (a)"),
            ("exactly-once", f"usage {total:,} vs sent {expected:,}: "
             f"{'equal' if total == expected else 'DIFFERENT'}"),
        ]
        print_table(rows)
        path = save("sdk", {"machine": info, "seconds": seconds, "rounds": rounds,
                            "server_events_per_s": server_rate, "sdk_events_per_s": sdk_rate,
                            "ratio": ratio, "sdk_us_per_event": sdk_us,
                            "server_us_per_event_b": server_us, "bound_events_per_s_a":
                            bound_a, "bound_events_per_s": bound,
                            "ack": ack, "usage_total": total, "expected": expected})
        print(f"results: {path}")
        if total != expected or ack["accepted"] != ack["sent"]:
            raise SystemExit("exactly-once check failed")


if __name__ == "__main__":
    main()
