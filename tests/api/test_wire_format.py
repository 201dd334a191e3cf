"""Stripe's wire format over raw HTTP: list envelopes and cursors, expand[], Idempotency-Key,
Request-Id, bracket-nested form bodies, JSON bodies equivalent to form bodies, exact decimals."""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import pytest

from metered import __version__

from conftest import Server

HOUR = 3600
FORM = {"content-type": "application/x-www-form-urlencoded"}


def ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return dict(response.json())


def error_of(response: httpx.Response, status: int, type: str = "invalid_request_error",
             ) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["type"] == type, body
    assert set(body["error"]) <= {"type", "code", "message", "param"}
    return dict(body["error"])


def ids(body: dict[str, Any]) -> list[str]:
    return [o["id"] for o in body["data"]]


def exact(response: httpx.Response) -> Any:
    """The body with every JSON number read exactly (Decimal for fractions, int otherwise)."""
    assert response.status_code == 200, response.text
    return json.loads(response.text, parse_float=Decimal)


def make_customers(http: httpx.Client, n: int) -> list[str]:
    return [ok(http.post("/v1/customers", data={"name": f"c{i}"}))["id"] for i in range(n)]


def make_meter(http: httpx.Client, formula: str = "sum", **extra: str) -> dict[str, Any]:
    return ok(http.post("/v1/billing/meters", data={
        "display_name": formula, "event_name": f"ev_{uuid.uuid4().hex[:10]}",
        "default_aggregation[formula]": formula, **extra}))


# --- lists ---------------------------------------------------------------------------------

def test_list_envelopes(account: httpx.Client) -> None:
    [customer] = make_customers(account, 1)
    meter = make_meter(account)
    body = ok(account.get("/v1/customers"))
    assert set(body) == {"object", "data", "has_more", "url"}
    assert (body["object"], body["has_more"], body["url"], ids(body)) == (
        "list", False, "/v1/customers", [customer])
    body = ok(account.get("/v1/billing/meters"))
    assert (body["object"], body["has_more"], body["url"], ids(body)) == (
        "list", False, "/v1/billing/meters", [meter["id"]])
    now = int(time.time()) // 60 * 60
    body = ok(account.get(f"/v1/billing/meters/{meter['id']}/event_summaries", params={
        "customer": customer, "start_time": now - 600, "end_time": now}))
    assert set(body) == {"object", "data", "has_more", "url"}
    assert (body["object"], body["has_more"], body["url"]) == (
        "list", False, f"/v1/billing/meters/{meter['id']}/event_summaries")
    [summary] = body["data"]
    assert summary == {
        "id": summary["id"], "object": "billing.meter_event_summary", "aggregated_value": 0,
        "end_time": now, "livemode": False, "meter": meter["id"], "start_time": now - 600}
    # An account with nothing has empty lists.
    assert ok(account.get("/v1/billing/meters", params={"status": "inactive"}))["data"] == []


def test_customer_cursors(server: Server, account: httpx.Client) -> None:
    c = make_customers(account, 5)  # c[4] is the newest

    def page(**params: Any) -> tuple[list[str], bool]:
        body = ok(account.get("/v1/customers", params=params))
        return ids(body), body["has_more"]

    assert page() == (c[::-1], False)  # default limit is 10
    assert page(limit=2) == ([c[4], c[3]], True)
    assert page(limit=2, starting_after=c[3]) == ([c[2], c[1]], True)
    assert page(limit=2, starting_after=c[1]) == ([c[0]], False)
    assert page(starting_after=c[0]) == ([], False)
    assert page(limit=2, ending_before=c[0]) == ([c[2], c[1]], True)
    assert page(limit=2, ending_before=c[2]) == ([c[4], c[3]], False)
    assert page(ending_before=c[4]) == ([], False)
    assert page(limit=1) == ([c[4]], True)
    assert page(limit=100) == (c[::-1], False)

    for params, status, param in (
        ({"starting_after": "cus_nobody"}, 404, "starting_after"),
        ({"ending_before": "cus_nobody"}, 404, "ending_before"),
        ({"starting_after": c[1], "ending_before": c[3]}, 400, "ending_before"),
        ({"limit": 0}, 400, "limit"),
        ({"limit": 101}, 400, "limit"),
    ):
        assert error_of(account.get("/v1/customers", params=params), status)["param"] == param

    # Another account's id is no cursor here (it used to page silently to an empty list).
    with server.client(server.new_account_key()) as other:
        theirs = make_customers(other, 1)[0]
        for name in ("starting_after", "ending_before"):
            error = error_of(account.get("/v1/customers", params={name: theirs}), 404)
            assert (error["code"], error["param"]) == ("resource_missing", name)
            error = error_of(other.get("/v1/customers", params={name: c[2]}), 404)
            assert error["param"] == name


def test_meter_cursors_with_status_filter(account: httpx.Client) -> None:
    meters = [make_meter(account)["id"] for _ in range(5)]
    for i in (1, 3):
        ok(account.post(f"/v1/billing/meters/{meters[i]}/deactivate"))
    active = ok(account.get("/v1/billing/meters", params={"status": "active", "limit": 2}))
    assert (ids(active), active["has_more"]) == ([meters[4], meters[2]], True)
    rest = ok(account.get("/v1/billing/meters", params={
        "status": "active", "limit": 2, "starting_after": meters[2]}))
    assert (ids(rest), rest["has_more"]) == ([meters[0]], False)
    inactive = ok(account.get("/v1/billing/meters", params={"status": "inactive"}))
    assert ids(inactive) == [meters[3], meters[1]]
    back = ok(account.get("/v1/billing/meters", params={"limit": 2, "ending_before": meters[1]}))
    assert (ids(back), back["has_more"]) == ([meters[3], meters[2]], True)
    error = error_of(account.get("/v1/billing/meters", params={"status": "archived"}), 400)
    assert error["param"] == "status"


def test_summary_cursors(account: httpx.Client) -> None:
    [customer] = make_customers(account, 1)
    meter = make_meter(account)
    start = (int(time.time()) // HOUR - 6) * HOUR
    ok(account.post("/v1/metered/events/batch", json=[
        {"event_name": meter["event_name"], "timestamp": start + h * HOUR + 10,
         "payload": {"stripe_customer_id": customer, "value": str(h + 1)}} for h in range(5)]))
    url = f"/v1/billing/meters/{meter['id']}/event_summaries"
    base = {"customer": customer, "start_time": start, "end_time": start + 5 * HOUR,
            "value_grouping_window": "hour"}
    everything = ok(account.get(url, params=base))["data"]
    assert [(s["start_time"] - start, s["aggregated_value"]) for s in everything] == [
        (h * HOUR, h + 1) for h in range(5)]
    assert len({s["id"] for s in everything}) == 5
    first = ok(account.get(url, params={**base, "limit": 2}))
    assert (ids(first), first["has_more"]) == ([s["id"] for s in everything[:2]], True)
    second = ok(account.get(url, params={**base, "limit": 2, "starting_after": ids(first)[-1]}))
    assert (ids(second), second["has_more"]) == ([s["id"] for s in everything[2:4]], True)
    third = ok(account.get(url, params={**base, "limit": 2, "starting_after": ids(second)[-1]}))
    assert (ids(third), third["has_more"]) == ([everything[4]["id"]], False)
    before = ok(account.get(url, params={**base, "limit": 2,
                                         "ending_before": everything[4]["id"]}))
    assert (ids(before), before["has_more"]) == ([s["id"] for s in everything[2:4]], True)
    for name in ("starting_after", "ending_before"):
        error = error_of(account.get(url, params={**base, name: "mtrsum_nope"}), 404)
        assert error["param"] == name
    error = error_of(account.get(url, params={**base, "limit": 101}), 400)
    assert error["param"] == "limit"


# --- expand[] ------------------------------------------------------------------------------

def test_expand(account: httpx.Client) -> None:
    [customer] = make_customers(account, 1)
    meter = make_meter(account)
    plain = ok(account.get(f"/v1/customers/{customer}"))
    for params in ({"expand[]": "test_clock"}, {"expand[0]": "test_clock"},
                   {"expand": "test_clock"}):
        assert ok(account.get(f"/v1/customers/{customer}", params=params)) == plain
    listed = ok(account.get("/v1/customers", params={"expand[]": "data.test_clock"}))
    assert listed["data"] == [plain]
    created = ok(account.post("/v1/customers", json={"name": "x", "expand": ["test_clock"]}))
    assert created["name"] == "x" and created["test_clock"] is None

    now = int(time.time()) // 60 * 60
    refused = [
        account.get(f"/v1/customers/{customer}", params={"expand[]": "nothing"}),
        account.get("/v1/customers", params={"expand[]": "test_clock"}),  # lists need data.
        account.get("/v1/customers", params={"expand[0]": "data.nothing"}),
        account.post("/v1/customers", data={"name": "y", "expand[0]": "subscriptions"}),
        account.post(f"/v1/customers/{customer}", json={"expand": ["sources"]}),
        account.get(f"/v1/billing/meters/{meter['id']}", params={"expand[]": "customer"}),
        account.get("/v1/billing/meters", params={"expand[]": "data.event_name"}),
        account.get(f"/v1/billing/meters/{meter['id']}/event_summaries", params={
            "customer": customer, "start_time": now - 60, "end_time": now,
            "expand[]": "data.meter"}),
        account.post("/v1/billing/meter_events", data={
            "event_name": meter["event_name"], "payload[stripe_customer_id]": customer,
            "payload[value]": "1", "expand[]": "customer"}),
        account.post("/v1/billing/meter_event_adjustments", data={
            "event_name": meter["event_name"], "cancel[identifier]": "x",
            "expand[]": "cancel"}),
    ]
    for response in refused:
        error = error_of(response, 400)
        assert (error["code"], error["param"]) == ("parameter_invalid", "expand")
        assert "cannot be expanded" in error["message"]
    # Nothing refused was done.
    assert ids(ok(account.get("/v1/customers"))) == [created["id"], customer]
    summary = ok(account.get(f"/v1/billing/meters/{meter['id']}/event_summaries", params={
        "customer": customer, "start_time": now - 3600, "end_time": now + 600}))
    assert summary["data"][0]["aggregated_value"] == 0


# --- Idempotency-Key -----------------------------------------------------------------------

def test_idempotency_replay_and_mismatch(server: Server, account: httpx.Client) -> None:
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = account.post("/v1/customers", data={"name": "once", "metadata[a]": "1"},
                         headers=key)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    replay = account.post("/v1/customers", data={"name": "once", "metadata[a]": "1"},
                          headers=key)
    assert replay.status_code == 200 and replay.content == first.content
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["request-id"] != first.headers["request-id"]
    assert ids(ok(account.get("/v1/customers"))) == [first.json()["id"]]

    for response in (
        account.post("/v1/customers", data={"name": "twice", "metadata[a]": "1"}, headers=key),
        account.post("/v1/customers", data={"name": "once"}, headers=key),
        account.post(f"/v1/customers/{first.json()['id']}", data={
            "name": "once", "metadata[a]": "1"}, headers=key),  # another path
    ):
        error = error_of(response, 400, type="idempotency_error")
        assert error["code"] == "idempotency_key_in_use" and key["Idempotency-Key"] in (
            error["message"])
    assert ids(ok(account.get("/v1/customers"))) == [first.json()["id"]]

    # Keys are per account and per mode.
    with server.client(server.new_account_key()) as other:
        elsewhere = other.post("/v1/customers", data={"name": "once", "metadata[a]": "1"},
                               headers=key)
        assert elsewhere.status_code == 200 and "idempotent-replayed" not in elsewhere.headers
        assert elsewhere.json()["id"] != first.json()["id"]
    shared = {"Idempotency-Key": f"modes-{uuid.uuid4()}"}
    with server.client(server.new_key()) as test, server.client(server.new_key(live=True)) as live:
        made = [ok(c.post("/v1/customers", data={"name": "m"}, headers=shared)) for c in (test,
                                                                                          live)]
        assert [m["livemode"] for m in made] == [False, True]


def test_idempotency_key_bounds_and_gets(account: httpx.Client) -> None:
    longest = {"Idempotency-Key": "k" * 255}
    made = ok(account.post("/v1/customers", data={"name": "a"}, headers=longest))
    assert ok(account.post("/v1/customers", data={"name": "a"}, headers=longest)) == made
    for bad in ("k" * 256, ""):
        error = error_of(account.post("/v1/customers", data={"name": "b"},
                                      headers={"Idempotency-Key": bad}), 400)
        assert error["param"] == "Idempotency-Key"
    # GET ignores the header: the list reflects what happened since.
    key = {"Idempotency-Key": "a-get"}
    assert ids(ok(account.get("/v1/customers", headers=key))) == [made["id"]]
    other = ok(account.post("/v1/customers", data={"name": "c"}))
    listed = account.get("/v1/customers", headers=key)
    assert ids(ok(listed)) == [other["id"], made["id"]]
    assert "idempotent-replayed" not in listed.headers


def test_idempotent_meter_events(account: httpx.Client) -> None:
    [customer] = make_customers(account, 1)
    meter = make_meter(account)
    event = {"event_name": meter["event_name"], "payload[stripe_customer_id]": customer,
             "payload[value]": "2.5"}
    key = {"Idempotency-Key": "ev-1"}
    first = account.post("/v1/billing/meter_events", data=event, headers=key)
    identifier = ok(first)["identifier"]
    assert identifier.startswith("idk_")  # derived from the key: a retry cannot count twice
    again = account.post("/v1/billing/meter_events", data=event, headers=key)
    assert again.content == first.content and again.headers["idempotent-replayed"] == "true"
    # Without the stored answer, the derived identifier would still catch a retry.
    dup = account.post("/v1/billing/meter_events", data={**event, "identifier": identifier})
    assert error_of(dup, 400)["code"] == "duplicate_meter_event"
    # An error answer is stored and replayed too...
    key2 = {"Idempotency-Key": "ev-2"}
    refused = account.post("/v1/billing/meter_events",
                           data={**event, "identifier": identifier}, headers=key2)
    assert error_of(refused, 400)["code"] == "duplicate_meter_event"
    replayed = account.post("/v1/billing/meter_events",
                            data={**event, "identifier": identifier}, headers=key2)
    assert replayed.status_code == 400 and replayed.content == refused.content
    assert replayed.headers["idempotent-replayed"] == "true"
    # ...but a request refused before it ran (bad params) stores nothing: fix it, same key.
    key3 = {"Idempotency-Key": "ev-3"}
    bad = account.post("/v1/billing/meter_events", data={**event, "payload[value]": "-1"},
                       headers=key3)
    assert error_of(bad, 400)["code"] == "meter_event_invalid_value"
    fixed = account.post("/v1/billing/meter_events", data={**event, "payload[value]": "1"},
                         headers=key3)
    assert ok(fixed)["payload"]["value"] == "1" and "idempotent-replayed" not in fixed.headers
    now = int(time.time())
    summary = exact(account.get(f"/v1/billing/meters/{meter['id']}/event_summaries", params={
        "customer": customer, "start_time": (now - 3600) // 60 * 60,
        "end_time": (now // 60 + 5) * 60}))
    assert summary["data"][0]["aggregated_value"] == Decimal("3.5")


def test_concurrent_requests_with_one_key(account: httpx.Client) -> None:
    """However the race goes: one effect, every answer the first one or 'still in flight'."""
    key = {"Idempotency-Key": f"race-{uuid.uuid4()}"}
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(
            lambda _: account.post("/v1/customers", data={"name": "race"}, headers=key),
            range(16)))
    answered = [r for r in responses if r.status_code == 200]
    in_flight = [r for r in responses if r.status_code != 200]
    assert answered and {r.content for r in answered} == {answered[0].content}
    for r in in_flight:
        error = error_of(r, 409, type="idempotency_error")
        assert error["code"] == "idempotency_key_in_use"
    assert ids(ok(account.get("/v1/customers"))) == [answered[0].json()["id"]]


def test_concurrent_events_count_exactly_once(account: httpx.Client) -> None:
    [customer] = make_customers(account, 1)
    meter = make_meter(account)

    def send(i: int, identifier: str | None) -> httpx.Response:
        data = {"event_name": meter["event_name"], "payload[stripe_customer_id]": customer,
                "payload[value]": f"{i}.5"}
        return account.post("/v1/billing/meter_events",
                            data={**data, "identifier": identifier} if identifier else data)

    with ThreadPoolExecutor(8) as pool:
        same = list(pool.map(lambda i: send(i, "contested"), range(16)))
    winners = [r for r in same if r.status_code == 200]
    assert len(winners) == 1
    for r in same:
        if r.status_code != 200:
            assert error_of(r, 400)["code"] == "duplicate_meter_event"
    won = Decimal(winners[0].json()["payload"]["value"])
    assert value_of(account, meter["id"], customer) == won
    with ThreadPoolExecutor(8) as pool:
        distinct = list(pool.map(lambda i: send(i, f"d{i}"), range(40)))
    assert [r.status_code for r in distinct] == [200] * 40
    assert value_of(account, meter["id"], customer) == won + sum(
        Decimal(f"{i}.5") for i in range(40))


# --- headers -------------------------------------------------------------------------------

def test_request_id_and_version_headers(server: Server, account: httpx.Client) -> None:
    responses = [
        account.get("/v1/customers"),
        account.post("/v1/customers", data={"name": "h"}),
        account.get("/v1/customers/cus_nobody"),
        account.post("/v1/customers", data={"colour": "red"}),
        account.get("/v1/nowhere"),
        account.delete("/v1/billing/meters"),
        httpx.get(f"{server.base_url}/v1/customers"),
        account.post("/v1/customers", data={"description": "x" * ((1 << 20) + 1)}),
        httpx.get(f"{server.base_url}/healthz"),
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 400, 404, 400, 401, 413, 200]
    request_ids = [r.headers["request-id"] for r in responses]
    assert all(re.fullmatch(r"req_[0-9a-f]{16}", i) for i in request_ids)
    assert len(set(request_ids)) == len(request_ids)
    assert {r.headers["stripe-version"] for r in responses} == {"2025-09-30.clover"}
    assert {r.headers["content-type"] for r in responses} == {"application/json"}
    # One Server header, ours (uvicorn's own was sent too), and a Date header
    assert {tuple(r.headers.get_list("server")) for r in responses} == {(f"metered/{__version__}",)}
    assert all(r.headers.get("date") for r in responses)


# --- bodies: nested arrays, JSON equivalent to form -----------------------------------------

def test_form_arrays_indexed_appended_and_json(account: httpx.Client) -> None:
    bodies = [
        b"dimension_payload_keys[0]=model&dimension_payload_keys[1]=region",
        b"dimension_payload_keys[]=model&dimension_payload_keys[]=region",
        b"dimension_payload_keys[1]=region&dimension_payload_keys[0]=model",
        b"dimension_payload_keys%5B0%5D=model&dimension_payload_keys%5B1%5D=region",
    ]
    meters = []
    for i, extra in enumerate(bodies):
        body = (b"display_name=d&default_aggregation[formula]=sum&event_name=arr" +
                str(i).encode() + b"&" + extra)
        meters.append(ok(account.post("/v1/billing/meters", content=body, headers=FORM)))
    meters.append(ok(account.post("/v1/billing/meters", json={
        "display_name": "d", "event_name": "arr_json", "default_aggregation": {"formula": "sum"},
        "dimension_payload_keys": ["model", "region"]})))
    assert [m["dimension_payload_keys"] for m in meters] == [["model", "region"]] * 5
    single = ok(account.post("/v1/billing/meters", data={
        "display_name": "d", "event_name": "arr_one", "default_aggregation[formula]": "sum",
        "dimension_payload_keys[]": "model"}))
    assert single["dimension_payload_keys"] == ["model"]

    # group_by[] and group_by[0] select the same groups.
    [customer] = make_customers(account, 1)
    meter = meters[0]
    for model, region, value in (("gpt", "eu", "1"), ("gpt", "us", "2"), ("llama", "eu", "4")):
        ok(account.post("/v1/billing/meter_events", data={
            "event_name": meter["event_name"], "payload[stripe_customer_id]": customer,
            "payload[value]": value, "payload[model]": model, "payload[region]": region}))
    now = int(time.time())
    window = {"customer": customer, "start_time": (now - 3600) // 60 * 60,
              "end_time": (now // 60 + 5) * 60}
    url = f"/v1/billing/meters/{meter['id']}/event_summaries"
    by_model = [ok(account.get(url, params={**window, key: "model"}))["data"]
                for key in ("group_by[]", "group_by[0]")]
    assert by_model[0] == by_model[1]
    assert [(s["dimensions"], s["aggregated_value"]) for s in by_model[0]] == [
        ({"model": "gpt"}, 3), ({"model": "llama"}, 4)]
    both = ok(account.get(url, params=[*window.items(), ("group_by[]", "model"),
                                       ("group_by[]", "region")]))["data"]
    assert [(s["dimensions"], s["aggregated_value"]) for s in both] == [
        ({"model": "gpt", "region": "eu"}, 1), ({"model": "gpt", "region": "us"}, 2),
        ({"model": "llama", "region": "eu"}, 4)]
    usage = ok(account.get(f"/v1/metered/meters/{meter['id']}/usage", params={
        **window, "group_by[0]": "region"}))
    assert [(d["dimensions"], d["aggregated_value"]) for d in usage["data"]] == [
        ({"region": "eu"}, 5), ({"region": "us"}, 2)]


def without(obj: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in keys}


def test_json_bodies_equal_form_bodies(account: httpx.Client) -> None:
    form = ok(account.post("/v1/customers", data={
        "name": "Eve", "email": "eve@example.com", "description": "d",
        "metadata[tier]": "gold", "metadata[seats]": "3"}))
    as_json = ok(account.post("/v1/customers", json={
        "name": "Eve", "email": "eve@example.com", "description": "d",
        "metadata": {"tier": "gold", "seats": 3}}))  # numbers become strings, as in a form
    assert without(form, "id", "created", "invoice_prefix") == without(
        as_json, "id", "created", "invoice_prefix")
    assert as_json["metadata"] == {"tier": "gold", "seats": "3"}
    charset = account.post("/v1/customers", content=json.dumps({"name": "Ünïcödé"}).encode(),
                           headers={"content-type": "Application/JSON; charset=utf-8"})
    assert ok(charset)["name"] == "Ünïcödé"

    updated = [ok(account.post(f"/v1/customers/{c['id']}", **body))
               for c, body in ((form, {"data": {"metadata[tier]": "", "name": "Eva"}}),
                               (as_json, {"json": {"metadata": {"tier": ""}, "name": "Eva"}}))]
    assert [(u["name"], u["metadata"]) for u in updated] == [("Eva", {"seats": "3"})] * 2

    form_meter = ok(account.post("/v1/billing/meters", data={
        "display_name": "Tokens", "event_name": "tok_form", "default_aggregation[formula]": "max",
        "customer_mapping[type]": "by_id", "customer_mapping[event_payload_key]": "cust",
        "value_settings[event_payload_key]": "n", "event_time_window": "hour"}))
    json_meter = ok(account.post("/v1/billing/meters", json={
        "display_name": "Tokens", "event_name": "tok_json", "default_aggregation": {
            "formula": "max"}, "customer_mapping": {"type": "by_id", "event_payload_key": "cust"},
        "value_settings": {"event_payload_key": "n"}, "event_time_window": "hour"}))
    volatile = ("id", "created", "updated", "event_name")
    assert without(form_meter, *volatile) == without(json_meter, *volatile)
    assert form_meter["customer_mapping"] == {"event_payload_key": "cust", "type": "by_id"}

    # Meter events: a JSON number and form text give the same usage; the payload is echoed as
    # sent. Adjustments work from either body too.
    customer = form["id"]
    sent_form = ok(account.post("/v1/billing/meter_events", data={
        "event_name": "tok_form", "identifier": "f1", "payload[cust]": customer,
        "payload[n]": "2.75"}))
    sent_json = ok(account.post("/v1/billing/meter_events", json={
        "event_name": "tok_json", "identifier": "j1", "payload": {"cust": customer, "n": 2.75}}))
    assert (sent_form["payload"]["n"], sent_json["payload"]["n"]) == ("2.75", 2.75)
    assert without(sent_form, "event_name", "identifier", "payload", "created", "timestamp") == (
        without(sent_json, "event_name", "identifier", "payload", "created", "timestamp"))
    for meter in (form_meter, json_meter):
        assert value_of(account, meter["id"], customer) == Decimal("2.75")
    ok(account.post("/v1/billing/meter_event_adjustments", data={
        "event_name": "tok_form", "type": "cancel", "cancel[identifier]": "f1"}))
    ok(account.post("/v1/billing/meter_event_adjustments", json={
        "event_name": "tok_json", "type": "cancel", "cancel": {"identifier": "j1"}}))
    for meter in (form_meter, json_meter):
        assert value_of(account, meter["id"], customer) == Decimal(0)


def value_of(http: httpx.Client, meter_id: str, customer: str) -> Decimal:
    now = int(time.time())
    body = exact(http.get(f"/v1/billing/meters/{meter_id}/event_summaries", params={
        "customer": customer, "start_time": (now - 3600) // 60 * 60,
        "end_time": (now // 60 + 5) * 60}))
    [summary] = body["data"]
    return Decimal(summary["aggregated_value"])


@pytest.mark.parametrize(("values", "text"), [
    (["0.1", "0.2"], "0.3"),
    (["999999999999999"] * 3, "2999999999999997"),
    (["0.000000000001"] * 3, None),
    (["1.5", "1.5"], "3"),
    (["123456789.123456", "0.876544"], "123456790"),
])
def test_summaries_are_exact_json_numbers(account: httpx.Client, values: list[str],
                                          text: str | None) -> None:
    [customer] = make_customers(account, 1)
    meter = make_meter(account)
    ok(account.post("/v1/metered/events/batch", json=[
        {"event_name": meter["event_name"], "payload": {"stripe_customer_id": customer,
                                                        "value": v}} for v in values]))
    now = int(time.time())
    response = account.get(f"/v1/billing/meters/{meter['id']}/event_summaries", params={
        "customer": customer, "start_time": (now - 3600) // 60 * 60,
        "end_time": (now // 60 + 5) * 60})
    expected = sum((Decimal(v) for v in values), Decimal(0))
    value = exact(response)["data"][0]["aggregated_value"]
    assert Decimal(value) == expected
    if text is not None:  # written without exponent or trailing zeros
        assert f'"aggregated_value":{text},' in response.text
        assert isinstance(value, int) == ("." not in text)


def test_v1_and_v2_object_shapes(server: Server, account: httpx.Client) -> None:
    [customer] = make_customers(account, 1)
    meter = make_meter(account)
    ts = int(time.time()) - 120
    v1 = ok(account.post("/v1/billing/meter_events", data={
        "event_name": meter["event_name"], "identifier": "shape-1", "timestamp": str(ts),
        "payload[stripe_customer_id]": customer, "payload[value]": "1"}))
    assert without(v1, "created") == {
        "object": "billing.meter_event", "event_name": meter["event_name"],
        "identifier": "shape-1", "livemode": False, "timestamp": ts,
        "payload": {"stripe_customer_id": customer, "value": "1"}}
    iso = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(ts))
    v2 = ok(account.post("/v2/billing/meter_events", json={
        "event_name": meter["event_name"], "identifier": "shape-2", "timestamp": iso,
        "payload": {"stripe_customer_id": customer, "value": "1"}}))
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", v2["created"])
    assert without(v2, "created") == {
        "object": "v2.billing.meter_event", "event_name": meter["event_name"],
        "identifier": "shape-2", "livemode": False, "timestamp": iso,
        "payload": {"stripe_customer_id": customer, "value": "1"}}
    session = ok(account.post("/v2/billing/meter_event_session", json={}))
    assert set(session) == {"id", "object", "authentication_token", "created", "expires_at",
                            "livemode"}
    stream = httpx.post(f"{server.base_url}/v2/billing/meter_event_stream", json={"events": [
        {"event_name": meter["event_name"], "identifier": "shape-3",
         "payload": {"stripe_customer_id": customer, "value": "1"}}]},
        headers={"Authorization": f"Bearer {session['authentication_token']}"})
    assert stream.status_code == 202
    assert stream.json() == {"object": "metered.event_batch", "accepted": 1, "duplicate": 0,
                             "rejected": 0, "results": [
                                 {"index": 0, "identifier": "shape-3", "status": "accepted"}]}
    v2_adj = ok(account.post("/v2/billing/meter_event_adjustments", json={
        "event_name": meter["event_name"], "type": "cancel", "cancel": {"identifier": "shape-2"}}))
    assert without(v2_adj, "id", "created") == {
        "object": "v2.billing.meter_event_adjustment", "event_name": meter["event_name"],
        "cancel": {"identifier": "shape-2"}, "livemode": False, "status": "complete",
        "type": "cancel"}
    v1_adj = ok(account.post("/v1/billing/meter_event_adjustments", data={
        "event_name": meter["event_name"], "cancel[identifier]": "shape-1"}))
    assert v1_adj["id"].startswith("mtrea_") and without(v1_adj, "id") == {
        "object": "billing.meter_event_adjustment", "event_name": meter["event_name"],
        "cancel": {"identifier": "shape-1"}, "livemode": False, "status": "complete",
        "type": "cancel"}
    assert value_of(account, meter["id"], customer) == Decimal(1)


def test_tiny_values_are_written_in_plain_digits(server: Server) -> None:
    with server.client(server.new_account_key()) as c:
        customer = c.post("/v1/customers", data={"name": "tiny"}).json()["id"]
        meter = c.post("/v1/billing/meters", data={
            "display_name": "t", "event_name": "tiny", "default_aggregation[formula]": "sum",
        }).json()["id"]
        c.post("/v1/billing/meter_events", data={
            "event_name": "tiny", "payload[stripe_customer_id]": customer,
            "payload[value]": "0.000000000001"})
        now = int(time.time())
        raw = c.get(f"/v1/metered/meters/{meter}/usage", params={
            "start_time": (now - 3600) // 60 * 60, "end_time": (now // 60 + 2) * 60}).content
    assert b'"aggregated_value":0.000000000001' in raw
