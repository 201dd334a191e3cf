"""Random form bodies and queries against every billing route of a live server: never a 5xx,
every refusal in Stripe's error format, and nothing accepted by a refusal (the valid objects
made first are unchanged afterwards)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from api.test_fuzz_no_5xx import SCALARS, check
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Server

NAMES = ["customer", "items", "price", "quantity", "deleted", "id", "metadata", "currency",
         "product", "product_data", "name", "unit_amount", "unit_amount_decimal", "tiers",
         "up_to", "flat_amount", "tiers_mode", "billing_scheme", "recurring", "interval",
         "interval_count", "usage_type", "meter", "transform_quantity", "divide_by", "round",
         "metered", "rates", "dimensions", "minimum_amount", "trial_end", "trial_period_days",
         "billing_cycle_anchor", "cancel_at", "cancel_at_period_end", "proration_behavior",
         "subscription", "amount", "monetary", "value", "type", "applicability_config",
         "scope", "price_type", "prices", "priority", "category", "expires_at",
         "effective_at", "usage_threshold", "gte", "filters", "recurrence", "title",
         "alert_type", "frozen_time", "expires_in", "filter", "credit_grant", "status",
         "limit", "starting_after", "expand", "0", "", "x"]


@st.composite
def form_key(draw: st.DrawFn) -> str:
    key = draw(st.sampled_from(NAMES))
    for _ in range(draw(st.integers(0, 3))):
        key += f"[{draw(st.one_of(st.sampled_from(NAMES), st.integers(0, 3).map(str)))}]"
    return key


bodies = st.lists(st.tuples(form_key(), SCALARS), max_size=10).map(
    lambda pairs: "&".join(f"{k}={quote(v, safe='%')}" for k, v in pairs).encode(
        "utf-8", "surrogatepass"))


@dataclass
class Tenant:
    http: httpx.Client
    ids: dict[str, str]


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[Tenant]:
    with server.client(server.new_account_key()) as http:
        def post(path: str, data: dict[str, str]) -> str:
            response = http.post(path, data=data)
            assert response.status_code == 200, response.text
            return str(response.json()["id"])

        ids = {"customer": post("/v1/customers", {"name": "fuzz"})}
        ids["meter"] = post("/v1/billing/meters", {
            "display_name": "f", "event_name": "f", "default_aggregation[formula]": "sum"})
        ids["product"] = post("/v1/products", {"name": "fuzz"})
        ids["price"] = post("/v1/prices", {
            "currency": "usd", "product": ids["product"], "unit_amount": "3",
            "recurring[interval]": "month", "recurring[usage_type]": "metered",
            "recurring[meter]": ids["meter"]})
        ids["subscription"] = post("/v1/subscriptions", {"customer": ids["customer"],
                                                         "items[0][price]": ids["price"]})
        ids["invoice"] = http.get("/v1/invoices").json()["data"][0]["id"]
        ids["clock"] = post("/v1/test_helpers/test_clocks", {"frozen_time": "1767225600"})
        ids["grant"] = post("/v1/billing/credit_grants", {
            "customer": ids["customer"], "amount[type]": "monetary",
            "amount[monetary][currency]": "usd", "amount[monetary][value]": "100",
            "applicability_config[scope][price_type]": "metered"})
        before = {k: http.get(path.format(**ids)).json() for k, path in READS.items()}
        yield Tenant(http, ids)
        after = {k: http.get(path.format(**ids)).json() for k, path in READS.items()}
        for key in READS:  # nothing a fuzzed request did changed the objects made first
            assert _stable(after[key]) == _stable(before[key]), key


READS = {"price": "/v1/prices/{price}", "grant": "/v1/billing/credit_grants/{grant}",
         "clock": "/v1/test_helpers/test_clocks/{clock}"}


def _stable(obj: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in obj.items() if k not in ("updated",)}


FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])
POSTS = ["/v1/products", "/v1/prices", "/v1/subscriptions", "/v1/subscriptions/{subscription}",
         "/v1/subscription_items", "/v1/invoices/create_preview", "/v1/invoices/{invoice}",
         "/v1/billing/credit_grants", "/v1/billing/alerts", "/v1/metered/credit_holds",
         "/v1/test_helpers/test_clocks", "/v1/invoices/{invoice}/pay"]
GETS = ["/v1/subscriptions", "/v1/invoices", "/v1/prices", "/v1/billing/credit_grants",
        "/v1/billing/credit_balance_summary", "/v1/billing/credit_balance_transactions",
        "/v1/billing/alerts", "/v1/metered/credit_holds", "/v1/subscription_items"]


@FUZZ
@given(route=st.sampled_from(POSTS), body=bodies)
def test_billing_posts(tenant: Tenant, route: str, body: bytes) -> None:
    check(tenant.http.post(route.format(**tenant.ids), content=body,
                           headers={"content-type": "application/x-www-form-urlencoded"}))


@FUZZ
@given(route=st.sampled_from(GETS), query=bodies)
def test_billing_queries(tenant: Tenant, route: str, query: bytes) -> None:
    check(tenant.http.get(f"{route}?{query.decode('utf-8', 'surrogateescape')}"))
