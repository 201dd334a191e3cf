"""One module per resource; each registers its handlers on the app's router."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metered.api.app import App


def register_all(app: App) -> None:
    from metered.api.routes import (
        alerts,
        credit_holds,
        credits,
        customers,
        dashboard,
        events,
        health,
        invoices,
        meter_events,
        meters,
        openapi,
        prices,
        products,
        subscriptions,
        test_clocks,
        v2,
        webhook_endpoints,
    )

    for module in (health, customers, meters, meter_events, v2, test_clocks, products, prices,
                   subscriptions, invoices, credits, credit_holds, alerts, webhook_endpoints,
                   events, openapi, dashboard):
        module.register(app)
