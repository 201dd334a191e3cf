"""Isolation audit over every route: an object of another account, or of the other mode (test
vs live), is invisible. For each route with an object id, a request made with a foreign key
gets 404 (or a 400 about another parameter, checked before the lookup), and the owner's
object is unchanged afterwards; foreign lists never show the owner's objects, and filtering a
list by the owner's customer is no such customer."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from api.test_openapi import Tenant, make_tenant

from metered.api.openapi import fresh_router, route_table

from conftest import Server

# Parameters some actions need, so that they reach the object's lookup.
BODIES = {"/advance": {"frozen_time": str(int(time.time()) + 3600)}}


@pytest.fixture(scope="module")
def owner(server: Server) -> Tenant:
    """Objects of every kind in the default account's test mode."""
    return make_tenant(server, server.key)


@pytest.fixture(scope="module", params=["another account", "live mode"])
def stranger(request: pytest.FixtureRequest, server: Server) -> Iterator[httpx.Client]:
    key = server.new_account_key() if request.param == "another account" else (
        server.new_key(live=True))
    with server.client(key) as client:
        yield client


def object_routes(owner: Tenant) -> list[tuple[str, str, str]]:
    """(method, path with the owner's id, path template) for every route naming an object."""
    out = []
    for method, path in sorted(route_table(fresh_router())):
        if "{id}" not in path or path.startswith("/dashboard"):
            continue
        object_id = owner.id_for(path)
        assert object_id is not None, f"no object of the owner for {path}"
        out.append((method, path.replace("{id}", object_id), path))
    return out


def snapshot(server: Server, owner: Tenant) -> dict[str, Any]:
    """Every owned object as its owner sees it (the control: the ids are real)."""
    out = {}
    with server.client(owner.key) as http:
        for prefix, object_id in owner.ids.items():
            if prefix == "/v1/metered/meters":  # the usage route, not an object
                continue
            answer = http.get(f"{prefix}/{object_id}")
            assert answer.status_code == 200, (prefix, answer.text[:200])
            out[prefix] = answer.json()
    return out


def test_foreign_keys_see_no_object(server: Server, owner: Tenant,
                                    stranger: httpx.Client) -> None:
    before = snapshot(server, owner)
    leaks = []
    for method, path, template in object_routes(owner):
        body = next((b for suffix, b in BODIES.items() if template.endswith(suffix)), {})
        response = stranger.request(method, path, data=body if method == "POST" else None)
        error = response.json().get("error", {}) if response.status_code >= 400 else {}
        hidden = response.status_code == 404 or (
            response.status_code == 400 and error.get("param") not in (None, "id"))
        if not hidden:
            leaks.append((method, template, response.status_code, response.text[:200]))
    assert leaks == []
    assert snapshot(server, owner) == before  # nothing a stranger sent changed anything


LISTS = ["/v1/customers", "/v1/billing/meters", "/v1/products", "/v1/prices",
         "/v1/subscriptions", "/v1/invoices", "/v1/billing/credit_grants",
         "/v1/billing/alerts", "/v1/test_helpers/test_clocks", "/v1/webhook_endpoints",
         "/v1/events", "/v1/metered/credit_holds"]


def test_foreign_lists_show_nothing_of_the_owner(owner: Tenant,
                                                 stranger: httpx.Client) -> None:
    owned = set(owner.ids.values()) | set(owner.refs.values())
    for path in LISTS:
        answer = stranger.get(path, params={"limit": 100})
        assert answer.status_code == 200, (path, answer.text)
        assert owned.isdisjoint(item["id"] for item in answer.json()["data"]), path
    customer = owner.refs["customer"]
    for path in ("/v1/invoices", "/v1/subscriptions", "/v1/billing/credit_grants",
                 "/v1/metered/credit_holds", "/v1/billing/credit_balance_transactions",
                 "/v1/billing/credit_balance_summary"):
        answer = stranger.get(path, params={"customer": customer})
        assert answer.status_code == 404, (path, answer.status_code, answer.text[:200])
    preview = stranger.post("/v1/invoices/create_preview",
                            data={"subscription": owner.refs["subscription"]})
    assert preview.status_code == 404
