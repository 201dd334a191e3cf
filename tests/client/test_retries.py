"""Retries never count an event twice: every attempt of a call carries the same
Idempotency-Key and the same event identifiers, even when the first attempt was applied and
only its answer was lost. A fault-injecting proxy sits between the client and the real server."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest

from metered.client import APIError, Client, InvalidRequestError, RateLimitError
from metered.client.retries import RetryPolicy, parse_retry_after

from .conftest import (
    DROP_AFTER_FORWARD,
    FAIL_429,
    FAIL_503,
    FORWARD,
    LOSE_ANSWER,
    FaultProxy,
)
from conftest import Server


def usage_of(server: Server, key: str, meter: str) -> list[Decimal]:
    now = int(time.time())
    with Client(api_key=key, base_url=server.base_url) as direct:
        usage = direct.meters.usage(meter, start_time=(now - 3600) // 60 * 60,
                                    end_time=(now // 60 + 2) * 60)
    return [row.aggregated_value for row in usage.data]


def batch(customer: str, n: int = 3) -> list[dict[str, object]]:
    """Events without identifiers: the client must assign them before the first attempt."""
    return [{"event_name": "tokens", "payload": {"stripe_customer_id": customer, "value": "2"}}
            for _ in range(n)]


def sent_identifiers(body: bytes) -> list[str]:
    return [event["identifier"] for event in msgspec.json.decode(body)]


@pytest.mark.parametrize("fault", [FAIL_503, FAIL_429, LOSE_ANSWER, DROP_AFTER_FORWARD])
def test_a_retried_batch_counts_once(fault: str, server: Server, account_key: str,
                                     setup: tuple[str, str], fault_proxy: FaultProxy) -> None:
    customer, meter = setup
    fault_proxy.script = [fault]
    with Client(api_key=account_key, base_url=fault_proxy.url, max_retries=3) as client:
        result = client.events.send_batch(batch(customer))
    assert (result.accepted, result.duplicate, result.rejected) == (3, 0, 0)

    first, second = fault_proxy.attempts
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
    assert first.body == second.body
    identifiers = sent_identifiers(first.body)
    assert len(set(identifiers)) == 3
    assert [r.identifier for r in result.results] == identifiers
    if fault in (LOSE_ANSWER, DROP_AFTER_FORWARD):  # applied the first time: replayed
        assert first.upstream_status == 200 and second.replayed
    assert usage_of(server, account_key, meter) == [Decimal(6)]


def test_identifiers_alone_prevent_double_counting(server: Server, account_key: str,
                                                  setup: tuple[str, str],
                                                  fault_proxy: FaultProxy) -> None:
    """Even if the Idempotency-Key is lost on the way, the retry only finds duplicates."""
    customer, meter = setup
    fault_proxy.strip_idempotency_key = True
    fault_proxy.script = [LOSE_ANSWER]
    with Client(api_key=account_key, base_url=fault_proxy.url) as client:
        result = client.events.send_batch(batch(customer))
    assert (result.accepted, result.duplicate) == (0, 3)  # the lost first answer had accepted
    first, second = fault_proxy.attempts
    assert sent_identifiers(first.body) == sent_identifiers(second.body)
    assert usage_of(server, account_key, meter) == [Decimal(6)]


def test_v1_event_and_create_calls_retry_with_the_same_key(
        server: Server, account_key: str, setup: tuple[str, str],
        fault_proxy: FaultProxy) -> None:
    customer, meter = setup
    fault_proxy.script = [LOSE_ANSWER, FORWARD, LOSE_ANSWER]  # one step per request
    with Client(api_key=account_key, base_url=fault_proxy.url) as client:
        event = client.events.create("tokens", {"stripe_customer_id": customer, "value": "5"})
        made = client.customers.create(name="once")
    keys = [a.headers["idempotency-key"] for a in fault_proxy.attempts]
    assert keys[0] == keys[1] and keys[2] == keys[3] and keys[0] != keys[2]
    assert fault_proxy.attempts[1].replayed and fault_proxy.attempts[3].replayed
    assert sent_identifiers(b"[" + fault_proxy.attempts[0].body + b"]") == [event.identifier]
    assert usage_of(server, account_key, meter) == [Decimal(5)]
    with Client(api_key=account_key, base_url=server.base_url) as direct:
        names = [c.name for c in direct.customers.list_all()]
    assert names.count("once") == 1 and made.name == "once"


def test_gets_are_retried_too(account_key: str, fault_proxy: FaultProxy) -> None:
    fault_proxy.script = [FAIL_503, DROP_AFTER_FORWARD]
    with Client(api_key=account_key, base_url=fault_proxy.url) as client:
        assert list(client.customers.list()) == []
    assert len(fault_proxy.attempts) == 3


def test_retries_give_up_with_the_last_error(account_key: str, setup: tuple[str, str],
                                            fault_proxy: FaultProxy) -> None:
    customer, _ = setup
    fault_proxy.script = [FAIL_503, FAIL_503]
    client = Client(api_key=account_key, base_url=fault_proxy.url, max_retries=1)
    with client, pytest.raises(APIError) as err:
        client.events.send_batch(batch(customer))
    assert err.value.status == 503 and len(fault_proxy.attempts) == 2

    fault_proxy.script = [FAIL_429]
    client = Client(api_key=account_key, base_url=fault_proxy.url, max_retries=0)
    with client, pytest.raises(RateLimitError) as limited:
        client.customers.list()
    assert limited.value.status == 429


def test_client_errors_are_not_retried(account_key: str, fault_proxy: FaultProxy) -> None:
    client = Client(api_key=account_key, base_url=fault_proxy.url)
    with client, pytest.raises(InvalidRequestError, match="resource_missing"):
        client.customers.retrieve("cus_missing")
    assert len(fault_proxy.attempts) == 1


# --- the policy itself (pure) ----------------------------------------------------------------

def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    policy = RetryPolicy(max_retries=5, initial_delay=0.5, max_delay=4.0)
    assert [policy.delay(a, random_fraction=lambda: 1.0) for a in range(5)] == [
        0.5, 1.0, 2.0, 4.0, 4.0]
    assert policy.delay(3, random_fraction=lambda: 0.0) == 0.0
    assert policy.delay(2, random_fraction=lambda: 0.25) == 0.5


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(initial_delay=0.5, max_retry_after=60.0)
    assert policy.delay(0, "7", random_fraction=lambda: 1.0) == 7.0
    assert policy.delay(0, "0", random_fraction=lambda: 1.0) == 0.5
    assert policy.delay(0, "3600", random_fraction=lambda: 0.0) == 60.0
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:09 GMT", now=now) == 9.0
    assert parse_retry_after("garbage") is None and parse_retry_after(None) is None


def test_which_answers_are_retried() -> None:
    policy = RetryPolicy(max_retries=2)
    assert all(policy.retries_status(s, 0) for s in (409, 429, 500, 502, 503, 504))
    assert not any(policy.retries_status(s, 0) for s in (400, 401, 404, 413, 501))
    assert policy.retries_status(503, 1) and not policy.retries_status(503, 2)
