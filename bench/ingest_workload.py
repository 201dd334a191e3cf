"""What the ingest benchmark sends, and the dedupe window it pre-fills before metered starts.

Workloads are pre-encoded HTTP requests with loadgen.TAG in every identifier (the load
generator makes each one unique); the window is written straight into the SQLite file, in
whichever layout the store uses for its seen-set.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path
from typing import Any

from harness import store_bytes
from loadgen import TAG, Workload, http_request

CUSTOMERS = 100
MODELS = [f"model-{i}" for i in range(8)]
TOKEN_TYPES = ["input", "output", "cached_input"]
BATCH = 1000
EVENT_NAME = "tokens"
WINDOW_SECONDS = 36 * 86_400  # how long a seen id is kept (35 days of lateness, plus a day)


# --- the dedupe window -----------------------------------------------------------------------


def prefill_window(data_dir: Path, ids: int) -> dict[str, Any]:
    """Put `ids` earlier events' ids in the dedupe set, straight into the SQLite file.

    Two layouts are supported, whichever the store has: a `seen_ids` table (random 16-byte
    keys, inserted in sorted order), or raw event segments carrying the key fingerprints
    (the seen-set is the event table itself and the server indexes it in memory at start-up).
    """
    from metered.store import open_database

    open_database(data_dir, cache_mb=16)  # creates the schema
    path = data_dir / "metered.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    empty = store_bytes(data_dir)
    started = time.perf_counter()
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "seen_ids" in tables:
        layout = "seen_ids table: random 16-byte keys in sorted order, seq 0, expires now+36d"
        _prefill_seen_ids(conn, ids)
    elif "event_segments" in tables:
        layout = ("raw event segments (the durable seen-set) with random fingerprints and "
                  "realistic identifiers and payloads, ingested 1 h ago, under no meter")
        _prefill_segments(conn, ids)
    else:
        raise RuntimeError("the store has neither seen_ids nor event_segments: update the bench")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    filled = store_bytes(data_dir)
    return {"ids": ids, "layout": layout, "seconds": time.perf_counter() - started,
            "store_bytes_empty": empty, "store_bytes_filled": filled,
            "bytes_per_million_ids": (filled - empty) / max(ids, 1) * 1e6}


def _prefill_seen_ids(conn: sqlite3.Connection, ids: int) -> None:
    import numpy as np

    rng = np.random.default_rng(7)
    # Sorted random high halves make the whole key sequence (nearly) sorted: appends only.
    high = np.sort(rng.integers(0, 2**63, size=ids, dtype=np.int64)).astype(">u8")
    expires = int(time.time()) + WINDOW_SECONDS
    step = 1_000_000
    for first in range(0, ids, step):
        n = min(step, ids - first)
        keys = np.empty(n, dtype=[("hi", ">u8"), ("lo", ">u8")])
        keys["hi"] = high[first : first + n]
        keys["lo"] = rng.integers(0, 2**63, size=n, dtype=np.int64).astype(">u8")
        raw = keys.tobytes()
        conn.execute("BEGIN")
        conn.executemany("INSERT OR IGNORE INTO seen_ids (key, seq, expires) VALUES (?, 0, ?)",
                         ((raw[i * 16 : i * 16 + 16], expires) for i in range(n)))
        conn.execute("COMMIT")


def _prefill_segments(conn: sqlite3.Connection, ids: int) -> None:
    """Raw event segments (the store's own format) of events ingested an hour ago."""
    import numpy as np

    from metered.ingest.segments import SegmentBuilder, max_seq
    from metered.metering.pending import write_watermark

    ingested_ms = int(time.time() * 1000) - 3_600_000
    payload = json.dumps({"stripe_customer_id": "cus_" + "x" * 24, "value": "1234",
                          "model": "model-7", "token_type": "cached_input"},
                         separators=(",", ":"))
    rng = np.random.default_rng(11)
    seq = max_seq(conn) + 1
    per_segment = 8_000  # what one group commit of eight 1,000-event batches writes
    end = seq + ids
    conn.execute("BEGIN")
    while seq < end:
        n = min(per_segment, end - seq)
        segment = SegmentBuilder(seq)
        segment.fps = rng.integers(-(2**63), 2**63 - 1, size=n, dtype=np.int64).tolist()
        segment.meter_pk = [0] * n
        segment.identifier = [f"{x:032x}" for x in rng.integers(0, 2**63, size=n).tolist()]
        segment.customer_pk = [0] * n
        segment.dims_pk = [0] * n
        segment.ts = [ingested_ms // 1000] * n
        segment.value = ["1234"] * n
        segment.payload = [payload] * n
        segment.write(conn, ingested_ms)
        seq += n
        write_watermark(conn, seq - 1)  # under no meter: nothing for start-up to add up
        if seq % 1_000_000 < per_segment:
            conn.execute("COMMIT")
            conn.execute("BEGIN")
    conn.execute("COMMIT")


# --- the workloads ---------------------------------------------------------------------------


def event_time(rng: random.Random, now: int, late: tuple[float, int]) -> int:
    """Live traffic is stamped within the last minute; a share arrives late, by up to hours."""
    share, seconds = late
    if rng.random() < share:
        return now - rng.randint(60, seconds)
    return now - rng.randint(0, 59)


def batch_workload(key: str, customers: list[str], templates: int, seed: int,
                   late: tuple[float, int]) -> Workload:
    """`templates` different 1,000-event batches; identifiers are TAG-<n>, unique per request."""
    now = int(time.time())
    rng = random.Random(seed)
    requests, values = [], []
    for _ in range(templates):
        events, batch_values = [], []
        for j in range(BATCH):
            value = rng.randint(1, 4000)
            batch_values.append(value)
            events.append({
                "event_name": EVENT_NAME,
                "identifier": f"{TAG.decode()}-{j:04d}",
                "timestamp": event_time(rng, now, late),
                "payload": {"stripe_customer_id": rng.choice(customers), "value": str(value),
                            "model": rng.choice(MODELS), "token_type": rng.choice(TOKEN_TYPES)},
            })
        body = json.dumps(events, separators=(",", ":")).encode()
        requests.append(http_request("POST", "/v1/metered/events/batch", body, auth=key,
                                     content_type="application/json"))
        values.append(batch_values)
    return Workload(requests, BATCH, values, batch=True)


def single_workload(key: str, customers: list[str], templates: int, seed: int,
                    late: tuple[float, int]) -> Workload:
    """Form-encoded v1 meter events, brackets percent-encoded as the stripe SDK sends them."""
    now = int(time.time())
    rng = random.Random(seed)
    requests, values = [], []
    for _ in range(templates):
        value = rng.randint(1, 4000)
        body = (f"event_name={EVENT_NAME}&identifier={TAG.decode()}"
                f"&timestamp={event_time(rng, now, late)}"
                f"&payload%5Bstripe_customer_id%5D={rng.choice(customers)}"
                f"&payload%5Bvalue%5D={value}&payload%5Bmodel%5D={rng.choice(MODELS)}"
                f"&payload%5Btoken_type%5D={rng.choice(TOKEN_TYPES)}").encode()
        requests.append(http_request("POST", "/v1/billing/meter_events", body, auth=key,
                                     content_type="application/x-www-form-urlencoded"))
        values.append([value])
    return Workload(requests, 1, values, batch=False)


def earliest_timestamp(work: Workload) -> int:
    earliest = None
    for request in work.templates:
        body = request.split(b"\r\n\r\n", 1)[1]
        if work.batch:
            stamps = [e["timestamp"] for e in json.loads(body)]
        else:
            stamps = [int(body.split(b"&timestamp=")[1].split(b"&")[0])]
        earliest = min(stamps) if earliest is None else min(earliest, *stamps)
    assert earliest is not None
    return earliest
