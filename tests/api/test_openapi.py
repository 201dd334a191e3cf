"""The OpenAPI document (metered.api.openapi): it describes every route of the router and no
other, the server serves the committed docs/openapi.json, it is valid OpenAPI 3.1, and
schemathesis, generating requests from it against a live server, finds no 5xx and no answer
that breaks it. The run has two accounts: about a third of the generated requests name the
other account's objects in their parameters, and no successful answer ever shows one of them
(tests/api/test_isolation.py puts them in the paths of every route)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import OpenAPIV31SpecValidator, validate
from schemathesis import GenerationMode, checks
from schemathesis.generation.case import Case

from metered.api.http import Request, Response, Router
from metered.api.openapi import (
    OPERATIONS,
    UndocumentedRoutes,
    build_document,
    document_bytes,
    fresh_router,
    route_table,
)

from conftest import Server

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
REGENERATE = "regenerate it: python -m metered.api.openapi > docs/openapi.json"


@pytest.fixture(scope="module")
def served(server: Server) -> bytes:
    response = httpx.get(f"{server.base_url}/openapi.json", timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.content


def test_every_route_is_described_and_every_description_is_a_route(served: bytes) -> None:
    router = fresh_router()
    routes = set(route_table(router))
    assert routes == set(OPERATIONS)
    document = json.loads(served)
    described = {(method.upper(), path) for path, item in document["paths"].items()
                 for method in item}
    assert described == routes


def test_a_route_without_a_description_is_refused() -> None:
    async def handler(request: Request) -> Response:
        return Response.json({})

    router = Router()
    for method, path in OPERATIONS:
        router.add(method, path, handler)
    build_document(router)
    router.add("GET", "/v1/undescribed/{id}", handler)
    with pytest.raises(UndocumentedRoutes, match="/v1/undescribed/{id}"):
        build_document(router)


def test_the_served_document_is_the_committed_one(served: bytes) -> None:
    assert json.loads(served) == json.loads(COMMITTED.read_text()), REGENERATE
    assert served == COMMITTED.read_bytes(), REGENERATE


def test_the_document_is_valid_openapi_3_1() -> None:
    document = json.loads(COMMITTED.read_text())
    assert document["openapi"].startswith("3.1.")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_documents_are_built_alike() -> None:
    assert document_bytes(fresh_router()) == COMMITTED.read_bytes(), REGENERATE


# --- schemathesis against a live server --------------------------------------------------------

# Operations left out of the run, each for a bug of the server that it found (none now).
EXCLUDED: dict[str, str] = {}
EXAMPLES = 10  # per operation, with ids of real objects in the path
RANDOM_ID_EXAMPLES = 3  # per operation with an id in its path, with generated ids (404s)
LOOPBACK_HOOK = "http://127.0.0.1:9/openapi-fuzz"  # webhooks never leave the machine
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]


def stripe_form(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A body as the stripe SDKs encode it: nested keys in brackets, lists numbered."""
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    elif value is None:
        return []
    elif isinstance(value, bool):
        return [(prefix, str(value).lower())]
    else:
        return [(prefix, str(value))]
    pairs = [pair for key, child in items
             for pair in stripe_form(child, f"{prefix}[{key}]" if prefix else str(key))]
    return pairs or ([(prefix, "")] if prefix else [])


def _form(ctx: Any, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, dict):
        return urlencode(stripe_form(value)).encode()
    return str(value).encode()


def _ndjson(ctx: Any, value: Any) -> bytes:
    if isinstance(value, list):
        return b"".join(json.dumps(event).encode() + b"\n" for event in value)
    return json.dumps(value).encode()


schemathesis.serializer("application/x-www-form-urlencoded")(_form)
schemathesis.serializer("application/x-ndjson")(_ndjson)


@dataclass
class Tenant:
    key: str
    session_token: str
    ids: dict[str, str] = field(default_factory=dict)  # path prefix -> a real object's id
    refs: dict[str, str] = field(default_factory=dict)  # parameter name -> a real object's id

    def id_for(self, path: str) -> str | None:
        for prefix, object_id in self.ids.items():
            if path.startswith(prefix + "/{id}"):
                return object_id
        return None


def _ok(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture(scope="module")
def tenant(server: Server) -> Iterator[Tenant]:
    """A fresh account holding one object of each kind, whose ids go in the paths."""
    yield make_tenant(server, server.new_account_key())


def make_tenant(server: Server, key: str) -> Tenant:
    """One object of each kind, made with `key` (tests/api/test_isolation.py uses it too)."""
    with server.client(key) as http:
        post = lambda path, **data: _ok(http.post(path, data=data))  # noqa: E731
        clock = post("/v1/test_helpers/test_clocks", frozen_time=str(int(time.time())))
        customer = post("/v1/customers", name="openapi", email="a@example.com")
        on_clock = post("/v1/customers", name="on a clock", test_clock=clock["id"])
        meter = post("/v1/billing/meters", display_name="Tokens", event_name="oa_tokens",
                     **{"default_aggregation[formula]": "sum",
                        "dimension_payload_keys[0]": "model"})
        product = post("/v1/products", name="Seats")
        plan = post("/v1/products", name="Plan", **{"default_price_data[currency]": "usd",
                                                     "default_price_data[unit_amount]": "500"})
        seat = post("/v1/prices", product=product["id"], currency="usd", unit_amount="1000",
                    **{"recurring[interval]": "month"})
        metered = post("/v1/prices", product=product["id"], currency="usd",
                       unit_amount_decimal="0.25", **{"recurring[interval]": "month",
                       "recurring[usage_type]": "metered", "recurring[meter]": meter["id"]})
        sub = post("/v1/subscriptions", customer=customer["id"],
                   **{"items[0][price]": seat["id"], "items[0][quantity]": "2",
                      "items[1][price]": metered["id"]})
        post("/v1/billing/meter_events", event_name="oa_tokens",
             **{"payload[stripe_customer_id]": customer["id"], "payload[value]": "12.5",
                "payload[model]": "large"})
        grant = post("/v1/billing/credit_grants", customer=customer["id"],
                     **{"amount[type]": "monetary", "amount[monetary][currency]": "usd",
                        "amount[monetary][value]": "100000",
                        "applicability_config[scope][price_type]": "metered"})
        txn = _ok(http.get("/v1/billing/credit_balance_transactions",
                           params={"customer": customer["id"]}))["data"][0]
        hold = post("/v1/metered/credit_holds", customer=customer["id"], amount="100",
                    currency="usd")
        alert = post("/v1/billing/alerts", alert_type="usage_threshold", title="big",
                     **{"usage_threshold[gte]": "1000", "usage_threshold[meter]": meter["id"],
                        "usage_threshold[recurrence]": "one_time"})
        hook = post("/v1/webhook_endpoints", url=LOOPBACK_HOOK,
                    **{"enabled_events[0]": "invoice.paid"})
        event = _ok(http.get("/v1/events"))["data"][0]
        session = post("/v2/billing/meter_event_session")
        return Tenant(key, session["authentication_token"], {
            "/v1/customers": on_clock["id"], "/v1/billing/meters": meter["id"],
            "/v1/metered/meters": meter["id"], "/v1/test_helpers/test_clocks": clock["id"],
            "/v1/products": plan["id"], "/v1/prices": metered["id"],
            "/v1/subscriptions": sub["id"],
            "/v1/subscription_items": sub["items"]["data"][0]["id"],
            "/v1/invoices": sub["latest_invoice"], "/v1/billing/credit_grants": grant["id"],
            "/v1/billing/credit_balance_transactions": txn["id"],
            "/v1/metered/credit_holds": hold["id"], "/v1/billing/alerts": alert["id"],
            "/v1/webhook_endpoints": hook["id"], "/v1/events": event["id"],
        }, {
            "customer": customer["id"], "meter": meter["id"], "price": metered["id"],
            "product": product["id"], "subscription": sub["id"], "credit_grant": grant["id"],
            "event_name": "oa_tokens",
        })


def _seed(value: Any, refs: dict[str, str]) -> Any:
    """Generated ids replaced by real ones (and meter events made to fit the real meter)."""
    if isinstance(value, list):
        return [_seed(item, refs) for item in value]
    if not isinstance(value, dict):
        return value
    out = {key: refs[key] if key in refs and isinstance(item, str) else _seed(item, refs)
           for key, item in value.items()}
    if isinstance(out.get("payload"), dict):
        out["payload"].update(stripe_customer_id=refs["customer"], value="3")
        out.pop("timestamp", None)
    return out


def _prepare(case: Case) -> None:
    """A generated webhook URL would be delivered to: it points at a closed local port. A
    generated Idempotency-Key is made unique, lest most calls replay another's answer."""
    if isinstance(case.body, dict) and "url" in case.body:
        case.body["url"] = LOOPBACK_HOOK
    key = case.headers.get("Idempotency-Key") if case.headers else None
    if key is not None:
        case.headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"


def _foreign_ids(stranger: Tenant) -> set[str]:
    """The ids of another account's objects (not its event name, which both tenants share)."""
    return set(stranger.ids.values()) | {
        value for key, value in stranger.refs.items() if key != "event_name"}


def _without_errors(value: Any) -> Any:
    """An answer without the errors in it (a batch's refused events), which may quote the
    ids the request sent."""
    if isinstance(value, dict):
        return {k: _without_errors(v) for k, v in value.items() if k != "error"}
    if isinstance(value, list):
        return [_without_errors(v) for v in value]
    return value


def _shown(ids: set[str], response: Any) -> list[str]:
    """Which of `ids` a successful answer shows (outside the errors it carries)."""
    try:
        text = json.dumps(_without_errors(response.json()))
    except ValueError:
        text = response.text
    return sorted(i for i in ids if i in text)


def _fuzz(operation: Any, tenant: Tenant, base_url: str, path_id: str | None,
          examples: int, mode: GenerationMode = GenerationMode.POSITIVE,
          stranger: Tenant | None = None) -> list[str]:
    """Failures of `examples` generated calls of the operation, each a short report. With a
    `stranger` (another account), some calls name its objects, and a successful answer that
    shows one of them is a failure."""
    failures: list[str] = []
    foreign = _foreign_ids(stranger) if stranger is not None else set()
    sources = ["generated", "own", "foreign"] if stranger is not None else ["generated", "own"]
    headers = {"Authorization": "Bearer " + (
        tenant.session_token if operation.path == "/v2/billing/meter_event_stream"
        else tenant.key)}
    strategy = operation.as_strategy(
        generation_mode=mode, path_parameters={"id": path_id} if path_id is not None else None)

    @given(case=strategy, source=st.sampled_from(sources))
    @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    def run(case: Case, source: str) -> None:
        if source != "generated":  # these calls name real objects in their parameters
            refs = tenant.refs if source == "own" or stranger is None else stranger.refs
            case.body = _seed(case.body, refs)
            case.query = _seed(case.query, refs)
        _prepare(case)
        response = case.call(base_url=base_url, headers=headers, timeout=60)
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except BaseExceptionGroup as exc:  # schemathesis' FailureGroup
            failures.append(f"{operation.label}: {exc}"[:3000])
        shown = _shown(foreign, response) if foreign and response.status_code < 300 else []
        if shown:
            failures.append(f"{operation.label}: another account's {shown} in a"
                            f" {response.status_code} answer to {case.method} {case.path}"
                            f" {case.query} {case.body}"[:3000])

    try:
        run()
    except Unsatisfiable:  # negative data for an operation without parameters to negate
        assert mode == GenerationMode.NEGATIVE
    return failures


def _delete_last(operation: Any) -> tuple[bool, str]:
    return operation.method.upper() == "DELETE", operation.label


def test_schemathesis_finds_no_5xx_and_no_answer_off_the_document(
        server: Server, served: bytes, tenant: Tenant) -> None:
    stranger = make_tenant(server, server.new_account_key())  # the same objects, another account
    schema = schemathesis.openapi.from_dict(json.loads(served))
    operations = sorted((result.ok() for result in schema.get_all_operations()),
                        key=_delete_last)
    assert len(operations) == len(OPERATIONS)
    failures: list[str] = []
    for operation in operations:
        if operation.label in EXCLUDED:
            continue
        path_id = tenant.id_for(operation.path)
        failures += _fuzz(operation, tenant, server.base_url, path_id, EXAMPLES,
                          stranger=stranger)
        failures += _fuzz(operation, tenant, server.base_url, path_id, EXAMPLES,
                          GenerationMode.NEGATIVE, stranger=stranger)
        if "{id}" in operation.path:
            failures += _fuzz(operation, tenant, server.base_url, None, RANDOM_ID_EXAMPLES)
    assert not failures, "\n\n".join(failures)
