"""The OpenAPI 3.1 description of the HTTP API: the live router's routes, each described by an
entry of OPERATIONS, with the wire objects' schemas read off their `to_wire` functions.

`build_document(router)` refuses a router whose routes and OPERATIONS differ, so a route added
without a description fails tests/api/test_openapi.py. `python -m metered.api.openapi` prints
the document that GET /openapi.json serves; docs/openapi.json is that output.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metered import __version__
from metered.api.expand import EXPANDABLE
from metered.api.http import Router
from metered.api.idempotency import MAX_KEY_LENGTH
from metered.api.responses import STRIPE_VERSION
from metered.billing.invoices import STATUSES as INVOICE_STATUSES
from metered.billing.price_specs import (
    BILLING_SCHEMES,
    INTERVALS,
    MAX_AMOUNT,
    ROUND_MODES,
    TIERS_MODES,
    USAGE_TYPES,
)
from metered.billing.subscription_lifecycle import PRORATION_BEHAVIORS
from metered.billing.test_clocks import MAX_FROZEN_TIME, MIN_FROZEN_TIME
from metered.metering.meters import EVENT_TIME_WINDOWS, FORMULAS, MAX_DIMENSIONS
from metered.webhooks.events import EVENT_TYPES, WILDCARD

Schema = dict[str, Any]

# --- the vocabulary of schemas --------------------------------------------------------------

STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "integer", "description": "Unix time, in seconds."}
ISO_TIME: Schema = {"type": "string", "format": "date-time"}
ANY_OBJECT: Schema = {"type": "object", "additionalProperties": True}
DECIMAL_TEXT: Schema = {
    "type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$",
    "description": "An exact decimal as a string, in plain notation (never an exponent).",
}
EXACT_NUMBER: Schema = {
    "type": "number",
    "description": "An exact decimal written as a JSON number in plain digits (never an"
                   " exponent, up to 12 decimal places): parse it as a decimal, not a binary"
                   " float, to keep it exact.",
}
METADATA_SCHEMA: Schema = {
    "type": "object", "maxProperties": 50, "propertyNames": {"maxLength": 40},
    "additionalProperties": {"type": "string", "maxLength": 500},
    "description": "Up to 50 keys of at most 40 characters, each a string of at most 500; on"
                   " an update an empty value deletes its key.",
}
METADATA: Schema = {"$ref": "#/components/schemas/metadata"}


def const(value: Any) -> Schema:
    return {"const": value}


def enum(*values: Any) -> Schema:
    return {"type": "string", "enum": list(values)}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def null(schema: Schema) -> Schema:
    """The schema, or null."""
    if "type" in schema and isinstance(schema["type"], str):
        out = {**schema, "type": [schema["type"], "null"]}
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
        return out
    return {"anyOf": [schema, {"type": "null"}]}


def array(items: Schema, **limits: Any) -> Schema:
    return {"type": "array", "items": items, **limits}


def string(**limits: Any) -> Schema:
    return {"type": "string", **limits}


def integer(minimum: int | None = None, maximum: int | None = None) -> Schema:
    out: Schema = {"type": "integer"}
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    return out


def obj(properties: dict[str, Schema], *, optional: tuple[str, ...] = (),
        description: str | None = None) -> Schema:
    """An answer's object, whose properties are all present unless named in `optional`. The
    server may add properties to it (as Stripe does); a request's object is closed()."""
    out: Schema = {"type": "object", "properties": properties,
                   "required": [k for k in properties if k not in optional],
                   "additionalProperties": True}
    if description:
        out["description"] = description
    return out


def deleted(object_name: str) -> Schema:
    return obj({"id": STR, "object": const(object_name), "deleted": const(True)})


def list_of(item: Schema, *, sub_list: bool = False) -> Schema:
    """Stripe's list envelope; `sub_list`: a list inside an object (total_count, url or null)."""
    properties = {"object": const("list"), "data": array(item), "has_more": BOOL,
                  "url": null(STR) if sub_list else STR}
    if sub_list:
        properties["total_count"] = INT
    return obj(properties)


MONEY: Schema = obj({"monetary": obj({"currency": STR, "value": INT}),
                     "type": const("monetary")})


# --- the objects, as their wire functions write them -----------------------------------------

_TIER = obj({"flat_amount": null(INT), "flat_amount_decimal": null(DECIMAL_TEXT),
             "unit_amount": null(INT), "unit_amount_decimal": null(DECIMAL_TEXT),
             "up_to": null(INT)})
_INVOICE_CREDIT = obj({"amount": INT, "credit_balance_transaction": null(STR),
                       "discount": null(STR), "type": const("credit_balance_transaction")})
_LEDGER_INVOICE = obj({"invoice": null(STR), "invoice_line_item": null(STR)})

OBJECTS: dict[str, Schema] = {
    "customer": obj({
        "id": STR, "object": const("customer"), "address": null(ANY_OBJECT), "balance": INT,
        "created": TIME, "currency": null(STR), "default_source": null(STR),
        "delinquent": null(BOOL), "description": null(STR), "discount": null(ANY_OBJECT),
        "email": null(STR), "invoice_prefix": STR,
        "invoice_settings": obj({"custom_fields": null(array(ANY_OBJECT)),
                                 "default_payment_method": null(STR), "footer": null(STR),
                                 "rendering_options": null(ANY_OBJECT)}),
        "livemode": BOOL, "metadata": METADATA, "name": null(STR),
        "next_invoice_sequence": INT, "phone": null(STR), "preferred_locales": array(STR),
        "shipping": null(ANY_OBJECT), "tax_exempt": enum("none", "exempt", "reverse"),
        "test_clock": {"anyOf": [STR, ref("test_helpers.test_clock"), {"type": "null"}],
                       "description": "The id of the test clock the customer lives on; its"
                                      " object with expand[]=test_clock."},
    }),
    "deleted_customer": deleted("customer"),
    "billing.meter": obj({
        "id": STR, "object": const("billing.meter"), "created": TIME,
        "customer_mapping": obj({"event_payload_key": STR, "type": const("by_id")}),
        "default_aggregation": obj({"formula": enum(*FORMULAS)}),
        "dimension_payload_keys": array(STR, description="Native: the payload keys whose"
                                        " values group usage."),
        "display_name": STR, "event_name": STR,
        "event_time_window": null(enum(*EVENT_TIME_WINDOWS)), "livemode": BOOL,
        "status": enum("active", "inactive"),
        "status_transitions": obj({"deactivated_at": null(TIME)}), "updated": TIME,
        "value_settings": obj({"event_payload_key": STR}),
    }),
    "billing.meter_event_summary": obj({
        "id": STR, "object": const("billing.meter_event_summary"),
        "aggregated_value": EXACT_NUMBER, "end_time": TIME, "livemode": BOOL, "meter": STR,
        "start_time": TIME,
        "dimensions": {"type": "object", "additionalProperties": null(STR),
                       "description": "Native, with group_by[]: the group's dimension values."},
    }, optional=("dimensions",)),
    "billing.meter_event": obj({
        "object": const("billing.meter_event"), "created": TIME, "event_name": STR,
        "identifier": STR, "livemode": BOOL, "payload": ANY_OBJECT, "timestamp": TIME,
    }),
    "billing.meter_event_adjustment": obj({
        "id": STR, "object": const("billing.meter_event_adjustment"),
        "cancel": obj({"identifier": STR}), "event_name": STR, "livemode": BOOL,
        "status": enum("complete"), "type": enum("cancel"),
    }),
    "metered.event_batch": obj({
        "object": const("metered.event_batch"), "accepted": INT, "duplicate": INT,
        "rejected": INT,
        "results": array(obj({
            "index": INT, "identifier": null(STR),
            "status": enum("accepted", "duplicate", "rejected"),
            "error": obj({"code": null(STR), "message": null(STR), "param": null(STR)}),
        }, optional=("error",)), description="One per event, in the request's order; `error`"
                                              " only on a rejected one."),
    }, description="What became of each event of a batch: accepted (durable when answered),"
                   " duplicate (its identifier was seen in the last 35 days) or rejected."),
    "metered.usage": obj({
        "object": const("metered.usage"), "meter": STR, "customer": null(STR),
        "start_time": TIME, "end_time": TIME,
        "value_grouping_window": null(enum("hour", "day")), "group_by": array(STR),
        "formula": enum(*FORMULAS),
        "data": array(obj({"start_time": TIME, "end_time": TIME,
                           "dimensions": null({"type": "object",
                                               "additionalProperties": null(STR)}),
                           "aggregated_value": EXACT_NUMBER})),
    }),
    "v2.billing.meter_event_session": obj({
        "id": STR, "object": const("v2.billing.meter_event_session"),
        "authentication_token": STR, "created": ISO_TIME, "expires_at": ISO_TIME,
        "livemode": BOOL,
    }),
    "v2.billing.meter_event": obj({
        "object": const("v2.billing.meter_event"), "created": ISO_TIME, "event_name": STR,
        "identifier": STR, "livemode": BOOL, "payload": ANY_OBJECT, "timestamp": ISO_TIME,
    }),
    "v2.billing.meter_event_adjustment": obj({
        "id": STR, "object": const("v2.billing.meter_event_adjustment"),
        "cancel": obj({"identifier": STR}), "created": ISO_TIME, "event_name": STR,
        "livemode": BOOL, "status": enum("complete"), "type": enum("cancel"),
    }),
    "test_helpers.test_clock": obj({
        "id": STR, "object": const("test_helpers.test_clock"), "created": TIME,
        "deletes_after": TIME, "frozen_time": TIME, "livemode": BOOL, "name": null(STR),
        "status": enum("ready", "advancing"), "status_details": ANY_OBJECT,
    }),
    "deleted_test_clock": deleted("test_helpers.test_clock"),
    "product": obj({
        "id": STR, "object": const("product"), "active": BOOL, "created": TIME,
        "default_price": {"anyOf": [STR, ref("price"), {"type": "null"}],
                          "description": "A price id; its object with"
                                         " expand[]=default_price."},
        "description": null(STR), "images": array(STR), "livemode": BOOL,
        "marketing_features": array(ANY_OBJECT), "metadata": METADATA, "name": STR,
        "package_dimensions": null(ANY_OBJECT), "shippable": null(BOOL),
        "statement_descriptor": null(STR), "tax_code": null(STR),
        "type": enum("service", "good"), "unit_label": null(STR), "updated": TIME,
        "url": null(STR),
    }),
    "deleted_product": deleted("product"),
    "price": obj({
        "id": STR, "object": const("price"), "active": BOOL,
        "billing_scheme": enum(*BILLING_SCHEMES), "created": TIME, "currency": STR,
        "custom_unit_amount": null(ANY_OBJECT), "livemode": BOOL, "lookup_key": null(STR),
        "metadata": METADATA, "nickname": null(STR),
        "product": {"anyOf": [STR, ref("product")],
                    "description": "A product id; its object with expand[]=product."},
        "recurring": null(obj({
            "aggregate_usage": null(STR), "interval": enum(*INTERVALS),
            "interval_count": INT, "meter": null(STR), "trial_period_days": null(INT),
            "usage_type": enum(*USAGE_TYPES)})),
        "tax_behavior": enum("exclusive", "inclusive", "unspecified"),
        "tiers": null(array(_TIER)), "tiers_mode": null(enum(*TIERS_MODES)),
        "transform_quantity": null(obj({"divide_by": INT, "round": enum(*ROUND_MODES)})),
        "type": enum("one_time", "recurring"),
        "unit_amount": {**null(INT), "description": "Whole minor units; null when the"
                                                    " amount has a fraction."},
        "unit_amount_decimal": null(DECIMAL_TEXT),
        "metered": null(obj({
            "dimension_keys": array(STR),
            "rates": array(obj({"dimensions": {"type": "object",
                                               "additionalProperties": STR},
                                "unit_amount_decimal": DECIMAL_TEXT})),
            "minimum_amount": null(INT), "maximum_amount": null(INT),
        }, description="Native: rates by dimension and bounds per billing period; null when"
                       " the price sets none.")),
    }),
    "subscription_item": obj({
        "id": STR, "object": const("subscription_item"), "created": TIME,
        "current_period_start": TIME, "current_period_end": TIME,
        "discounts": array(STR), "metadata": METADATA, "plan": null(ANY_OBJECT),
        "price": ref("price"),
        "quantity": {**null(INT), "description": "null for a metered price."},
        "subscription": STR, "tax_rates": array(ANY_OBJECT),
    }),
    "deleted_subscription_item": deleted("subscription_item"),
    "subscription": obj({
        "id": STR, "object": const("subscription"), "application": null(STR),
        "automatic_tax": obj({"enabled": BOOL, "liability": null(ANY_OBJECT)}),
        "billing_cycle_anchor": TIME, "billing_thresholds": null(ANY_OBJECT),
        "cancel_at": null(TIME), "cancel_at_period_end": BOOL, "canceled_at": null(TIME),
        "cancellation_details": obj({"comment": null(STR), "feedback": null(STR),
                                     "reason": null(STR)}),
        "collection_method": enum("charge_automatically", "send_invoice"), "created": TIME,
        "currency": STR, "current_period_start": TIME, "current_period_end": TIME,
        "customer": STR, "days_until_due": null(INT), "default_payment_method": null(STR),
        "description": null(STR), "discounts": array(STR), "ended_at": null(TIME),
        "items": list_of(ref("subscription_item"), sub_list=True),
        "latest_invoice": null(STR), "livemode": BOOL, "metadata": METADATA,
        "pending_update": null(ANY_OBJECT), "schedule": null(STR), "start_date": TIME,
        "status": enum("active", "trialing", "canceled"), "test_clock": null(STR),
        "trial_end": null(TIME), "trial_settings": ANY_OBJECT, "trial_start": null(TIME),
    }),
    "line_item": obj({
        "id": STR, "object": const("line_item"),
        "amount": {**INT, "description": "Minor units, rounded once (half away from zero);"
                                         " negative for a credit."},
        "currency": STR, "description": STR, "discount_amounts": array(ANY_OBJECT),
        "discountable": BOOL, "discounts": array(STR), "invoice": null(STR),
        "livemode": BOOL, "metadata": METADATA, "parent": null(ANY_OBJECT),
        "period": obj({"start": TIME, "end": TIME}),
        "pretax_credit_amounts": array(_INVOICE_CREDIT),
        "pricing": null(obj({"type": const("price_details"),
                             "price_details": obj({"price": STR, "product": null(STR)}),
                             "unit_amount_decimal": null(DECIMAL_TEXT)})),
        "quantity": {**null(INT), "description": "null when the quantity has a fraction."},
        "quantity_decimal": DECIMAL_TEXT, "subtotal": INT, "taxes": array(ANY_OBJECT),
        "metered": obj({"kind": enum("usage", "licensed", "proration", "adjustment",
                                     "minimum", "maximum"),
                        "charge_group": null(STR)}, description="Native: what the line bills."),
    }),
    "invoice": obj({
        "id": {**null(STR), "description": "null for a preview."},
        "object": const("invoice"), "account_country": null(STR), "account_name": null(STR),
        "amount_due": INT, "amount_overpaid": INT, "amount_paid": INT,
        "amount_remaining": INT, "amount_shipping": INT, "attempt_count": INT,
        "attempted": BOOL, "auto_advance": BOOL,
        "automatic_tax": obj({"enabled": BOOL, "liability": null(ANY_OBJECT),
                              "status": null(STR)}),
        "automatically_finalizes_at": null(TIME),
        "billing_reason": enum("subscription_create", "subscription_cycle",
                               "subscription_update", "upcoming"),
        "collection_method": enum("charge_automatically", "send_invoice"), "created": TIME,
        "currency": STR, "customer": null(STR), "customer_email": null(STR),
        "customer_name": null(STR), "default_payment_method": null(STR),
        "description": null(STR), "discounts": array(STR), "due_date": null(TIME),
        "effective_at": null(TIME), "ending_balance": null(INT),
        "hosted_invoice_url": null(STR), "invoice_pdf": null(STR),
        "lines": list_of(ref("line_item"), sub_list=True), "livemode": BOOL,
        "metadata": METADATA, "next_payment_attempt": null(TIME), "number": null(STR),
        "parent": null(ANY_OBJECT), "period_end": TIME, "period_start": TIME,
        "post_payment_credit_notes_amount": INT, "pre_payment_credit_notes_amount": INT,
        "starting_balance": INT, "status": enum(*INVOICE_STATUSES),
        "status_transitions": obj({"finalized_at": null(TIME),
                                   "marked_uncollectible_at": null(TIME),
                                   "paid_at": null(TIME), "voided_at": null(TIME)}),
        "subtotal": INT, "subtotal_excluding_tax": INT, "test_clock": null(STR),
        "total": INT, "total_discount_amounts": array(ANY_OBJECT),
        "total_excluding_tax": INT, "total_pretax_credit_amounts": array(_INVOICE_CREDIT),
        "total_taxes": array(ANY_OBJECT), "webhooks_delivered_at": null(TIME),
    }),
    "billing.credit_grant": obj({
        "id": STR, "object": const("billing.credit_grant"), "amount": ref("money"),
        "applicability_config": obj({"scope": obj({
            "price_type": null(enum("metered")),
            "prices": null(array(obj({"id": null(STR)})))})}),
        "category": enum("paid", "promotional"), "created": TIME, "customer": STR,
        "customer_account": null(STR), "effective_at": null(TIME), "expires_at": null(TIME),
        "livemode": BOOL, "metadata": METADATA, "name": null(STR), "priority": INT,
        "test_clock": null(STR), "updated": TIME, "voided_at": null(TIME),
    }),
    "billing.credit_balance_summary": obj({
        "object": const("billing.credit_balance_summary"),
        "balances": array(obj({"available_balance": ref("money"), "ledger_balance": ref("money")})),
        "customer": STR, "customer_account": null(STR), "livemode": BOOL,
        "metered": obj({"balances": array(obj({
            "currency": STR, "held": INT, "unbilled_usage": INT,
            "real_time_available": INT}))},
            description="Native: per currency, the credit held, what the unbilled usage will"
                        " take, and what is left to spend (ledger - held - unbilled)."),
    }),
    "billing.credit_balance_transaction": obj({
        "id": STR, "object": const("billing.credit_balance_transaction"), "created": TIME,
        "credit": null(obj({"amount": ref("money"),
                            "type": enum("credits_granted",
                                         "credits_application_invoice_voided"),
                            "credits_application_invoice_voided": null(_LEDGER_INVOICE)})),
        "credit_grant": STR,
        "debit": null(obj({"amount": ref("money"),
                           "type": enum("credits_applied", "credits_expired",
                                        "credits_voided"),
                           "credits_applied": null(_LEDGER_INVOICE)})),
        "effective_at": null(TIME), "livemode": BOOL, "test_clock": null(STR),
        "type": enum("credit", "debit"),
    }),
    "billing.alert": obj({
        "id": STR, "object": const("billing.alert"), "alert_type": const("usage_threshold"),
        "livemode": BOOL, "status": enum("active", "inactive", "archived"), "title": STR,
        "usage_threshold": obj({
            "filters": array(obj({"customer": null(STR), "type": const("customer")})),
            "gte": {"anyOf": [INT, DECIMAL_TEXT],
                    "description": "An integer, or a decimal string when it has a fraction."},
            "meter": STR, "recurrence": const("one_time")}),
    }),
    "metered.credit_hold": obj({
        "id": STR, "object": const("metered.credit_hold"), "amount": INT,
        "captured_amount": null(INT), "created": TIME, "currency": STR, "customer": STR,
        "expires_at": TIME, "livemode": BOOL, "metadata": METADATA,
        "status": enum("authorized", "captured", "released", "expired"),
    }),
    "webhook_endpoint": obj({
        "id": STR, "object": const("webhook_endpoint"), "api_version": null(STR),
        "application": null(STR), "created": TIME, "description": null(STR),
        "enabled_events": array(STR), "livemode": BOOL, "metadata": METADATA,
        "status": enum("enabled", "disabled"), "url": STR,
        "secret": {**STR, "description": "The signing secret (whsec_...): in the answer to"
                                         " the endpoint's creation only."},
    }, optional=("secret",)),
    "deleted_webhook_endpoint": deleted("webhook_endpoint"),
    "event": obj({
        "id": STR, "object": const("event"), "api_version": STR, "created": TIME,
        "data": obj({"object": ANY_OBJECT, "previous_attributes": null(ANY_OBJECT)}),
        "livemode": BOOL, "pending_webhooks": INT,
        "request": obj({"id": null(STR), "idempotency_key": null(STR)}),
        "type": enum(*EVENT_TYPES),
    }),
}

ERROR: Schema = obj({"error": obj({
    "type": enum("invalid_request_error", "authentication_error", "idempotency_error",
                 "api_error", "rate_limit_error"),
    "message": STR,
    "code": {**STR, "description": "Stripe's error code, such as resource_missing."},
    "param": {**STR, "description": "The offending parameter, bracket-style."},
}, optional=("code", "param"))}, description="Stripe's error body.")
LIST: Schema = obj({"object": const("list"), "data": array(ANY_OBJECT), "has_more": BOOL,
                    "url": STR}, description="Stripe's list envelope, newest first.")
STATUS_TEXTS = {400: "Invalid request (invalid_request_error or idempotency_error).",
                401: "No valid key (authentication_error).",
                402: "Not enough credit (invalid_request_error, insufficient_credit).",
                404: "No such object or URL (invalid_request_error, resource_missing).",
                409: "A request with the same Idempotency-Key is still running.",
                413: "The body is too large.",
                503: "Not ready."}

# --- request parameters ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Required:
    """A required parameter's schema (in a parameter table)."""

    schema: Schema


def ids(prefix: str) -> Schema:
    return string(maxLength=100, description=f"An id ({prefix}_...).")


PAGE = {"limit": integer(1, 100), "starting_after": STR, "ending_before": STR}
TIME_RANGE = integer(946_684_800, 4_102_444_800)
AMOUNT_DECIMAL = {"anyOf": [string(pattern=r"^[0-9]{1,13}(\.[0-9]{1,12})?$"), integer(0)],
                  "description": "Minor units as a decimal in plain notation, at most 12"
                                 " decimal places (\"0.0025\"); an integer in JSON too."}
WHOLE_AMOUNT = integer(0, MAX_AMOUNT)
SUMMARY_TIME = {**integer(0, 253_402_300_799), "multipleOf": 60,
                "description": "Unix seconds, aligned with the value_grouping_window (a minute"
                               " without one); end_time after start_time."}
CURRENCY = string(pattern="^[A-Za-z]{3}$", description="A three-letter ISO code.")


def closed(properties: dict[str, Any], description: str | None = None, *,
           exactly_one: tuple[str, ...] = (), at_most_one: tuple[tuple[str, str], ...] = ()
           ) -> Schema:
    """A request object: unknown keys are refused (parameter_unknown). `exactly_one`: of these
    keys one is required, and only one; `at_most_one`: pairs that exclude each other."""
    required = [k for k, v in properties.items() if isinstance(v, Required)]
    out: Schema = {"type": "object",
                   "properties": {k: unwrap(v) for k, v in properties.items()},
                   "additionalProperties": False}
    if required:
        out["required"] = required
    if exactly_one:
        out["oneOf"] = [{"required": [key]} for key in exactly_one]
    if at_most_one:
        out["allOf"] = [{"not": {"required": list(pair)}} for pair in at_most_one]
    if description:
        out["description"] = description
    return out


def unwrap(value: Any) -> Schema:
    """A table's schema; a required string must not be empty either (Params.req_str)."""
    if not isinstance(value, Required):
        return dict(value)
    schema = value.schema
    if schema.get("type") == "string" and not {"minLength", "enum", "const"} & set(schema):
        return {**schema, "minLength": 1}
    return schema


def expand(object_type: str, *, is_list: bool = False) -> dict[str, Schema]:
    """`expand`, where the object has fields to expand (any other value is refused)."""
    fields = sorted(EXPANDABLE[object_type])
    if not fields:
        return {}
    return {"expand": array(enum(*[f"data.{f}" if is_list else f for f in fields]),
                            maxItems=len(fields))}


def ignored(schema: Schema, what: str = "metered collects no payments") -> Schema:
    return {**schema, "description": f"Accepted and ignored: {what}."}


CUSTOMER_FIELDS = {"email": string(maxLength=512), "name": string(maxLength=256),
                   "description": string(maxLength=5000), "metadata": METADATA,
                   **{k: ignored(s, "answered with Stripe's default") for k, s in (
                       ("phone", STR), ("address", ANY_OBJECT),
                       ("preferred_locales", array(STR)), ("invoice_settings", ANY_OBJECT),
                       ("tax_exempt", enum("none", "exempt", "reverse")),
                       ("shipping", ANY_OBJECT), ("balance", INT),
                       ("invoice_prefix", STR))}}
METER_EVENT = {
    "event_name": Required(string(maxLength=100)),
    "payload": Required({**ANY_OBJECT, "description": "The customer id under the meter's"
                         " customer key (stripe_customer_id), the value under its value key"
                         " (value, a decimal as a string or number), and the meter's"
                         " dimensions."}),
    "identifier": string(maxLength=255, description="Deduplicated for 35 days; derived from"
                         " the Idempotency-Key, or random, when absent."),
    "timestamp": {"anyOf": [INT, ISO_TIME], "description": "Unix seconds (or ISO 8601 with a"
                  " time zone): up to 35 days ago and 5 minutes ahead; now when absent."},
}
ADJUSTMENT = {"event_name": Required(string(maxLength=100)), "type": enum("cancel"),
              "cancel": Required(closed({"identifier": Required(string(maxLength=255))}))}
DEFAULT_AGGREGATION = closed({"formula": Required(enum(*FORMULAS))})
RECURRING = closed({"interval": Required(enum(*INTERVALS)), "interval_count": integer(1, 1095),
                    "usage_type": enum(*USAGE_TYPES), "meter": string(maxLength=255)})
PRICE_FIELDS = {
    "currency": Required(CURRENCY),
    "product": string(maxLength=255),
    "product_data": closed({"name": Required(string(maxLength=250)), "id": string(maxLength=200),
                            "active": BOOL, "metadata": METADATA,
                            "unit_label": string(maxLength=12)}),
    "unit_amount": WHOLE_AMOUNT, "unit_amount_decimal": AMOUNT_DECIMAL,
    "billing_scheme": enum(*BILLING_SCHEMES), "tiers_mode": enum(*TIERS_MODES),
    "tiers": array(closed({"up_to": Required({"anyOf": [integer(1), const("inf")]}),
                           "unit_amount": WHOLE_AMOUNT, "unit_amount_decimal": AMOUNT_DECIMAL,
                           "flat_amount": WHOLE_AMOUNT, "flat_amount_decimal": AMOUNT_DECIMAL},
                          at_most_one=(("unit_amount", "unit_amount_decimal"),
                                       ("flat_amount", "flat_amount_decimal"))),
                   maxItems=250),
    "transform_quantity": closed({"divide_by": Required(integer(1)),
                                  "round": Required(enum(*ROUND_MODES))}),
    "recurring": RECURRING, "lookup_key": string(maxLength=200), "transfer_lookup_key": BOOL,
    "nickname": string(maxLength=5000), "metadata": METADATA, "active": BOOL,
    "metered": closed({
        "dimension_keys": array(string(maxLength=100), maxItems=8),
        "rates": array(closed({"dimensions": Required({"type": "object",
                                                       "additionalProperties":
                                                           string(maxLength=200)}),
                               "unit_amount_decimal": Required(AMOUNT_DECIMAL)}),
                       maxItems=1000),
        "minimum_amount": WHOLE_AMOUNT, "maximum_amount": WHOLE_AMOUNT,
    }, "Native: rates by the meter's dimensions, minimum and maximum per period."),
}
SUBSCRIPTION_ITEM = closed({
    "id": string(maxLength=100), "price": string(maxLength=100),
    "quantity": integer(0, 10**9), "deleted": BOOL, "metadata": METADATA,
    "clear_usage": ignored(BOOL, "usage is never cleared"),
    "tax_rates": ignored(array(STR), "metered computes no taxes"),
    "discounts": ignored(array(ANY_OBJECT), "metered applies no discounts"),
})
PAYMENT_PARAMS = {"payment_behavior": ignored(STR), "off_session": ignored(BOOL),
                  "payment_settings": ignored(ANY_OBJECT),
                  "default_payment_method": ignored(STR), "description": ignored(STR)}
PRORATION = {"proration_behavior": enum(*PRORATION_BEHAVIORS)}
SCOPE = closed({"price_type": enum("metered"),
                "prices": array(closed({"id": Required(string(maxLength=100))}), minItems=1,
                                maxItems=20)},
               "Exactly one of price_type=metered and prices.",
               exactly_one=("price_type", "prices"))
EVENT_TYPE_PATTERN = string(pattern=r"^[a-z0-9_.*]{1,100}$")

# --- the operations --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Operation:
    """One route's description. `params`: the query (GET, DELETE) or the body (POST);
    `returns`: a schema (a ref to OBJECTS or inline); `errors`: statuses beyond those every
    route of its kind can answer (400 and 401; 404 with an id in the path or on a list; 409
    and 413 on a POST)."""

    summary: str
    tag: str
    returns: Schema
    params: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    errors: tuple[int, ...] = ()
    body: str = "form"  # form (and JSON), json, batch (JSON or NDJSON), none
    description: str | None = None
    is_list: bool = False
    exactly_one: tuple[str, ...] = ()  # of the body's params (closed())
    at_most_one: tuple[tuple[str, str], ...] = ()


def op(summary: str, tag: str, returns: str | Schema, params: dict[str, Any] | None = None,
       **kwargs: Any) -> Operation:
    schema = ref(returns) if isinstance(returns, str) else returns
    return Operation(summary, tag, schema, params or {}, **kwargs)


def listing(summary: str, tag: str, item: str, filters: dict[str, Any] | None = None,
            *, paged: bool = True, expandable: bool = True, **kwargs: Any) -> Operation:
    """`paged=False`: the whole list in one answer (has_more false), the cursors ignored."""
    page = PAGE if paged else {k: ignored(v, "the whole list is one page") for k, v in PAGE.items()}
    params = {**page, **(filters or {}),
              **(expand(item, is_list=True) if expandable and item in EXPANDABLE else {})}
    return Operation(summary, tag, list_of(ref(item)), params, is_list=True, **kwargs)


def either(*names: str) -> Schema:
    return {"anyOf": [ref(name) for name in names]}


def _health(status: str) -> Schema:
    return obj({"status": const(status)})


OPERATIONS: dict[tuple[str, str], Operation] = {
    # health and this document
    ("GET", "/healthz"): op("Liveness", "Health", _health("ok")),
    ("GET", "/readyz"): op(
        "Readiness: the store answers, the writer and the billing cycle run", "Health",
        obj({"status": enum("ready", "not ready"),
             "checks": {"type": "object", "additionalProperties": STR}})),
    ("GET", "/metrics"): op("Prometheus metrics (counts only, no tenant's data)", "Health",
                            {"type": "string"}),
    ("GET", "/openapi.json"): op("This OpenAPI 3.1 document", "Health", ANY_OBJECT),
    # customers
    ("POST", "/v1/customers"): op(
        "Create a customer", "Customers", "customer",
        {**CUSTOMER_FIELDS, "test_clock": ids("clock"), **expand("customer")}, errors=(404,)),
    ("GET", "/v1/customers"): listing("List customers", "Customers", "customer",
                                      {"email": string(maxLength=512)}),
    ("GET", "/v1/customers/{id}"): op(
        "Retrieve a customer (a deleted one answers its stub)", "Customers",
        either("customer", "deleted_customer"), expand("customer")),
    ("POST", "/v1/customers/{id}"): op("Update a customer", "Customers", "customer",
                                       {**CUSTOMER_FIELDS, **expand("customer")}),
    ("DELETE", "/v1/customers/{id}"): op("Delete a customer", "Customers", "deleted_customer"),
    # meters
    ("POST", "/v1/billing/meters"): op("Create a billing meter", "Meters", "billing.meter", {
        "display_name": Required(string(maxLength=250)),
        "event_name": Required(string(maxLength=100)),
        "default_aggregation": Required(DEFAULT_AGGREGATION),
        "customer_mapping": closed({"event_payload_key": Required(string(maxLength=100)),
                                    "type": enum("by_id")}),
        "value_settings": closed({"event_payload_key": Required(string(maxLength=100))}),
        "event_time_window": enum(*EVENT_TIME_WINDOWS),
        "dimension_payload_keys": array(string(pattern=r"^[A-Za-z0-9_.:\-]{1,100}$"),
                                        maxItems=MAX_DIMENSIONS,
                                        description="Native: payload keys to group by."),
    }),
    ("GET", "/v1/billing/meters"): listing("List billing meters", "Meters", "billing.meter",
                                           {"status": enum("active", "inactive")}),
    ("GET", "/v1/billing/meters/{id}"): op("Retrieve a billing meter", "Meters",
                                           "billing.meter"),
    ("POST", "/v1/billing/meters/{id}"): op("Update a billing meter", "Meters", "billing.meter",
                                            {"display_name": string(minLength=1,
                                                                    maxLength=250)}),
    ("POST", "/v1/billing/meters/{id}/deactivate"): op("Deactivate a billing meter", "Meters",
                                                       "billing.meter", body="none"),
    ("POST", "/v1/billing/meters/{id}/reactivate"): op("Reactivate a billing meter", "Meters",
                                                       "billing.meter", body="none"),
    ("GET", "/v1/billing/meters/{id}/event_summaries"): listing(
        "List a meter's event summaries for one customer", "Meters",
        "billing.meter_event_summary", {
            "customer": Required(ids("cus")),
            "start_time": Required(SUMMARY_TIME),
            "end_time": Required(SUMMARY_TIME),
            "value_grouping_window": enum("hour", "day"),
            "group_by": array(STR, maxItems=MAX_DIMENSIONS,
                                description="Native: dimension keys; adds `dimensions`."),
        }),
    ("GET", "/v1/metered/meters/{id}/usage"): op(
        "Native: a meter's usage, every group at once, unpaginated", "Meters", "metered.usage",
        {"customer": ids("cus"), "start_time": Required(SUMMARY_TIME),
         "end_time": Required(SUMMARY_TIME),
         "value_grouping_window": enum("hour", "day"),
         "group_by": array(STR, maxItems=MAX_DIMENSIONS)}),
    # meter events
    ("POST", "/v1/billing/meter_events"): op(
        "Record a meter event", "Meter events", "billing.meter_event", METER_EVENT,
        description="A duplicate identifier answers 400 duplicate_meter_event, as on Stripe."
                    " Answers carry a Server-Timing header."),
    ("POST", "/v1/billing/meter_event_adjustments"): op(
        "Cancel a meter event", "Meter events", "billing.meter_event_adjustment", ADJUSTMENT,
        errors=(404,)),
    ("POST", "/v1/metered/events/batch"): op(
        "Native: record up to 10,000 meter events, an answer each", "Meter events",
        "metered.event_batch", {"events": Required(array(closed(METER_EVENT), minItems=1,
                                                         maxItems=10_000))},
        body="batch", description="A JSON array of events, an object {\"events\": [...]}, or"
        " NDJSON (one event per line). Each event is accepted, a duplicate, or rejected with"
        " Stripe's meter event error code; the request fails only as a whole (400) when the"
        " body is not a batch."),
    ("POST", "/v2/billing/meter_event_session"): op(
        "Create a meter event session (a token for the stream, valid 15 minutes)",
        "Meter events", "v2.billing.meter_event_session", body="none"),
    ("POST", "/v2/billing/meter_event_stream"): op(
        "Record up to 10,000 meter events with a session token", "Meter events",
        "metered.event_batch",
        {"events": Required(array(closed(METER_EVENT), minItems=1, maxItems=10_000))},
        status=202, body="json", description="Validated synchronously: answered 202 with a"
        " result per event (Stripe validates asynchronously)."),
    ("POST", "/v2/billing/meter_events"): op(
        "Record a meter event (v2)", "Meter events", "v2.billing.meter_event", METER_EVENT,
        body="json"),
    ("POST", "/v2/billing/meter_event_adjustments"): op(
        "Cancel a meter event (v2)", "Meter events", "v2.billing.meter_event_adjustment",
        ADJUSTMENT, body="json", errors=(404,)),
    # test clocks
    ("POST", "/v1/test_helpers/test_clocks"): op(
        "Create a test clock (test mode only)", "Test clocks", "test_helpers.test_clock",
        {"frozen_time": Required(integer(MIN_FROZEN_TIME, MAX_FROZEN_TIME)),
         "name": string(maxLength=300)}),
    ("POST", "/v1/test_helpers/test_clocks/{id}/advance"): op(
        "Advance a test clock, running every billing action due before the new time",
        "Test clocks", "test_helpers.test_clock",
        {"frozen_time": Required(integer(MIN_FROZEN_TIME, MAX_FROZEN_TIME))}),
    ("GET", "/v1/test_helpers/test_clocks"): listing("List test clocks", "Test clocks",
                                                     "test_helpers.test_clock"),
    ("GET", "/v1/test_helpers/test_clocks/{id}"): op("Retrieve a test clock", "Test clocks",
                                                     "test_helpers.test_clock"),
    ("DELETE", "/v1/test_helpers/test_clocks/{id}"): op(
        "Delete a test clock and the customers attached to it", "Test clocks",
        "deleted_test_clock"),
    # products
    ("POST", "/v1/products"): op("Create a product", "Products", "product", {
        "name": Required(string(minLength=1, maxLength=250)),
        "id": string(pattern="^[A-Za-z0-9_-]{1,200}$"), "description": string(maxLength=5000),
        "active": BOOL, "metadata": METADATA, "unit_label": string(maxLength=12),
        "default_price_data": closed({
            "currency": Required(CURRENCY),
            "unit_amount": WHOLE_AMOUNT, "unit_amount_decimal": AMOUNT_DECIMAL,
            "recurring": closed({"interval": Required(enum(*INTERVALS)),
                                 "interval_count": integer(1, 1095)}),
            "metadata": METADATA}, at_most_one=(("unit_amount", "unit_amount_decimal"),)),
        **expand("product")}),
    ("GET", "/v1/products"): listing("List products", "Products", "product",
                                     {"active": BOOL, "ids": array(STR, maxItems=100)}),
    ("GET", "/v1/products/{id}"): op("Retrieve a product", "Products", "product",
                                     expand("product")),
    ("POST", "/v1/products/{id}"): op("Update a product", "Products", "product", {
        "name": string(maxLength=250), "description": string(maxLength=5000), "active": BOOL,
        "metadata": METADATA, "unit_label": string(maxLength=12),
        "default_price": string(maxLength=255), **expand("product")}),
    ("DELETE", "/v1/products/{id}"): op("Delete a product that has no prices", "Products",
                                        "deleted_product"),
    # prices
    ("POST", "/v1/prices"): op("Create a price", "Prices", "price",
                               {**PRICE_FIELDS, **expand("price")}, errors=(404,),
                               exactly_one=("product", "product_data"),
                               at_most_one=(("unit_amount", "unit_amount_decimal"),)),
    ("GET", "/v1/prices"): listing("List prices", "Prices", "price", {
        "active": BOOL, "currency": string(maxLength=3), "product": string(maxLength=255),
        "type": enum("one_time", "recurring"),
        "lookup_keys": array(string(maxLength=200), maxItems=10),
        "recurring": closed({"interval": enum(*INTERVALS), "usage_type": enum(*USAGE_TYPES),
                             "meter": string(maxLength=255)})}),
    ("GET", "/v1/prices/{id}"): op("Retrieve a price", "Prices", "price", expand("price")),
    ("POST", "/v1/prices/{id}"): op("Update a price", "Prices", "price", {
        "active": BOOL, "metadata": METADATA, "nickname": string(maxLength=5000),
        "lookup_key": string(maxLength=200), "transfer_lookup_key": BOOL, **expand("price")}),
    # subscriptions
    ("POST", "/v1/subscriptions"): op("Create a subscription", "Subscriptions", "subscription", {
        "customer": Required(string(maxLength=100)),
        "items": Required(array(SUBSCRIPTION_ITEM, minItems=1, maxItems=20)),
        "billing_cycle_anchor": TIME_RANGE,
        "trial_end": {"anyOf": [TIME_RANGE, const("now")]},
        "trial_period_days": integer(1, 730), "cancel_at_period_end": BOOL,
        "cancel_at": TIME_RANGE, "metadata": METADATA, "days_until_due": integer(0, 365),
        "collection_method": enum("charge_automatically", "send_invoice"),
        **PRORATION, **PAYMENT_PARAMS}, errors=(404,)),
    ("GET", "/v1/subscriptions"): listing("List subscriptions", "Subscriptions",
                                          "subscription", {
        "customer": string(maxLength=100), "price": string(maxLength=100),
        "status": enum("active", "trialing", "canceled", "all", "ended", "incomplete",
                       "incomplete_expired", "past_due", "paused", "unpaid")},
        expandable=False),
    ("GET", "/v1/subscriptions/{id}"): op("Retrieve a subscription", "Subscriptions",
                                          "subscription"),
    ("POST", "/v1/subscriptions/{id}"): op("Update a subscription", "Subscriptions",
                                           "subscription", {
        "items": array(SUBSCRIPTION_ITEM, maxItems=20), "cancel_at_period_end": BOOL,
        "cancel_at": {"anyOf": [TIME_RANGE, const("")],
                      "description": "An empty value clears it."},
        "metadata": METADATA, "trial_end": {"anyOf": [TIME_RANGE, const("now")]},
        **PRORATION, **PAYMENT_PARAMS}),
    ("DELETE", "/v1/subscriptions/{id}"): op(
        "Cancel a subscription now", "Subscriptions", "subscription",
        {"invoice_now": {**BOOL, "description": "Bill the usage so far (default true)."},
         "prorate": BOOL, "cancellation_details": ignored(ANY_OBJECT, "not recorded yet")}),
    ("POST", "/v1/subscription_items"): op(
        "Add an item to a subscription", "Subscription items", "subscription_item", {
            "subscription": Required(string(maxLength=100)),
            "price": Required(string(maxLength=100)), "quantity": integer(0, 10**9),
            "metadata": METADATA, **PRORATION, "payment_behavior": ignored(STR),
            "tax_rates": ignored(array(STR), "metered computes no taxes")}, errors=(404,)),
    ("GET", "/v1/subscription_items"): listing(
        "List a subscription's items", "Subscription items", "subscription_item",
        {"subscription": Required(string(maxLength=100))}, expandable=False),
    ("GET", "/v1/subscription_items/{id}"): op("Retrieve a subscription item",
                                               "Subscription items", "subscription_item"),
    ("POST", "/v1/subscription_items/{id}"): op(
        "Update a subscription item", "Subscription items", "subscription_item", {
            "price": string(maxLength=100), "quantity": integer(0, 10**9),
            "metadata": METADATA, **PRORATION, "payment_behavior": ignored(STR),
            "tax_rates": ignored(array(STR), "metered computes no taxes"),
            "off_session": ignored(BOOL)}),
    ("DELETE", "/v1/subscription_items/{id}"): op(
        "Remove a subscription item", "Subscription items", "deleted_subscription_item",
        {**PRORATION, "clear_usage": ignored(BOOL, "usage is never cleared"),
         "proration_date": ignored(INT, "prorations are to the second")}),
    # invoices
    ("POST", "/v1/invoices/create_preview"): op(
        "Preview the invoice a subscription's current period will close with", "Invoices",
        "invoice", {"customer": string(maxLength=100), "subscription": string(maxLength=100),
                    "automatic_tax": ignored(ANY_OBJECT, "metered computes no taxes"),
                    "currency": ignored(STR, "the subscription's currency is used")},
        errors=(404,)),
    ("GET", "/v1/invoices"): listing("List invoices", "Invoices", "invoice", {
        "customer": string(maxLength=100), "subscription": string(maxLength=100),
        "status": enum(*INVOICE_STATUSES),
        "collection_method": ignored(enum("charge_automatically", "send_invoice"),
                                     "every invoice is charge_automatically")},
        expandable=False),
    ("GET", "/v1/invoices/{id}"): op("Retrieve an invoice (a draft's usage rated now)",
                                     "Invoices", "invoice"),
    ("POST", "/v1/invoices/{id}"): op("Update an invoice", "Invoices", "invoice", {
        "description": string(maxLength=1500), "metadata": METADATA, "auto_advance": BOOL}),
    ("GET", "/v1/invoices/{id}/lines"): listing("List an invoice's lines", "Invoices",
                                                "line_item"),
    ("POST", "/v1/invoices/{id}/finalize"): op(
        "Finalize a draft invoice", "Invoices", "invoice",
        {"auto_advance": ignored(BOOL, "finalized invoices are final")}),
    ("POST", "/v1/invoices/{id}/pay"): op(
        "Mark an open invoice paid (no payment is collected)", "Invoices", "invoice",
        {k: ignored(s) for k, s in (("paid_out_of_band", BOOL), ("payment_method", STR),
                                    ("source", STR), ("off_session", BOOL),
                                    ("forgive", BOOL), ("mandate", STR))}),
    ("POST", "/v1/invoices/{id}/void"): op("Void an open invoice", "Invoices", "invoice",
                                           body="none"),
    ("POST", "/v1/invoices/{id}/mark_uncollectible"): op(
        "Mark an open invoice uncollectible", "Invoices", "invoice", body="none"),
    # credits
    ("POST", "/v1/billing/credit_grants"): op(
        "Grant prepaid credit to a customer", "Credits", "billing.credit_grant", {
            "customer": Required(string(maxLength=100)),
            "amount": Required(closed({
                "type": Required(enum("monetary")),
                "monetary": Required(closed({"currency": Required(CURRENCY),
                                             "value": Required(integer(1, 10**15))}))})),
            "applicability_config": Required(closed({"scope": Required(SCOPE)})),
            "category": enum("paid", "promotional"), "priority": integer(0, 100),
            "effective_at": TIME_RANGE, "expires_at": TIME_RANGE,
            "name": string(maxLength=100), "metadata": METADATA}, errors=(404,)),
    ("GET", "/v1/billing/credit_grants"): listing(
        "List credit grants", "Credits", "billing.credit_grant",
        {"customer": string(maxLength=100)}),
    ("GET", "/v1/billing/credit_grants/{id}"): op("Retrieve a credit grant", "Credits",
                                                  "billing.credit_grant"),
    ("POST", "/v1/billing/credit_grants/{id}"): op(
        "Update a credit grant", "Credits", "billing.credit_grant",
        {"expires_at": {"anyOf": [TIME_RANGE, const("")],
                        "description": "An empty value clears it."},
         "metadata": METADATA}),
    ("POST", "/v1/billing/credit_grants/{id}/expire"): op(
        "Expire a credit grant now", "Credits", "billing.credit_grant", body="none"),
    ("POST", "/v1/billing/credit_grants/{id}/void"): op(
        "Void a credit grant", "Credits", "billing.credit_grant", body="none"),
    ("GET", "/v1/billing/credit_balance_summary"): op(
        "A customer's credit balances", "Credits", "billing.credit_balance_summary", {
            "customer": Required(string(maxLength=100)),
            "filter": Required(closed({
                "type": Required(enum("credit_grant", "applicability_scope")),
                "credit_grant": string(maxLength=100), "applicability_scope": SCOPE}))},
        errors=(404,)),
    ("GET", "/v1/billing/credit_balance_transactions"): listing(
        "List a customer's credit balance transactions", "Credits",
        "billing.credit_balance_transaction",
        {"customer": Required(string(maxLength=100)), "credit_grant": string(maxLength=100)}),
    ("GET", "/v1/billing/credit_balance_transactions/{id}"): op(
        "Retrieve a credit balance transaction", "Credits",
        "billing.credit_balance_transaction"),
    ("POST", "/v1/metered/credit_holds"): op(
        "Native: hold credit before an expensive request", "Credit holds",
        "metered.credit_hold", {
            "customer": Required(string(maxLength=100)),
            "amount": Required(integer(1, 10**15)), "currency": Required(CURRENCY),
            "expires_in": {**integer(1, 7 * 86_400), "description": "Seconds (default 3600)."},
            "metadata": METADATA}, errors=(402, 404),
        description="Held only if the customer's real-time available credit covers it."),
    ("GET", "/v1/metered/credit_holds"): listing(
        "Native: list credit holds", "Credit holds", "metered.credit_hold",
        {"customer": string(maxLength=100)}),
    ("GET", "/v1/metered/credit_holds/{id}"): op("Native: retrieve a credit hold",
                                                 "Credit holds", "metered.credit_hold"),
    ("POST", "/v1/metered/credit_holds/{id}/capture"): op(
        "Native: end a hold, its usage sent", "Credit holds", "metered.credit_hold",
        {"amount": {**integer(0, 10**15), "description": "What the request used, for the"
                    " record: at most the hold's amount."}}),
    ("POST", "/v1/metered/credit_holds/{id}/release"): op(
        "Native: end a hold without usage", "Credit holds", "metered.credit_hold",
        body="none"),
    # alerts
    ("POST", "/v1/billing/alerts"): op("Create a usage threshold alert", "Alerts",
                                       "billing.alert", {
        "alert_type": Required(enum("usage_threshold")),
        "title": Required(string(minLength=1, maxLength=256)),
        "usage_threshold": Required(closed({
            "gte": Required({"anyOf": [integer(0), string(pattern=r"^[0-9]{1,18}(\.[0-9]+)?$",
                                                          maxLength=40)]}),
            "meter": Required(string(maxLength=100)),
            "recurrence": Required(enum("one_time")),
            "filters": array(closed({"type": Required(enum("customer")),
                                     "customer": Required(string(maxLength=100))}),
                             maxItems=1)}))}, errors=(404,)),
    ("GET", "/v1/billing/alerts"): listing("List alerts", "Alerts", "billing.alert", {
        "alert_type": enum("usage_threshold"), "meter": string(maxLength=100)}),
    ("GET", "/v1/billing/alerts/{id}"): op("Retrieve an alert", "Alerts", "billing.alert"),
    ("POST", "/v1/billing/alerts/{id}/activate"): op("Activate an alert", "Alerts",
                                                     "billing.alert", body="none"),
    ("POST", "/v1/billing/alerts/{id}/deactivate"): op("Deactivate an alert", "Alerts",
                                                       "billing.alert", body="none"),
    ("POST", "/v1/billing/alerts/{id}/archive"): op("Archive an alert", "Alerts",
                                                    "billing.alert", body="none"),
    # webhooks and events
    ("POST", "/v1/webhook_endpoints"): op(
        "Create a webhook endpoint (its answer holds the signing secret)", "Webhooks",
        "webhook_endpoint", {
            "url": Required(string(format="uri", maxLength=2048)),
            "enabled_events": Required(array(enum(WILDCARD, *EVENT_TYPES), minItems=1)),
            "description": string(maxLength=5000), "metadata": METADATA,
            "api_version": {**STR, "description": f"Only {STRIPE_VERSION}."},
            "connect": {**BOOL, "description": "Only false."}}),
    ("GET", "/v1/webhook_endpoints"): listing("List webhook endpoints", "Webhooks",
                                              "webhook_endpoint"),
    ("GET", "/v1/webhook_endpoints/{id}"): op("Retrieve a webhook endpoint", "Webhooks",
                                              "webhook_endpoint"),
    ("POST", "/v1/webhook_endpoints/{id}"): op("Update a webhook endpoint", "Webhooks",
                                               "webhook_endpoint", {
        "url": string(format="uri", maxLength=2048),
        "enabled_events": array(enum(WILDCARD, *EVENT_TYPES), minItems=1),
        "disabled": BOOL, "description": string(maxLength=5000), "metadata": METADATA}),
    ("DELETE", "/v1/webhook_endpoints/{id}"): op("Delete a webhook endpoint", "Webhooks",
                                                 "deleted_webhook_endpoint"),
    ("GET", "/v1/events"): listing("List events", "Webhooks", "event", {
        "type": {**EVENT_TYPE_PATTERN, "description": "`*` is a wildcard, as in invoice.*"},
        "types": array(EVENT_TYPE_PATTERN, maxItems=20),
        "created": {"anyOf": [integer(0), closed({k: integer(0)
                                                  for k in ("gt", "gte", "lt", "lte")})]},
        "delivery_success": BOOL}),
    ("GET", "/v1/events/{id}"): op("Retrieve an event", "Webhooks", "event"),
}

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
    responses: dict[str, Any] = {str(spec.status): _answer(spec, path)}
    for status in _error_statuses(method, path, auth, spec):
        responses[str(status)] = {"$ref": f"#/components/responses/{status}"}
    if path == "/readyz":  # not ready: the same object, its checks saying why
        responses["503"] = {"description": STATUS_TEXTS[503],
                            "content": {"application/json": {"schema": spec.returns}}}
    out["responses"] = responses
    return out


def _answer(spec: Operation, path: str) -> dict[str, Any]:
    media = "text/plain" if path == "/metrics" else "application/json"
    return {"description": "OK" if spec.status == 200 else "Accepted",
            "content": {media: {"schema": spec.returns}}}


def _error_statuses(method: str, path: str, auth: str, spec: Operation) -> list[int]:
    if auth == "none":
        return list(spec.errors)
    statuses = {400, 401, *spec.errors}
    if "{" in path or spec.is_list:
        statuses.add(404)
    if method == "POST":
        statuses |= {409, 413} if auth == "secret" else {413}
    return sorted(statuses)


def _error_response(status: int) -> dict[str, Any]:
    return {"description": STATUS_TEXTS[status],
            "content": {"application/json": {"schema": ref("Error")}}}


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


if __name__ == "__main__":
    main()
