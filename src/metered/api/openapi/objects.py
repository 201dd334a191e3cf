"""The wire objects' schemas, as their `to_wire` functions write them."""

from __future__ import annotations

from metered.api.openapi.vocabulary import (
    ANY_OBJECT,
    BOOL,
    DECIMAL_TEXT,
    EXACT_NUMBER,
    INT,
    ISO_TIME,
    METADATA,
    STR,
    TIME,
    Schema,
    array,
    const,
    deleted,
    enum,
    list_of,
    null,
    obj,
    ref,
)
from metered.billing.invoices import STATUSES as INVOICE_STATUSES
from metered.billing.price_specs import (
    BILLING_SCHEMES,
    INTERVALS,
    ROUND_MODES,
    TIERS_MODES,
    USAGE_TYPES,
)
from metered.metering.meters import EVENT_TIME_WINDOWS, FORMULAS
from metered.webhooks.events import EVENT_TYPES

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
                429: "Over a rate limit (rate_limit_error); Retry-After says when to retry.",
                503: "Not ready."}
