"""Building the document from the live router and OPERATIONS."""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from metered import __version__
from metered.api.http import Router
from metered.api.idempotency import MAX_KEY_LENGTH
from metered.api.openapi.objects import (
    ERROR,
    LIST,
    OBJECTS,
    STATUS_TEXTS,
)
from metered.api.openapi.operations import (
    OPERATIONS,
    Operation,
)
from metered.api.openapi.vocabulary import (
    METADATA_SCHEMA,
    MONEY,
    STR,
    Required,
    Schema,
    closed,
    ref,
    string,
    unwrap,
)
from metered.api.responses import STRIPE_VERSION

# --- the document ----------------------------------------------------------------------------

DESCRIPTION = f"""\
A usage-based billing engine whose HTTP API speaks Stripe's wire format (API version
{STRIPE_VERSION}): the official stripe SDKs work against it by changing the base address.

- **Bodies**: `application/x-www-form-urlencoded` with Stripe's bracket nesting
  (`payload[value]=3`, `expand[0]=...`, `items[0][price]=...`), as the SDKs send them, or
  `application/json` with the same parameters; each body is described here by its top-level
  parameters, nested objects as objects. Query parameters nest the same way
  (`created[gte]=...`, `group_by[]=model`).
- **Answers** are JSON; refusals are Stripe's error body (`Error`) and lists Stripe's envelope.
  Every answer carries `Request-Id` and `Stripe-Version` headers.
- **Exact numbers**: amounts of money are integers in the currency's minor unit; `*_decimal`
  fields and `quantity_decimal` are decimal strings in plain notation; aggregated usage values
  are exact decimals written as JSON numbers in plain digits (parse them as decimals).
- **Auth**: a secret key (`sk_test_...`, `sk_live_...`) as a bearer token or as the user name
  of HTTP basic auth; the v2 meter event stream takes a meter event session's token.
- **Idempotency-Key** on any POST replays the first answer for the same method, path and body.
"""

SECURITY_SCHEMES = {
    "secretKeyBearer": {"type": "http", "scheme": "bearer",
                        "description": "A secret key: `Authorization: Bearer sk_test_...`."},
    "secretKeyBasic": {"type": "http", "scheme": "basic",
                       "description": "A secret key as the user name, no password."},
    "meterEventSession": {"type": "http", "scheme": "bearer",
                          "description": "The authentication_token of a meter event session"
                                         " (POST /v2/billing/meter_event_session)."},
}
SECURITY = {"secret": [{"secretKeyBearer": []}, {"secretKeyBasic": []}],
            "session": [{"meterEventSession": []}], "none": []}


class UndocumentedRoutes(Exception):
    """The router and OPERATIONS differ: every route needs a description, and vice versa."""


def route_table(router: Router) -> dict[tuple[str, str], str]:
    """(method, path template) -> auth, for every route of the router."""
    table = {}
    for route in router.routes:
        path = re.sub(r"\(\?P<(\w+)>\[\^/\]\+\)", r"{\1}", route.pattern.pattern)
        table[(route.method, path.removeprefix("^").removesuffix("$"))] = route.auth
    return table


def build_document(router: Router) -> dict[str, Any]:
    routes = route_table(router)
    missing = sorted(set(routes) - set(OPERATIONS))
    stale = sorted(set(OPERATIONS) - set(routes))
    if missing or stale:
        raise UndocumentedRoutes(
            f"routes without a description in metered.api.openapi.OPERATIONS: {missing};"
            f" descriptions of no route: {stale}")
    paths: dict[str, dict[str, Any]] = {}
    for (method, path), auth in routes.items():
        paths.setdefault(path, {})[method.lower()] = _operation(
            method, path, auth, OPERATIONS[(method, path)])
    return {
        "openapi": "3.1.0",
        "info": {"title": "metered", "version": __version__, "description": DESCRIPTION,
                 "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}},
        "servers": [{"url": "http://127.0.0.1:8080", "description": "metered serve"}],
        "security": SECURITY["secret"],
        "tags": [{"name": name} for name in dict.fromkeys(o.tag for o in OPERATIONS.values())],
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR, "List": LIST, "metadata": METADATA_SCHEMA,
                        "money": MONEY, **OBJECTS},
            "responses": {str(status): _error_response(status) for status in STATUS_TEXTS
                          if status != 503},
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _operation(method: str, path: str, auth: str, spec: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": method.lower() + "".join(
            part.strip("{}").title().replace("_", "").replace(".", "")
            for part in path.split("/") if part),
        "summary": spec.summary, "tags": [spec.tag],
    }
    if spec.description:
        out["description"] = spec.description
    if auth != "secret":
        out["security"] = SECURITY[auth]
    parameters = [{"name": name, "in": "path", "required": True, "schema": STR}
                  for name in re.findall(r"\{(\w+)\}", path)]
    if method == "POST":
        if auth == "secret":
            parameters.append({"name": "Idempotency-Key", "in": "header", "required": False,
                               "schema": string(minLength=1, maxLength=MAX_KEY_LENGTH)})
        if spec.body != "none":
            out["requestBody"] = _request_body(spec)
    else:
        parameters += [_query_parameter(name, schema) for name, schema in spec.params.items()]
    if parameters:
        out["parameters"] = parameters
    responses: dict[str, Any] = {str(spec.status): _answer(spec)}
    for status in _error_statuses(method, path, auth, spec):
        responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
    if path == "/readyz":  # not ready: the same object, its checks saying why
        responses["503"] = {"description": STATUS_TEXTS[503],
                            "content": {"application/json": {"schema": spec.returns}}}
    out["responses"] = responses
    return out


def _answer(spec: Operation) -> dict[str, Any]:
    return {"description": "OK" if spec.status == 200 else "Accepted",
            "content": {media: {"schema": spec.returns} for media in spec.media}}


def _error_statuses(method: str, path: str, auth: str, spec: Operation) -> list[int]:
    if auth == "none":
        return list(spec.errors)
    statuses = {400, 401, 429, *spec.errors}  # 429: api.rate_limits
    if "{" in path or spec.is_list:
        statuses.add(404)
    if method == "POST":
        statuses |= {409, 413} if auth == "secret" else {413}
    return sorted(statuses)


def _error_response(status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": STATUS_TEXTS[status],
                              "content": {"application/json": {"schema": ref("Error")}}}
    if status == 429:
        answer["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying.",
                                             "schema": {"type": "integer", "minimum": 1}}}
    return answer


def _query_parameter(name: str, schema: Any) -> dict[str, Any]:
    required = isinstance(schema, Required)
    schema = unwrap(schema)
    if schema.get("type") == "array":  # expand[]=a&expand[]=b, or expand[0]=a&expand[1]=b
        name = name.removesuffix("[]") + "[]"
        schema = {**schema, "description": schema.get("description", "") + (
            f" Repeat {name}=... (or number them: {name[:-2]}[0]=..., {name[:-2]}[1]=...)."
        ).lstrip()}
    out: dict[str, Any] = {"name": name, "in": "query", "required": required, "schema": schema}
    if _is_nested(schema) and schema.get("type") != "array":
        out["style"], out["explode"] = "deepObject", True  # created[gte]=..., filter[type]=...
    return out


def _request_body(spec: Operation) -> dict[str, Any]:
    schema = closed(spec.params, exactly_one=spec.exactly_one, at_most_one=spec.at_most_one)
    required = bool(schema.get("required") or schema.get("oneOf"))
    if spec.body == "batch":
        events = spec.params["events"].schema
        content = {
            "application/json": {"schema": {"anyOf": [events, schema]}},
            "application/x-ndjson": {"schema": {
                **events, "description": "One event per line (also application/jsonl)."}},
        }
    elif spec.body == "json":
        content = {"application/json": {"schema": schema}}
    else:
        nested = {name: {"style": "deepObject", "explode": True}
                  for name, prop in schema["properties"].items() if _is_nested(prop)}
        form: dict[str, Any] = {"schema": schema}
        if nested:  # items[0][price]=..., default_aggregation[formula]=...
            form["encoding"] = nested
        content = {"application/x-www-form-urlencoded": form,
                   "application/json": {"schema": schema}}
    return {"required": required, "content": content}


def _is_nested(schema: Schema) -> bool:
    """An object or an array (or a ref to an object): bracket-nested keys in a form."""
    branches = [schema, *schema.get("anyOf", ())]
    return any(b.get("type") in ("object", "array") or "$ref" in b for b in branches)


def document_bytes(router: Router) -> bytes:
    """The document as served and as kept in docs/openapi.json."""
    return (json.dumps(build_document(router), indent=2, ensure_ascii=False) + "\n").encode()


def fresh_router() -> Router:
    """The routes of an App on a throwaway engine: those a server registers."""
    from metered.api.app import App  # noqa: PLC0415 - the app imports the routes, which import this
    from metered.engine import Engine  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as data_dir:
        engine = Engine.open(Path(data_dir))
        try:
            return App(engine, manage_engine=False).router
        finally:
            engine.db.close()


def main() -> None:
    sys.stdout.buffer.write(document_bytes(fresh_router()))

