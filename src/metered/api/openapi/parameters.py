"""Request parameter groups shared by several operations."""

from __future__ import annotations

from metered.api import limits
from metered.api.openapi.vocabulary import (
    AMOUNT_DECIMAL,
    ANY_OBJECT,
    BOOL,
    CURRENCY,
    INT,
    ISO_TIME,
    METADATA,
    STR,
    WHOLE_AMOUNT,
    Required,
    array,
    closed,
    const,
    enum,
    ignored,
    integer,
    string,
)
from metered.billing.price_specs import (
    BILLING_SCHEMES,
    INTERVALS,
    ROUND_MODES,
    TIERS_MODES,
    USAGE_TYPES,
)
from metered.billing.subscription_lifecycle import PRORATION_BEHAVIORS
from metered.metering.meters import FORMULAS

CUSTOMER_FIELDS = {"email": string(maxLength=512), "name": string(maxLength=256),
                   "description": string(maxLength=5000), "metadata": METADATA,
                   **{k: ignored(s, "answered with Stripe's default") for k, s in (
                       ("phone", STR), ("address", ANY_OBJECT),
                       ("preferred_locales", array(STR)), ("invoice_settings", ANY_OBJECT),
                       ("tax_exempt", enum("none", "exempt", "reverse")),
                       ("shipping", ANY_OBJECT), ("balance", INT),
                       ("invoice_prefix", STR))}}
METER_EVENT = {
    "event_name": Required(string(maxLength=limits.MAX_EVENT_NAME)),
    "payload": Required({
        **ANY_OBJECT, "maxProperties": limits.MAX_PAYLOAD_KEYS,
        "propertyNames": {"maxLength": limits.MAX_PAYLOAD_KEY_LENGTH},
        "description": "The customer id under the meter's customer key (stripe_customer_id),"
                       " the value under its value key (value, a decimal as a string or"
                       " number), and the meter's dimensions (each at most"
                       f" {limits.MAX_DIMENSION_VALUE} characters). At most"
                       f" {limits.MAX_PAYLOAD_BYTES} bytes as JSON, nested at most"
                       f" {limits.MAX_PAYLOAD_DEPTH} levels (docs/limits.md)."}),
    "identifier": string(maxLength=limits.MAX_IDENTIFIER, description="Deduplicated for 35"
                         " days; derived from the Idempotency-Key, or random, when absent."),
    "timestamp": {"anyOf": [INT, ISO_TIME], "description": "Unix seconds (or ISO 8601 with a"
                  " time zone): up to 35 days ago and 5 minutes ahead; now when absent."},
}
ADJUSTMENT = {"event_name": Required(string(maxLength=limits.MAX_EVENT_NAME)),
              "type": enum("cancel"),
              "cancel": Required(closed({"identifier": Required(string(
                  maxLength=limits.MAX_IDENTIFIER))}))}
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
