"""Plays a golden scenario (tests/golden/scenarios/*.toml) against a live server.

A scenario is a test clock's story: meters, prices, a customer on the clock, then steps in
time order. Each step first advances the clock to its `at` (running every billing cycle and
finalization in between), then does its one action and checks what it states. Amounts are
whole minor units; quantities are decimal strings. See tests/golden/README.md.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

SCENARIOS = Path(__file__).parent / "scenarios"


# The keys a scenario may use: a misspelt or misplaced key (say, a step's `balance` written
# under its last `[[steps.invoices]]` table) fails instead of being skipped unchecked.
STEP_KEYS = {"at", "grants", "void_grant", "expire_grant", "holds", "capture_hold",
             "release_hold", "subscribe", "update", "cancel",
             "events", "cancel_events", "finalize", "pay", "void", "mark_uncollectible",
             "preview", "invoices", "balance"}
INVOICE_KEYS = {"status", "billing_reason", "subtotal", "credits", "total", "amount_due",
                "currency", "period_start", "period_end", "lines", "line_credits"}
BALANCE_KEYS = {"grant", "prices", "currency", "ledger", "available", "real_time"}
GRANT_KEYS = {"name", "value", "currency", "category", "priority", "effective_at", "expires_at",
              "prices"}
HOLD_KEYS = {"name", "amount", "currency", "expires_in", "refused"}


def known(keys: Any, allowed: set[str], where: str) -> None:
    unknown = sorted(set(keys) - allowed)
    assert not unknown, f"{where}: unknown keys {unknown} (allowed: {sorted(allowed)})"


def ts(text: str | int) -> int:
    if isinstance(text, int):
        return text
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def form(prefix: str, value: Any, out: dict[str, str]) -> dict[str, str]:
    """Nested data as Stripe's form keys: {"a": [{"b": 1}]} -> {"a[0][b]": "1"}."""
    if isinstance(value, dict):
        for k, v in value.items():
            form(f"{prefix}[{k}]" if prefix else k, v, out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            form(f"{prefix}[{i}]", v, out)
    elif isinstance(value, bool):
        out[prefix] = "true" if value else "false"
    else:
        out[prefix] = str(value)
    return out


@dataclass
class Play:
    client: httpx.Client
    scenario: dict[str, Any]
    ids: dict[str, str] = field(default_factory=dict)  # scenario names -> object ids
    clock: str = ""
    now: int = 0
    invoices_seen: list[str] = field(default_factory=list)

    def post(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(path, data=form("", data, {}))
        assert response.status_code == 200, f"POST {path}: {response.text}"
        return dict(response.json())

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.client.get(path, params=params)
        assert response.status_code == 200, f"GET {path}: {response.text}"
        return dict(response.json())

    def setup(self) -> None:
        s = self.scenario
        self.now = ts(s["start"])
        self.clock = self.post("/v1/test_helpers/test_clocks", {"frozen_time": self.now})["id"]
        self.ids["customer"] = self.post("/v1/customers", {"name": s["title"][:200],
                                                           "test_clock": self.clock})["id"]
        for meter in s.get("meters", []):
            data: dict[str, Any] = {
                "display_name": meter["event_name"], "event_name": meter["event_name"],
                "default_aggregation": {"formula": meter.get("formula", "sum")},
            }
            if meter.get("dimensions"):
                data["dimension_payload_keys"] = meter["dimensions"]
            self.ids["meter:" + meter["event_name"]] = self.post("/v1/billing/meters", data)["id"]
        product = self.post("/v1/products", {"name": s.get("product", "Usage")})["id"]
        for name, spec in s.get("prices", {}).items():
            data = {k: v for k, v in spec.items() if k not in ("meter", "interval",
                                                               "interval_count", "usage_type")}
            data["product"] = product
            data.setdefault("currency", "usd")
            data["recurring"] = {"interval": spec.get("interval", "month"),
                                 "interval_count": spec.get("interval_count", 1),
                                 "usage_type": spec.get("usage_type", "metered")}
            if "meter" in spec:
                data["recurring"]["meter"] = self.ids["meter:" + spec["meter"]]
            self.ids["price:" + name] = self.post("/v1/prices", data)["id"]

    def advance(self, at: int) -> None:
        if at > self.now:
            clock = self.post(f"/v1/test_helpers/test_clocks/{self.clock}/advance",
                              {"frozen_time": at})
            assert clock["status"] == "ready" and clock["frozen_time"] == at
            self.now = at

    def items(self, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for entry in entries:
            item = dict(entry)
            if "price" in item:
                item["price"] = self.ids["price:" + item["price"]]
            if "item" in item:
                item["id"] = self.ids["item:" + item.pop("item")]
            out.append(item)
        return out

    def remember_items(self, sub: dict[str, Any]) -> None:
        for item in sub["items"]["data"]:
            for name, price_id in list(self.ids.items()):
                if name.startswith("price:") and price_id == item["price"]["id"]:
                    self.ids["item:" + name[6:]] = item["id"]

    # --- actions ----------------------------------------------------------------------------

    def subscribe(self, spec: dict[str, Any]) -> None:
        data = {k: (ts(v) if k in ("billing_cycle_anchor", "trial_end", "cancel_at")
                    and v != "now" else v) for k, v in spec.items()}
        data["customer"] = self.ids["customer"]
        data["items"] = self.items(spec["items"])
        sub = self.post("/v1/subscriptions", data)
        self.ids["subscription"] = sub["id"]
        self.remember_items(sub)

    def update(self, spec: dict[str, Any]) -> None:
        data = {k: (ts(v) if k == "cancel_at" else v) for k, v in spec.items()}
        if "items" in data:
            data["items"] = self.items(data["items"])
        sub = self.post(f"/v1/subscriptions/{self.ids['subscription']}", data)
        self.remember_items(sub)

    def cancel(self, spec: dict[str, Any]) -> None:
        response = self.client.delete(f"/v1/subscriptions/{self.ids['subscription']}",
                                      params=form("", spec, {}))
        assert response.status_code == 200, response.text

    def events(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            payload = {"stripe_customer_id": self.ids["customer"]}
            if "value" in event:
                payload["value"] = event["value"]
            payload.update(event.get("dimensions", {}))
            data = {"event_name": event["meter"], "payload": payload,
                    "timestamp": ts(event.get("ts", self.now))}
            if "id" in event:
                data["identifier"] = event["id"]
            if not event.get("duplicate"):
                self.post("/v1/billing/meter_events", data)
                continue
            response = self.client.post("/v1/billing/meter_events", data=form("", data, {}))
            assert response.json()["error"]["code"] == "duplicate_meter_event", response.text

    def cancel_events(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.post("/v1/billing/meter_event_adjustments", {
                "event_name": event["meter"], "type": "cancel",
                "cancel": {"identifier": event["id"]}})

    def invoice_action(self, action: str, which: int) -> None:
        invoice = self.invoices()[which]
        self.post(f"/v1/invoices/{invoice['id']}/{action}", {})

    def invoices(self) -> list[dict[str, Any]]:
        """The customer's invoices, oldest first."""
        listed = self.get("/v1/invoices", customer=self.ids["customer"], limit=100)
        return list(reversed(listed["data"]))

    def preview(self) -> dict[str, Any]:
        return self.post("/v1/invoices/create_preview",
                         {"subscription": self.ids["subscription"]})

    # --- credits ----------------------------------------------------------------------------

    def grants(self, grants: list[dict[str, Any]]) -> None:
        """Credit grants: monetary, for every metered price or for the listed prices."""
        for grant in grants:
            known(grant, GRANT_KEYS, f"grant {grant.get('name')}")
            scope: dict[str, Any] = {"price_type": "metered"}
            if grant.get("prices"):
                scope = {"prices": [{"id": self.ids["price:" + name]}
                                    for name in grant["prices"]]}
            data: dict[str, Any] = {
                "customer": self.ids["customer"],
                "name": grant["name"],
                "amount": {"type": "monetary",
                           "monetary": {"currency": grant.get("currency", "usd"),
                                        "value": grant["value"]}},
                "applicability_config": {"scope": scope},
            }
            for key in ("category", "priority"):
                if key in grant:
                    data[key] = grant[key]
            for key in ("effective_at", "expires_at"):
                if key in grant:
                    data[key] = ts(grant[key])
            self.ids["grant:" + grant["name"]] = self.post("/v1/billing/credit_grants",
                                                           data)["id"]

    def void_grant(self, name: str) -> None:
        self.post(f"/v1/billing/credit_grants/{self.ids['grant:' + name]}/void", {})

    def expire_grant(self, name: str) -> None:
        self.post(f"/v1/billing/credit_grants/{self.ids['grant:' + name]}/expire", {})

    def holds(self, holds: list[dict[str, Any]]) -> None:
        """Native credit holds; `refused = true` expects 402 insufficient_credit."""
        for hold in holds:
            known(hold, HOLD_KEYS, f"hold {hold.get('name')}")
            data: dict[str, Any] = {"customer": self.ids["customer"], "amount": hold["amount"],
                                    "currency": hold.get("currency", "usd")}
            if "expires_in" in hold:
                data["expires_in"] = hold["expires_in"]
            if not hold.get("refused"):
                self.ids["hold:" + hold["name"]] = self.post("/v1/metered/credit_holds",
                                                             data)["id"]
                continue
            response = self.client.post("/v1/metered/credit_holds", data=form("", data, {}))
            assert response.status_code == 402, f"hold {hold['name']}: {response.text}"
            assert response.json()["error"]["code"] == "insufficient_credit", response.text

    def capture_hold(self, spec: str | dict[str, Any]) -> None:
        """`"name"` or `{ name = "...", amount = N }` (what the request used, for the record)."""
        name, data = (spec, {}) if isinstance(spec, str) else (
            spec["name"], {k: v for k, v in spec.items() if k != "name"})
        self.post(f"/v1/metered/credit_holds/{self.ids['hold:' + name]}/capture", data)

    def release_hold(self, name: str) -> None:
        self.post(f"/v1/metered/credit_holds/{self.ids['hold:' + name]}/release", {})

    def balance(self, spec: dict[str, Any]) -> dict[str, Any]:
        """The customer's credit balance summary over its grants for every metered price; with
        `prices` (scenario price names), over its grants scoped to those prices; with `grant`
        (a scenario grant name), over that one grant."""
        params: dict[str, Any] = {"customer": self.ids["customer"]}
        if "grant" in spec:
            params["filter[type]"] = "credit_grant"
            params["filter[credit_grant]"] = self.ids["grant:" + spec["grant"]]
            return self.get("/v1/billing/credit_balance_summary", **params)
        params["filter[type]"] = "applicability_scope"
        if spec.get("prices"):
            for i, name in enumerate(spec["prices"]):
                params[f"filter[applicability_scope][prices][{i}][id]"] = (
                    self.ids["price:" + name])
        else:
            params["filter[applicability_scope][price_type]"] = "metered"
        return self.get("/v1/billing/credit_balance_summary", **params)


def credits_of(invoice: dict[str, Any]) -> int:
    """What credit grants pay of an invoice: the sum of its total_pretax_credit_amounts."""
    return sum(credit["amount"] for credit in invoice.get("total_pretax_credit_amounts") or [])


def check_invoice(actual: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    known(expected, INVOICE_KEYS, where)
    for key in ("status", "billing_reason", "subtotal", "total", "amount_due", "currency"):
        if key in expected:
            assert actual[key] == expected[key], (
                f"{where}: {key} is {actual[key]!r}, expected {expected[key]!r}")
    if "credits" in expected:
        assert credits_of(actual) == expected["credits"], (
            f"{where}: credits are {credits_of(actual)!r}, expected {expected['credits']!r}")
    if "line_credits" in expected:
        got_credits = [sum(c["amount"] for c in line.get("pretax_credit_amounts") or [])
                       for line in actual["lines"]["data"]]
        assert got_credits == expected["line_credits"], (
            f"{where}: line credits\n got  {got_credits}\n want {expected['line_credits']}")
    for key in ("period_start", "period_end"):
        if key in expected:
            assert actual[key] == ts(expected[key]), f"{where}: {key}"
    if "lines" in expected:
        got = [(line["metered"]["kind"], line["quantity_decimal"], line["amount"])
               for line in actual["lines"]["data"]]
        want = [(line[0], str(line[1]), line[2]) for line in expected["lines"]]
        assert got == want, f"{where}: lines\n got  {got}\n want {want}"
    total = sum(line["amount"] for line in actual["lines"]["data"])
    assert total == actual["subtotal"], f"{where}: lines sum to {total}, not the subtotal"
    assert actual["total"] == actual["subtotal"] - credits_of(actual), (
        f"{where}: total {actual['total']} is not the subtotal {actual['subtotal']}"
        f" less the credits {credits_of(actual)}")


def check_balance(summary: dict[str, Any], expected: dict[str, Any], where: str) -> None:
    """`ledger` and `available` of the summary's first balance (of `currency`'s, if stated),
    0 when there is none, and `real_time` of the matching native `metered.balances[]` entry."""
    known(expected, BALANCE_KEYS, where)
    currency = expected.get("currency")
    balances = [b for b in summary["balances"]
                if currency in (None, b["ledger_balance"]["monetary"]["currency"])]
    native = [b for b in summary.get("metered", {}).get("balances") or []
              if currency in (None, b["currency"])]
    got = {
        "ledger": balances[0]["ledger_balance"]["monetary"]["value"] if balances else 0,
        "available": balances[0]["available_balance"]["monetary"]["value"] if balances else 0,
        "real_time": native[0]["real_time_available"] if native else 0,
    }
    for key in ("ledger", "available", "real_time"):
        if key in expected:
            assert got[key] == expected[key], (
                f"{where}: balance {key} is {got[key]!r}, expected {expected[key]!r}")


def play(client: httpx.Client, path: Path) -> None:
    scenario = tomllib.loads(path.read_text())
    run = Play(client, scenario)
    run.setup()
    for n, step in enumerate(scenario.get("steps", [])):
        where = f"{path.name} step {n} ({step.get('at', '')})"
        known(step, STEP_KEYS, where)
        run.advance(ts(step["at"]))
        for action in ("grants", "void_grant", "expire_grant", "subscribe", "update", "cancel",
                       "events", "cancel_events", "holds", "capture_hold", "release_hold"):
            if action in step:
                getattr(run, action)(step[action])
        for action in ("finalize", "pay", "void", "mark_uncollectible"):
            if action in step:
                run.invoice_action(action, step[action])
        if "preview" in step:
            check_invoice(run.preview(), step["preview"], where + " preview")
        if "invoices" in step:
            invoices = run.invoices()
            expected = step["invoices"]
            assert len(invoices) == len(expected), (
                f"{where}: {len(invoices)} invoices, expected {len(expected)}:"
                f" {[(i['billing_reason'], i['status'], i['total']) for i in invoices]}")
            for i, (actual, want) in enumerate(zip(invoices, expected, strict=True)):
                check_invoice(actual, want, f"{where} invoice {i}")
        if "balance" in step:
            wanted = step["balance"]
            for want in wanted if isinstance(wanted, list) else [wanted]:
                check_balance(run.balance(want), want, f"{where} balance {want}")
