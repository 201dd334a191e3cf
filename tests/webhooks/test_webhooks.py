"""Webhooks end to end: endpoints and events through the official stripe SDK against a live
`metered serve`, deliveries to a real HTTP receiver on 127.0.0.1, their signatures checked by
`stripe.Webhook.construct_event`, retries on failures and across a restart, and isolation."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import distributed_mode
import pytest
import stripe

from metered.store import postgres

from conftest import Server, start_server

WAIT = 15.0  # seconds a delivery may take at most here (polls every 0.5 s)


def sdk(server: Server, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": server.base_url},
                               max_network_retries=0)


@dataclass(frozen=True)
class Received:
    body: bytes
    headers: dict[str, str]
    at: float

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


class Receiver:
    """A webhook receiver on 127.0.0.1 that records every POST and answers the statuses of
    `script` in turn, then 200."""

    def __init__(self, script: tuple[int, ...] = ()):
        self.script = list(script)
        self.received: list[Received] = []
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                with receiver.changed:
                    receiver.received.append(Received(
                        body, {k.lower(): v for k, v in self.headers.items()}, time.monotonic()))
                    status = receiver.script.pop(0) if receiver.script else 200
                    receiver.changed.notify_all()
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.http.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = WAIT) -> list[Received]:
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.received) >= count, timeout):
                raise AssertionError(f"{len(self.received)} deliveries, expected {count}")
            return list(self.received)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def receivers() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(*script: int) -> Receiver:
        made.append(Receiver(script))
        return made[-1]

    yield make
    for receiver in made:
        receiver.close()


@pytest.fixture
def client(server: Server) -> stripe.StripeClient:
    return sdk(server, server.new_account_key())


@pytest.fixture(scope="module")
def refused(server: Server) -> stripe.StripeClient:
    """An account whose every endpoint creation is refused (so it stays without any)."""
    return sdk(server, server.new_account_key())


def endpoint(client: stripe.StripeClient, url: str, events: list[str] | None = None
             ) -> stripe.WebhookEndpoint:
    return client.v1.webhook_endpoints.create({
        "url": url, "enabled_events": events or ["customer.created"]})  # type: ignore[list-item]


def verified(received: Received, secret: str) -> stripe.Event:
    return stripe.Webhook.construct_event(received.body, received.headers["stripe-signature"],
                                          secret)


def wait_until(check: Any, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


def test_customer_created_is_delivered_signed_and_listed(client: stripe.StripeClient,
                                                         receivers: Any) -> None:
    receiver = receivers()
    we = endpoint(client, receiver.url)
    assert we.secret.startswith("whsec_")  # type: ignore[union-attr]
    assert (we.status, we.enabled_events, we.url) == ("enabled", ["customer.created"],
                                                      receiver.url)
    customer = client.v1.customers.create({"name": "Acme", "email": "ap@acme.test"})

    (got,) = receiver.wait_for(1)
    assert got.headers["content-type"].startswith("application/json")
    event = verified(got, we.secret)  # type: ignore[arg-type]
    assert (event.type, event.object, event.livemode) == ("customer.created", "event", False)
    assert event.data.object["id"] == customer.id
    assert event.data.object["email"] == "ap@acme.test"
    assert event.request.id  # the API request that created the customer  # type: ignore
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(got.body, got.headers["stripe-signature"],
                                       "whsec_not_the_secret")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(got.body.replace(b"Acme", b"Acne"),
                                       got.headers["stripe-signature"], we.secret)  # type: ignore

    listed = client.v1.events.list({"type": "customer.created"})
    assert [e.id for e in listed.data] == [event.id]
    assert listed.data[0].data.object["id"] == customer.id
    assert [e.id for e in client.v1.events.list({"type": "customer.*"}).data] == [event.id]
    assert client.v1.events.list({"types": ["invoice.paid", "customer.created"]}).data[0].id \
        == event.id
    assert client.v1.events.list({"type": "invoice.paid"}).data == []
    assert client.v1.events.list({"created": {"gte": event.created}}).data[0].id == event.id
    assert client.v1.events.list({"created": {"lt": event.created}}).data == []
    assert client.v1.events.list({"created": event.created}).data[0].id == event.id
    # Delivered: the event counts no pending webhook once the 200 is written.
    wait_until(lambda: client.v1.events.retrieve(event.id).pending_webhooks == 0)
    assert client.v1.events.list({"delivery_success": False}).data == []
    one = client.v1.events.retrieve(event.id)
    assert (one.api_version, one.data.object["name"]) == (got.event["api_version"], "Acme")
    assert one.data.previous_attributes is None  # type: ignore[attr-defined]

    # The secret is shown once, when the endpoint is created.
    assert "secret" not in client.v1.webhook_endpoints.retrieve(we.id)
    assert "secret" not in client.v1.webhook_endpoints.list().data[0]


def test_updates_and_deletes_reach_a_wildcard_endpoint(client: stripe.StripeClient,
                                                       receivers: Any) -> None:
    receiver = receivers()
    we = endpoint(client, receiver.url, ["*"])
    customer = client.v1.customers.create({"name": "Acme", "metadata": {"tier": "gold"}})
    client.v1.customers.update(customer.id, {"name": "Acme Inc", "metadata": {"region": "eu"}})
    client.v1.customers.update(customer.id, {"name": "Acme Inc"})  # no change: no event
    client.v1.customers.delete(customer.id)

    events = [verified(r, we.secret) for r in receiver.wait_for(3)]  # type: ignore[arg-type]
    by_type = {e.type: e for e in events}
    assert set(by_type) == {"customer.created", "customer.updated", "customer.deleted"}
    updated = by_type["customer.updated"]
    assert updated.data.object["name"] == "Acme Inc"
    assert updated.data.previous_attributes.to_dict() == {  # type: ignore[union-attr]
        "name": "Acme", "metadata": {"region": None}}
    # customer.deleted carries the customer as it was.
    assert by_type["customer.deleted"].data.object["name"] == "Acme Inc"
    time.sleep(1)
    assert len(receiver.received) == 3
    assert len(client.v1.events.list().data) == 3


def test_failed_deliveries_are_retried_with_backoff(tmp_path: Path, receivers: Any) -> None:
    srv = start_server(tmp_path / "data",
                       env={"METERED_WEBHOOK_RETRY_BASE_SECONDS": "0.3"})
    try:
        client = sdk(srv, srv.key)
        receiver = receivers(500, 500)
        we = endpoint(client, receiver.url)
        customer = client.v1.customers.create({"name": "Flaky"})
        got = receiver.wait_for(3)
        events = [verified(r, we.secret) for r in got]  # type: ignore[arg-type]
        assert {e.id for e in events} == {events[0].id}
        assert events[0].data.object["id"] == customer.id
        # Backoff: 0.3 s then 0.6 s, +-20%, each rounded up to the next poll (0.5 s).
        gaps = [b.at - a.at for a, b in zip(got, got[1:], strict=False)]
        assert gaps[0] >= 0.2 and gaps[1] >= 0.45, gaps
        wait_until(lambda: client.v1.events.retrieve(events[0].id).pending_webhooks == 0)
        time.sleep(1)
        assert len(receiver.received) == 3
    finally:
        srv.stop()


def _deliveries(data_dir: Path) -> list[tuple[str, int]]:
    sql = "SELECT status, attempts FROM webhook_deliveries"
    if distributed_mode.ENABLED:  # the data folder stands for a PostgreSQL store
        pg = postgres.connect(distributed_mode.store_env(data_dir)["METERED_STORE"])
        try:
            return [tuple(row) for row in pg.execute(sql).fetchall()]  # type: ignore[misc]
        finally:
            pg.close()
    conn = sqlite3.connect(data_dir / "metered.sqlite3")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_pending_deliveries_survive_a_restart(tmp_path: Path, receivers: Any) -> None:
    data_dir = tmp_path / "data"
    env = {"METERED_WEBHOOK_RETRY_BASE_SECONDS": "3"}
    srv = start_server(data_dir, env=env)
    try:
        client = sdk(srv, srv.key)
        receiver = receivers(503)
        we = endpoint(client, receiver.url)
        client.v1.customers.create({"name": "Restarted"})
        (first,) = receiver.wait_for(1)
        time.sleep(0.3)  # the failure is written (the retry is 2.4 s away at the earliest)
    finally:
        srv.stop()
    assert _deliveries(data_dir) == [("pending", 1)]

    srv = start_server(data_dir, key=srv.key, env=env)
    try:
        client = sdk(srv, srv.key)
        got = receiver.wait_for(2)
        assert verified(got[1], we.secret).id == verified(first, we.secret).id  # type: ignore
        wait_until(lambda: _deliveries(data_dir) == [("delivered", 2)])
    finally:
        srv.stop()


def test_disabled_deleted_other_account_and_other_mode_endpoints_get_nothing(
        server: Server, client: stripe.StripeClient, receivers: Any) -> None:
    listening, disabled, deleted, other_type, other_account, live = (receivers()
                                                                      for _ in range(6))
    endpoint(client, listening.url)
    off = endpoint(client, disabled.url)
    assert client.v1.webhook_endpoints.update(off.id, {"disabled": True}).status == "disabled"
    gone = endpoint(client, deleted.url)
    assert client.v1.webhook_endpoints.delete(gone.id).deleted is True
    endpoint(client, other_type.url, ["invoice.paid", "customer.updated"])
    endpoint(sdk(server, server.new_account_key()), other_account.url, ["*"])
    live_key = server.new_key(live=True)  # the default account's live mode
    endpoint(sdk(server, live_key), live.url, ["*"])

    client.v1.customers.create({"name": "Quiet"})
    sdk(server, server.key).v1.customers.create({"name": "test mode, default account"})
    listening.wait_for(1)
    time.sleep(1.5)  # three polls of the outbox
    assert [len(r.received) for r in (disabled, deleted, other_type, other_account, live)] == [
        0, 0, 0, 0, 0]

    # Enabled again, it gets the events from then on (not those it missed).
    client.v1.webhook_endpoints.update(off.id, {"disabled": False})
    client.v1.customers.create({"name": "Heard"})
    (got,) = disabled.wait_for(1)
    assert got.event["data"]["object"]["name"] == "Heard"


def test_endpoint_crud(client: stripe.StripeClient) -> None:
    we = client.v1.webhook_endpoints.create({
        "url": "https://example.test/hooks", "enabled_events": ["invoice.paid", "invoice.paid"],
        "description": "billing", "metadata": {"team": "finance"}})
    assert (we.enabled_events, we.description, we.metadata.to_dict(), we.livemode) == (
        ["invoice.paid"], "billing", {"team": "finance"}, False)
    updated = client.v1.webhook_endpoints.update(we.id, {
        "url": "http://127.0.0.1:9/x", "enabled_events": ["*"], "description": "",
        "metadata": {"team": "", "owner": "ops"}})
    assert (updated.url, updated.enabled_events, updated.description,
            updated.metadata.to_dict()) == ("http://127.0.0.1:9/x", ["*"], None, {"owner": "ops"})
    other = client.v1.webhook_endpoints.create({"url": "https://example.test/2",
                                                "enabled_events": ["*"]})
    assert [e.id for e in client.v1.webhook_endpoints.list().data] == [other.id, we.id]
    page = client.v1.webhook_endpoints.list({"limit": 1, "starting_after": other.id})
    assert [e.id for e in page.data] == [we.id] and not page.has_more
    client.v1.webhook_endpoints.delete(we.id)
    assert [e.id for e in client.v1.webhook_endpoints.list().data] == [other.id]
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.webhook_endpoints.retrieve(we.id)
    assert err.value.http_status == 404


@pytest.mark.parametrize(("params", "param", "code"), [
    ({"url": "https://example.test/h", "enabled_events": ["customer.created", "nope.nope"]},
     "enabled_events[1]", "parameter_invalid"),
    ({"url": "https://example.test/h"}, "enabled_events", "parameter_missing"),
    ({"url": "https://example.test/h", "enabled_events": []}, "enabled_events",
     "parameter_missing"),
    ({"url": "ftp://example.test/h", "enabled_events": ["*"]}, "url", "url_invalid"),
    ({"url": "not a url", "enabled_events": ["*"]}, "url", "url_invalid"),
    ({"url": "https://:80/h", "enabled_events": ["*"]}, "url", "url_invalid"),
    ({"url": "http://example.test:99999/h", "enabled_events": ["*"]}, "url", "url_invalid"),
    ({"enabled_events": ["*"]}, "url", "parameter_missing"),
    ({"url": "https://example.test/h", "enabled_events": ["*"], "connect": True}, "connect",
     "parameter_invalid"),
    ({"url": "https://example.test/h", "enabled_events": ["*"], "api_version": "2020-08-27"},
     "api_version", "parameter_invalid"),
    ({"url": "https://example.test/h", "enabled_events": ["*"], "colour": "red"}, "colour",
     "parameter_unknown"),
])
def test_bad_endpoints_are_refused(refused: stripe.StripeClient, params: dict[str, Any],
                                   param: str, code: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as err:
        refused.v1.webhook_endpoints.create(params)  # type: ignore[arg-type]
    assert (err.value.http_status, err.value.param, err.value.code) == (400, param, code)
    assert refused.v1.webhook_endpoints.list().data == []


def test_unknown_and_other_accounts_ids_are_not_found(server: Server,
                                                      client: stripe.StripeClient) -> None:
    theirs = sdk(server, server.new_account_key())
    we = endpoint(theirs, "https://example.test/theirs", ["invoice.paid"])
    theirs.v1.customers.create({"name": "theirs"})
    their_event = theirs.v1.events.list().data[0].id
    for call in (lambda: client.v1.webhook_endpoints.retrieve(we.id),
                 lambda: client.v1.webhook_endpoints.update(we.id, {"disabled": True}),
                 lambda: client.v1.webhook_endpoints.delete(we.id),
                 lambda: client.v1.webhook_endpoints.retrieve("we_unknown"),
                 lambda: client.v1.events.retrieve(their_event),
                 lambda: client.v1.events.retrieve("evt_unknown"),
                 lambda: client.v1.events.list({"starting_after": their_event})):
        with pytest.raises(stripe.InvalidRequestError) as err:
            call()
        assert (err.value.http_status, err.value.code) == (404, "resource_missing")
    assert theirs.v1.webhook_endpoints.retrieve(we.id).status == "enabled"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.webhook_endpoints.update(we.id + "x", {"enabled_events": ["bad"]})
    assert err.value.param == "enabled_events[0]"  # checked before the id is looked up
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.events.list({"type": "customer.created", "types": ["invoice.paid"]})
    assert err.value.param == "types"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.events.list({"type": "Customer Created"})
    assert err.value.param == "type"
    with pytest.raises(stripe.InvalidRequestError) as err:
        client.v1.events.list({"created": {"after": 1}})  # type: ignore[typeddict-unknown-key]
    assert err.value.param == "created[after]"
