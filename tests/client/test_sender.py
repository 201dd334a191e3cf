"""The background event sender (`client.events.send`): batches by size and by time, flush
and close, retries that can never count twice, refusals reported, a bounded buffer."""

from __future__ import annotations

import time
from decimal import Decimal

import msgspec
import pytest

from client.conftest import DROP_AFTER_FORWARD, FAIL_503, LOSE_ANSWER, FaultProxy
from client.test_retries import usage_of
from metered.client import BufferFullError, Client, RejectedEvent

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
    same identifiers): what had counted comes back duplicate."""
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
    assert len({a.headers["idempotency-key"] for a in fault_proxy.attempts}) == 3
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
