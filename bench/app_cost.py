"""What one single-event request costs metered's App itself, without uvicorn or sockets.

Calls the ASGI app in-process with pre-built scopes: 64 concurrent callers send single v1 meter
events (form-encoded as the stripe SDK sends them) to an App on a fresh store, writer thread and
group commit included. The reference, in the same run and the same way: `bench/ceiling_app.py`
answering the same requests (it parses and echoes the form). Prints the CPU per request of
each (all threads) and their difference: the budget metered's own work takes from the one core
an HTTP process has (docs/benchmarks.md, "What limits the figures").

    .venv/bin/python bench/app_cost.py [--requests N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ceiling_app  # noqa: E402
from harness import bench_session  # noqa: E402

from metered.accounts import create_key, default_account_pk  # noqa: E402
from metered.api.app import App  # noqa: E402
from metered.engine import Engine  # noqa: E402
from metered.ingest.writer import WriteRequest  # noqa: E402

CONCURRENCY = 64
AsgiApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


def _scope(path: str, auth: bytes, body: bytes) -> dict[str, Any]:
    return {"type": "http", "method": "POST", "path": path, "query_string": b"",
            "headers": [(b"host", b"x"), (b"authorization", auth),
                        (b"content-type", b"application/x-www-form-urlencoded"),
                        (b"content-length", str(len(body)).encode())]}


async def call(app: AsgiApp, path: str, auth: bytes, body: bytes) -> tuple[int, bytes]:
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop() if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(_scope(path, auth, body), receive, send)
    return sent[0]["status"], sent[1]["body"]


async def drive(app: AsgiApp, auth: bytes, bodies: list[bytes]) -> tuple[float, float]:
    """(requests/s, CPU µs per request) for `bodies`, CONCURRENCY callers at a time."""
    feed = iter(bodies)

    async def caller() -> None:
        for body in feed:
            status, answer = await call(app, "/v1/billing/meter_events", auth, body)
            if status != 200:
                raise RuntimeError(answer.decode()[:300])

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(bodies) / wall, cpu / len(bodies) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    with bench_session("metered-bench-app-") as work:
        engine = Engine.open(work / "data")
        engine.start()
        app = App(engine, manage_engine=False)  # no lifespan: the writer is all it needs
        key = loop.run_until_complete(engine.writer.submit(
            WriteRequest(run=lambda c: create_key(c, default_account_pk(c)))))
        auth = f"Bearer {key}".encode()
        customers = [json.loads(loop.run_until_complete(
            call(app, "/v1/customers", auth, b"name=c"))[1])["id"] for _ in range(100)]
        status, answer = loop.run_until_complete(call(
            app, "/v1/billing/meters", auth,
            b"display_name=T&event_name=tokens&default_aggregation[formula]=sum"
            b"&dimension_payload_keys[0]=model&dimension_payload_keys[1]=token_type"))
        assert status == 200, answer
        rng = random.Random(1)
        now = int(time.time())
        serial = iter(range(10**9))

        def bodies(n: int) -> list[bytes]:
            return [(f"event_name=tokens&identifier=s{next(serial):011d}"
                     f"&timestamp={now - rng.randint(0, 50)}"
                     f"&payload%5Bstripe_customer_id%5D={rng.choice(customers)}"
                     f"&payload%5Bvalue%5D={rng.randint(1, 4000)}"
                     f"&payload%5Bmodel%5D=gpt-{rng.randint(1, 8)}"
                     f"&payload%5Btoken_type%5D=input").encode() for _ in range(n)]

        loop.run_until_complete(drive(app, auth, bodies(2_000)))  # warm-up
        print(f"{args.requests:,} single v1 events per round, {CONCURRENCY} concurrent callers")
        for round_ in range(1, args.rounds + 1):
            ref_rate, ref_us = loop.run_until_complete(
                drive(ceiling_app.app, auth, bodies(args.requests)))
            rate, us = loop.run_until_complete(drive(app, auth, bodies(args.requests)))
            print(f"round {round_}: metered App {us:6.1f} µs CPU/request ({rate:,.0f}/s);"
                  f" reference app {ref_us:5.1f} µs ({ref_rate:,.0f}/s);"
                  f" metered's own work {us - ref_us:6.1f} µs")
        engine.stop()


if __name__ == "__main__":
    main()
