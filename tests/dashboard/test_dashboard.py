"""The dashboard (metered.dashboard, api.routes.dashboard): its routes, and a real browser
(Debian's Chromium driven by playwright-core, tests/dashboard/browser.mjs) opening every tab
against a live server holding usage, a finalized invoice, a credit grant and a refused event."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import ROOT, Server

CHROMIUM = Path("/usr/bin/chromium")
DASHBOARD_NODE = ROOT / "dashboard"
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
CLOCK_START = 1735689600  # 2025-01-01T00:00:00Z
DAY = 86400


# --- routes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "content_type"), [
    ("/dashboard", "text/html; charset=utf-8"),
    ("/dashboard/static/index.html", "text/html; charset=utf-8"),
    ("/dashboard/static/app.js", "text/javascript; charset=utf-8"),
    ("/dashboard/static/app.css", "text/css; charset=utf-8"),
    ("/dashboard/static/chart.umd.min.js", "text/javascript; charset=utf-8"),
])
def test_pages_are_served_without_auth_with_their_content_type(
        server: Server, path: str, content_type: str) -> None:
    response = httpx.get(server.base_url + path, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == content_type
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.content


def test_the_charting_library_keeps_its_license_header(server: Server) -> None:
    head = httpx.get(f"{server.base_url}/dashboard/static/chart.umd.min.js", timeout=10).text[:200]
    assert "Chart.js v4" in head and "MIT License" in head


@pytest.mark.parametrize("path", [
    "/dashboard/static/nope.js",
    "/dashboard/static/__init__.py",
    "/dashboard/static/..%2F__init__.py",
    "/dashboard/static/..%2F..%2Fapi%2Fapp.py",
    "/dashboard/static/%2e%2e%2F__init__.py",
    "/dashboard/static/..%5C__init__.py",
    "/dashboard/static/",
])
def test_unknown_names_and_path_traversal_answer_404(server: Server, path: str) -> None:
    response = httpx.get(server.base_url + path, timeout=10)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["type"] == "invalid_request_error"


# --- the browser -----------------------------------------------------------------------------


def _chromium() -> Path:
    """Debian's Chromium, installed if missing and possible (CI installs it: .ci/run)."""
    if not CHROMIUM.exists() and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
                       capture_output=True, timeout=600, check=False)
    if not CHROMIUM.exists():
        pytest.skip("/usr/bin/chromium is absent and could not be installed"
                    " (apt-get install chromium)")
    return CHROMIUM


def _node_modules() -> None:
    if not (DASHBOARD_NODE / "node_modules" / "playwright-core").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=DASHBOARD_NODE,
                       check=True, timeout=300)


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


def _prepare(http: httpx.Client) -> dict[str, Any]:
    """A meter with a day of events, a wall-clock customer subscribed with credit, a
    customer on a test clock advanced past a period (a finalized invoice that credit paid in
    part), and refused events."""
    post = lambda path, **data: _ok(http.post(path, data=data))  # noqa: E731
    meter = post("/v1/billing/meters", display_name="Tokens", event_name="dash_tokens",
                 **{"default_aggregation[formula]": "sum", "dimension_payload_keys[0]": "model"})
    price = post("/v1/prices", currency="usd", unit_amount_decimal="2",  # 2 cents a token
                 **{"product_data[name]": "Tokens", "recurring[interval]": "month",
                    "recurring[usage_type]": "metered", "recurring[meter]": meter["id"]})
    grant = lambda customer, cents: post(  # noqa: E731
        "/v1/billing/credit_grants", customer=customer, category="paid",
        **{"amount[type]": "monetary", "amount[monetary][currency]": "usd",
           "amount[monetary][value]": str(cents),
           "applicability_config[scope][price_type]": "metered"})

    # On the wall clock: 175 tokens in the last day, 25 of them in the current period.
    acme = post("/v1/customers", name="Acme Wall")
    post("/v1/subscriptions", customer=acme["id"], **{"items[0][price]": price["id"]})
    grant(acme["id"], 1000)
    now = int(time.time())
    events = [
        {"event_name": "dash_tokens", "identifier": "w1", "timestamp": now - 3 * 3600,
         "payload": {"stripe_customer_id": acme["id"], "value": "100", "model": "large"}},
        {"event_name": "dash_tokens", "identifier": "w2", "timestamp": now - 2 * 3600,
         "payload": {"stripe_customer_id": acme["id"], "value": "50", "model": "small"}},
        {"event_name": "dash_tokens", "identifier": "w3",
         "payload": {"stripe_customer_id": acme["id"], "value": "25", "model": "large"}},
        # Refused: no such customer, and a value that is no number.
        {"event_name": "dash_tokens", "identifier": "bad1",
         "payload": {"stripe_customer_id": "cus_nobody", "value": "5"}},
        {"event_name": "dash_tokens", "identifier": "bad2",
         "payload": {"stripe_customer_id": acme["id"], "value": "lots"}},
    ]
    batch = _ok(http.post("/v1/metered/events/batch", json=events))
    assert (batch["accepted"], batch["rejected"]) == (3, 2), batch

    # On a test clock: 1,000 tokens in January ($20.00), $5.00 of credit, then February.
    clock = post("/v1/test_helpers/test_clocks", frozen_time=str(CLOCK_START), name="dashboard")
    globex = post("/v1/customers", name="Globex Clock", test_clock=clock["id"])
    post("/v1/subscriptions", customer=globex["id"], **{"items[0][price]": price["id"]})
    grant(globex["id"], 500)
    post("/v1/billing/meter_events", event_name="dash_tokens", identifier="c1",
         **{"payload[stripe_customer_id]": globex["id"], "payload[value]": "1000",
            "payload[model]": "large"})
    post(f"/v1/test_helpers/test_clocks/{clock['id']}/advance",
         frozen_time=str(CLOCK_START + 33 * DAY))
    invoices = _ok(http.get("/v1/invoices", params={"customer": globex["id"]}))["data"]
    closing = [i for i in invoices if i["subtotal"] == 2000]
    assert closing and closing[0]["status"] in ("open", "paid"), invoices
    assert closing[0]["total"] == 1500, closing[0]

    deadline = time.monotonic() + 12  # error reports are emitted every five seconds
    while True:
        reports = _ok(http.get("/v1/events", params={
            "type": "v1.billing.meter.error_report_triggered"}))["data"]
        if reports or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert reports, "no v1.billing.meter.error_report_triggered event within 12 s"
    return {"meter": meter["id"], "acme": acme["id"], "globex": globex["id"],
            "invoice": closing[0]["id"], "invoice_number": closing[0]["number"]}


def test_every_tab_in_a_real_browser(server: Server) -> None:
    chromium = _chromium()
    _node_modules()
    key = server.new_account_key()
    with server.client(key) as http:
        expected = _prepare(http)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result = subprocess.run(
        ["node", str(Path(__file__).with_name("browser.mjs"))],
        cwd=DASHBOARD_NODE, capture_output=True, text=True, timeout=120,
        env={**os.environ, "DASHBOARD_URL": f"{server.base_url}/dashboard",
             "DASHBOARD_KEY": key, "DASHBOARD_EXPECT": json.dumps(expected),
             "DASHBOARD_ARTIFACTS": str(ARTIFACTS), "CHROMIUM": str(chromium)},
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    assert time.monotonic() - started < 60, "the browser test took over a minute"
    for name in ("login", "usage", "customers", "invoices", "rejected"):
        assert (ARTIFACTS / f"{name}.png").stat().st_size > 5000, name
