"""One class per API resource (`client.customers`, `client.meters`, `client.events`, and the
billing ones in `billing`): each method builds an `ApiRequest` and names the type its answer
decodes to."""

from metered.client.resources.billing import (
    Alerts,
    CreditBalances,
    CreditGrants,
    CreditHolds,
    Invoices,
    Prices,
    Products,
    SubscriptionItems,
    Subscriptions,
    TestClocks,
)
from metered.client.resources.customers import Customers
from metered.client.resources.events import Events
from metered.client.resources.meters import Meters

__all__ = ["Alerts", "CreditBalances", "CreditGrants", "CreditHolds", "Customers", "Events",
           "Invoices", "Meters", "Prices", "Products", "SubscriptionItems", "Subscriptions",
           "TestClocks"]
