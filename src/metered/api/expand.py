"""`expand[]`: the fields Stripe lets a caller expand, checked per object type.

Expanding a known field that holds a reference returns the referenced object in its place (a
customer's `test_clock`: api.routes.customers); one that holds none (null) returns the object
unchanged; an unknown field is an error, as on Stripe.
"""

from __future__ import annotations

from metered.api.params import Params
from metered.errors import invalid_param

EXPANDABLE = {
    "customer": {"default_source", "invoice_settings.default_payment_method", "test_clock",
                 "cash_balance", "tax", "discount"},
    "product": {"default_price"},
    "price": {"product", "tiers"},
    "billing.meter": set(),
    "billing.meter_event_summary": set(),
    "billing.meter_event": set(),
    "billing.meter_event_adjustment": set(),
    "test_helpers.test_clock": set(),
    "subscription": set(),
    "subscription_item": set(),
    "invoice": set(),
    "billing.credit_grant": set(),
    "billing.alert": set(),
}


def check_expand(params: Params, object_type: str, *, is_list: bool = False) -> None:
    allowed = EXPANDABLE.get(object_type, set())
    for path in params.str_list("expand"):
        # On a list only `data.<field>` names a field of the listed objects, as on Stripe.
        field = path.removeprefix("data.") if is_list else path
        if field not in allowed or (is_list and field == path):
            raise invalid_param("expand", f"This property cannot be expanded ({path}).")
