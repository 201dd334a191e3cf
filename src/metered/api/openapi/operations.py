"""OPERATIONS: a description of each route (summary, tag, parameters, answer)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from metered.api import limits
from metered.api.expand import EXPANDABLE
from metered.api.openapi.parameters import (
    ADJUSTMENT,
    CUSTOMER_FIELDS,
    DEFAULT_AGGREGATION,
    EVENT_TYPE_PATTERN,
    METER_EVENT,
    PAYMENT_PARAMS,
    PRICE_FIELDS,
    PRORATION,
    SCOPE,
    SUBSCRIPTION_ITEM,
)
from metered.api.openapi.vocabulary import (
    AMOUNT_DECIMAL,
    ANY_OBJECT,
    BOOL,
    CURRENCY,
    INT,
    METADATA,
    PAGE,
    STR,
    SUMMARY_TIME,
    TIME_RANGE,
    WHOLE_AMOUNT,
    Required,
    Schema,
    array,
    closed,
    const,
    enum,
    expand,
    ids,
    ignored,
    integer,
    list_of,
    obj,
    ref,
    string,
)
from metered.api.responses import STRIPE_VERSION
from metered.billing.invoices import STATUSES as INVOICE_STATUSES
from metered.billing.price_specs import (
    INTERVALS,
    USAGE_TYPES,
)
from metered.billing.test_clocks import MAX_FROZEN_TIME, MIN_FROZEN_TIME
from metered.metering.meters import EVENT_TIME_WINDOWS, MAX_DIMENSIONS
from metered.webhooks.events import EVENT_TYPES, WILDCARD

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
    media: tuple[str, ...] = ("application/json",)  # of the answer (200)


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
                            {"type": "string"}, media=("text/plain",)),
    ("GET", "/openapi.json"): op("This OpenAPI 3.1 document", "Health", ANY_OBJECT),
    # the dashboard (docs/dashboard.md): static files, no auth; the page asks for a key
    ("GET", "/dashboard"): op(
        "The dashboard's page (HTML)", "Dashboard", {"type": "string"}, media=("text/html",),
        description="A single page that asks for a secret key and charts usage, customers,"
                    " invoices and refused events through this API."),
    ("GET", "/dashboard/static/{name}"): op(
        "A file of the dashboard (app.js, app.css, chart.umd.min.js)", "Dashboard",
        {"type": "string"}, media=("text/javascript", "text/css", "text/html"), errors=(404,)),
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
                                                         maxItems=limits.MAX_BATCH_EVENTS))},
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
        {"events": Required(array(closed(METER_EVENT), minItems=1,
                                  maxItems=limits.MAX_BATCH_EVENTS))},
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
