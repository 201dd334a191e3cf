"""Errors map to one typed hierarchy carrying the server's status, type, code, param and
request id."""

from __future__ import annotations

import pytest

from metered.client import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    Client,
    IdempotencyError,
    InvalidRequestError,
    MeteredError,
    RateLimitError,
)
from metered.client.errors import error_from_answer
from metered.client.retries import RetryPolicy
from metered.client.transport import Transport
from metered.client.wire import ApiRequest

from conftest import Server, free_port


def test_unknown_key_is_an_authentication_error(server: Server) -> None:
    bad = Client(api_key="sk_test_" + "z" * 32, base_url=server.base_url)
    with bad, pytest.raises(AuthenticationError) as err:
        bad.customers.list()
    e = err.value
    assert (e.status, e.type, e.code) == (401, "authentication_error", "api_key_invalid")
    assert e.request_id and e.request_id.startswith("req_")
    assert isinstance(e, MeteredError) and "api_key_invalid" in str(e)


def test_missing_key_fails_before_any_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("METERED_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="METERED_API_KEY"):
        Client(base_url="http://127.0.0.1:9")


def test_key_and_address_come_from_the_environment(server: Server, account_key: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERED_API_KEY", account_key)
    monkeypatch.setenv("METERED_BASE_URL", server.base_url)
    with Client() as client:
        assert client.base_url == server.base_url
        assert client.customers.create(name="env").livemode is False


def test_invalid_requests_name_the_param(client: Client) -> None:
    with pytest.raises(InvalidRequestError) as missing:
        client.meters.retrieve("mtr_doesnotexist")
    assert (missing.value.status, missing.value.code) == (404, "resource_missing")

    with pytest.raises(InvalidRequestError) as bad:
        client.meters.create(display_name="x", event_name="x", formula="avg")  # type: ignore[arg-type]
    assert bad.value.status == 400 and bad.value.param == "default_aggregation[formula]"

    meter = client.meters.create(display_name="x", event_name="x")
    with pytest.raises(InvalidRequestError) as unaligned:
        client.meters.usage(meter.id, start_time=61, end_time=120)
    assert unaligned.value.param == "start_time"


def test_reused_idempotency_key_with_another_body(server: Server, account_key: str) -> None:
    transport = Transport(account_key, server.base_url, timeout=10,
                          retry_policy=RetryPolicy(max_retries=0))
    with pytest.raises(IdempotencyError) as err:
        for name in ("first", "second"):
            transport.send(ApiRequest.post("/v1/customers", {"name": name},
                                           idempotency_key="same-key"), dict)
    transport.close()
    assert (err.value.status, err.value.type, err.value.code) == (
        400, "idempotency_error", "idempotency_key_in_use")


def test_no_server_is_a_connection_error() -> None:
    client = Client(api_key="sk_test_x", base_url=f"http://127.0.0.1:{free_port()}",
                    max_retries=1, timeout=5)
    with client, pytest.raises(APIConnectionError) as err:
        client.customers.list()
    assert err.value.status is None and "2 attempt(s)" in err.value.message


@pytest.mark.parametrize(("status", "body", "cls", "code"), [
    (400, {"error": {"type": "invalid_request_error", "code": "parameter_missing",
                     "message": "m", "param": "p"}}, InvalidRequestError, "parameter_missing"),
    (413, {"error": {"type": "invalid_request_error", "code": "request_too_large",
                     "message": "m"}}, InvalidRequestError, "request_too_large"),
    (409, {"error": {"type": "idempotency_error", "message": "m"}}, IdempotencyError, None),
    (429, {"error": {"type": "rate_limit_error", "message": "m"}}, RateLimitError, None),
    (429, None, RateLimitError, None),
    (503, {"error": {"type": "api_error", "message": "m"}}, APIError, None),
    (502, None, APIError, None),  # a proxy's HTML page
    (401, {"error": {"message": "m"}}, AuthenticationError, None),
])
def test_answers_map_to_error_classes(status: int, body: object, cls: type[MeteredError],
                                      code: str | None) -> None:
    error = error_from_answer(status, body, "req_1")
    assert type(error) is cls
    assert (error.status, error.code, error.request_id) == (status, code, "req_1")
