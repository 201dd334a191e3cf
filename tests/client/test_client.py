"""metered.client against a live server: resources, exact decimals, errors, safe retries."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from metered.client import AuthenticationError, Client, EventIn, InvalidRequestError

from conftest import Server


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(api_key=server.new_account_key(), base_url=server.base_url) as c:
        yield c


def month() -> tuple[int, int]:
    now = int(time.time())
    return (now - 86_400) // 60 * 60, (now // 60 + 2) * 60


def test_resources_end_to_end(client: Client) -> None:
    created = [client.customers.create(name=f"n{i}", email=f"{i}@x.io") for i in range(3)]
    assert client.customers.retrieve(created[0].id).email == "0@x.io"
    assert client.customers.update(created[0].id, name="renamed").name == "renamed"
    assert [c.id for c in client.customers.list_all(page_size=2)] == [
        c.id for c in reversed(created)
    ]
    assert client.customers.delete(created[2].id).deleted is True

    meter = client.meters.create(display_name="Tokens", event_name="tokens",
                                 dimensions=["model"])
    assert meter.formula == "sum" and meter.dimension_payload_keys == ["model"]
    assert [m.id for m in client.meters.list()] == [meter.id]
    assert client.meters.deactivate(meter.id).status == "inactive"
    assert client.meters.reactivate(meter.id).status == "active"

    customer = created[0].id
    result = client.events.send_batch(
        [EventIn(event_name="tokens", payload={"stripe_customer_id": customer, "value": "0.1",
                                               "model": "a"}),
         {"event_name": "tokens", "identifier": "fixed",
          "payload": {"stripe_customer_id": customer, "value": "0.2", "model": "b"}},
         {"event_name": "tokens", "payload": {"stripe_customer_id": "cus_nobody", "value": "1"}}]
    )
    assert (result.accepted, result.duplicate, result.rejected) == (2, 0, 1)
    assert result.rejections[0].error is not None
    assert result.rejections[0].error.code == "meter_event_customer_not_found"
    assert all(r.identifier for r in result.results)  # assigned client-side before sending

    start, end = month()
    usage = client.meters.usage(meter.id, customer=customer, start_time=start, end_time=end)
    assert usage.data[0].aggregated_value == Decimal("0.3")  # exact, not 0.30000000000000004
    grouped = client.meters.usage(meter.id, start_time=start, end_time=end, group_by=["model"])
    assert {r.dimensions["model"]: r.aggregated_value for r in grouped.data if r.dimensions} == {
        "a": Decimal("0.1"), "b": Decimal("0.2")}
    summaries = client.meters.event_summaries(meter.id, customer=customer, start_time=start,
                                              end_time=end)
    assert [s.aggregated_value for s in summaries] == [Decimal("0.3")]

    client.events.cancel("tokens", "fixed")
    again = client.meters.usage(meter.id, customer=customer, start_time=start, end_time=end)
    assert again.data[0].aggregated_value == Decimal("0.1")
    with pytest.raises(InvalidRequestError) as err:
        client.events.create("tokens", {"stripe_customer_id": customer, "value": "1"},
                             identifier="fixed")
    assert err.value.code == "duplicate_meter_event" and err.value.status == 400


def test_large_batches_are_chunked(client: Client) -> None:
    customer = client.customers.create(name="bulk").id
    client.meters.create(display_name="calls", event_name="calls", formula="count")
    events = ({"event_name": "calls", "payload": {"stripe_customer_id": customer}}
              for _ in range(2_500))
    result = client.events.send_batch(events, chunk_size=1000)
    assert result.accepted == 2_500 and len(result.results) == 2_500
    assert [r.index for r in result.results] == list(range(2_500))


def test_errors_are_typed(server: Server) -> None:
    bad = Client(api_key="sk_test_" + "z" * 32, base_url=server.base_url)
    with bad, pytest.raises(AuthenticationError) as err:
        bad.meters.list()
    assert err.value.status == 401 and err.value.request_id


class _FlakyProxy(BaseHTTPRequestHandler):
    """Fails the first attempt of every POST with 503, then forwards to the real server."""

    upstream = ""
    seen: list[tuple[str | None, bytes]] = []
    failed: set[str] = set()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        key = self.headers.get("Idempotency-Key")
        self.seen.append((key, body))
        if key not in self.failed:
            self.failed.add(str(key))
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            payload = b'{"error": {"type": "api_error", "message": "try again"}}'
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        upstream = httpx.post(self.upstream + self.path, content=body, headers={
            "Authorization": self.headers["Authorization"],
            "Content-Type": self.headers["Content-Type"], "Idempotency-Key": str(key)})
        self.send_response(upstream.status_code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(upstream.content)))
        self.end_headers()
        self.wfile.write(upstream.content)

    def log_message(self, *args: object) -> None:
        pass


def test_retries_reuse_identifiers_and_idempotency_keys(server: Server) -> None:
    key = server.new_account_key()
    with Client(api_key=key, base_url=server.base_url) as direct:
        customer = direct.customers.create(name="retry").id
        meter = direct.meters.create(display_name="r", event_name="retried")
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyProxy)
    _FlakyProxy.upstream = server.base_url
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        with Client(api_key=key, base_url=url, max_retries=3) as flaky:
            result = flaky.events.send_batch(
                [{"event_name": "retried", "payload": {"stripe_customer_id": customer,
                                                       "value": "7"}}])
        assert result.accepted == 1
        (first_key, first_body), (second_key, second_body) = _FlakyProxy.seen
        assert first_key == second_key and first_body == second_body  # same identifiers
    finally:
        proxy.shutdown()
    with Client(api_key=key, base_url=server.base_url) as direct:
        start, end = month()
        usage = direct.meters.usage(meter.id, customer=customer, start_time=start, end_time=end)
    assert usage.data[0].aggregated_value == Decimal(7)
