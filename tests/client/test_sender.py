"""The background event sender (`client.events.send`): batches by size and by time, flush
and close, retries that can never count twice, refusals reported, a bounded buffer."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from client.conftest import DROP_AFTER_FORWARD, FAIL_503, LOSE_ANSWER, FaultProxy
from client.test_retries import usage_of
from metered.client import BufferFullError, Client, EventSender, RejectedEvent

from conftest import Server


def test_ten_thousand_events_count_exactly(server: Server, account_key: str,
                                          setup: tuple[str, str]) -> None:
    customer, meter = setup
    with Client(api_key=account_key, base_url=server.base_url, batch_size=500) as client:
        ids = [client.events.send("tokens", {"stripe_customer_id": customer, "value": i % 7})
               for i in range(10_000)]
        client.events.flush()
        sender = client.events.sender
        assert (sender.accepted, sender.duplicates, sender.rejected) == (10_000, 0, 0)
    assert len(set(ids)) == 10_000
    assert usage_of(server, account_key, meter) == [Decimal(sum(i % 7 for i in range(10_000)))]


def test_a_small_batch_goes_out_after_the_interval(server: Server, account_key: str,
                                                   setup: tuple[str, str]) -> None:
    customer, meter = setup
    with Client(api_key=account_key, base_url=server.base_url, flush_interval=0.1) as client:
        client.events.send("tokens", {"stripe_customer_id": customer, "value": 5})
        deadline = time.monotonic() + 10
        while client.events.sender.accepted == 0 and time.monotonic() < deadline:
            time.sleep(0.02)  # no flush(): the interval alone sends it
        assert client.events.sender.accepted == 1
    assert usage_of(server, account_key, meter) == [Decimal(5)]


@pytest.mark.parametrize("fault", [FAIL_503, LOSE_ANSWER, DROP_AFTER_FORWARD])
def test_the_senders_own_retries_count_once(fault: str, server: Server, account_key: str,
                                            setup: tuple[str, str],
                                            fault_proxy: FaultProxy) -> None:
    """With no transport retries, the sender resends the batch itself (a new request, the
    same identifiers): what had counted comes back duplicate. The requests carry no
    Idempotency-Key: the identifiers alone make the retry safe."""
    customer, meter = setup
    fault_proxy.script = [fault, fault]
    with Client(api_key=account_key, base_url=fault_proxy.url, max_retries=0) as client:
        client.events.sender.max_backoff = 0.05
        for _ in range(3):
            client.events.send("tokens", {"stripe_customer_id": customer, "value": 2})
        client.events.flush(timeout=30)
        sender = client.events.sender
        assert sender.accepted + sender.duplicates == 3 and sender.rejected == 0
    bodies = [a.body for a in fault_proxy.attempts]
    assert len(bodies) == 3 and len({bytes(b) for b in bodies}) == 1  # the same events again
    assert not any("idempotency-key" in a.headers for a in fault_proxy.attempts)
    assert len({e["identifier"] for e in msgspec.json.decode(bodies[0])}) == 3
    assert usage_of(server, account_key, meter) == [Decimal(6)]


def test_refusals_reach_on_error(server: Server, account_key: str,
                                 setup: tuple[str, str]) -> None:
    customer, _ = setup
    seen: list[RejectedEvent] = []
    with Client(api_key=account_key, base_url=server.base_url, on_error=seen.append) as client:
        client.events.send("tokens", {"stripe_customer_id": customer, "value": 1})
        client.events.send("tokens", {"stripe_customer_id": "cus_nope", "value": 1},
                           identifier="bad-1")
        client.events.send("nope", {"stripe_customer_id": customer, "value": 1})
        client.events.flush()
        assert client.events.sender.rejected == 2
    assert sorted((r.event["identifier"] == "bad-1", r.code) for r in seen) == [
        (False, "no_meter"), (True, "meter_event_customer_not_found")]


def test_a_full_buffer_raises_when_asked_to(server: Server, account_key: str,
                                            setup: tuple[str, str]) -> None:
    customer, _ = setup
    with Client(api_key=account_key, base_url="http://127.0.0.1:9", max_retries=0,
                batch_size=10, max_buffered=20, on_full="raise") as client:
        client.events.sender.max_backoff = 0.05
        with pytest.raises(BufferFullError):
            for _ in range(100):
                client.events.send("tokens", {"stripe_customer_id": customer, "value": 1})
        # Unreachable server: nothing was dropped; flush says so instead of returning, and
        # close reports each event left to on_error before it gives up.
        with pytest.raises(TimeoutError):
            client.events.flush(timeout=0.5)
        with pytest.raises(TimeoutError):
            client.events.close(timeout=0.5)
        left = client.events.sender.errors
        assert len(left) == 20 and {r.code for r in left} <= {"not_sent", None}


# --- the sender on its own: a stand-in for the server ----------------------------------------


class Acknowledging:
    """A transport whose poster answers every event accepted (or `fail` with an exception),
    recording the events of each batch; `gate` holds the answers back until set."""

    def __init__(self, fail: BaseException | None = None) -> None:
        self.fail = fail
        self.batches: list[list[dict[str, Any]]] = []
        self.gate = threading.Event()
        self.gate.set()
        self._lock = threading.Lock()

    def poster(self, path: str) -> Acknowledging:
        return self

    def post(self, body: bytes) -> bytes:
        events = msgspec.json.decode(body)
        with self._lock:
            self.batches.append(events)
        self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return msgspec.json.encode({"accepted": len(events), "duplicate": 0, "rejected": 0,
                                    "results": []})

    def close(self) -> None:
        pass


def test_threads_sending_at_once_lose_nothing() -> None:
    """`send` takes no lock: events queued by several threads at once are each sent once,
    in batches of at most batch_size, and flush waits for all of them."""
    stand_in = Acknowledging()
    sender = EventSender(stand_in, batch_size=100, max_buffered=1000,  # type: ignore[arg-type]
                         workers=3)
    ids: list[list[str]] = [[] for _ in range(4)]

    def produce(mine: list[str]) -> None:
        mine += [sender.send("tokens", {"value": i}) for i in range(5000)]

    threads = [threading.Thread(target=produce, args=(mine,)) for mine in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sender.flush(timeout=30)
    sent = [e["identifier"] for batch in stand_in.batches for e in batch]
    assert sender.accepted == len(sent) == len(set(sent)) == 20_000
    assert set(sent) == {i for mine in ids for i in mine}
    assert max(len(batch) for batch in stand_in.batches) <= 100
    sender.close()


def test_a_full_buffer_blocks_until_answers_come() -> None:
    stand_in = Acknowledging()
    stand_in.gate.clear()
    sender = EventSender(stand_in, batch_size=10, max_buffered=30,  # type: ignore[arg-type]
                         workers=2)
    done = threading.Event()

    def produce() -> None:
        for i in range(31):
            sender.send("tokens", {"value": i})
        done.set()

    threading.Thread(target=produce, daemon=True).start()
    assert not done.wait(0.5)  # the 31st event waits for room
    stand_in.gate.set()
    assert done.wait(10)
    sender.flush(timeout=10)
    assert sender.accepted == 31
    sender.close()


def test_a_failing_poster_or_payload_is_reported_not_hung() -> None:
    """An unexpected error while sending a batch (a bug) reports its events instead of stopping
    a worker and leaving flush() waiting forever; a payload that can't be encoded is refused
    alone."""
    seen: list[RejectedEvent] = []
    broken = EventSender(Acknowledging(RuntimeError("bug")),  # type: ignore[arg-type]
                         on_error=seen.append, workers=1)
    broken.send("tokens", {"value": 1}, identifier="x-1")
    broken.flush(timeout=10)
    broken.send("tokens", {"value": 2}, identifier="x-2")
    broken.flush(timeout=10)  # the worker is still there
    assert [(r.event["identifier"], r.message) for r in seen] == [
        ("x-1", "RuntimeError: bug"), ("x-2", "RuntimeError: bug")]
    broken.close()

    seen.clear()
    stand_in = Acknowledging()
    sender = EventSender(stand_in, on_error=seen.append)  # type: ignore[arg-type]
    sender.send("tokens", {"value": 1})
    sender.send("tokens", {"value": object()}, identifier="odd")
    sender.send("tokens", {"value": 3})
    sender.flush(timeout=10)
    assert (sender.accepted, sender.rejected) == (2, 1)
    assert [(r.event["identifier"], r.code) for r in seen] == [("odd", "payload_not_encodable")]
    sender.close()
