"""`Client`: configuration (key, address, timeout, retries) and the resource namespaces."""

from __future__ import annotations

import os
from types import TracebackType
from typing import Literal

from metered.client.errors import AuthenticationError
from metered.client.resources import (
    Alerts,
    CreditBalances,
    CreditGrants,
    CreditHolds,
    Customers,
    Events,
    Invoices,
    Meters,
    Prices,
    Products,
    SubscriptionItems,
    Subscriptions,
    TestClocks,
)
from metered.client.retries import RetryPolicy
from metered.client.sender import ErrorHandler, EventSender
from metered.client.transport import Transport

DEFAULT_BASE_URL = "http://127.0.0.1:8080"


class Client:
    """A metered server, through its HTTP API.

    `api_key` defaults to $METERED_API_KEY and `base_url` to $METERED_BASE_URL, else
    http://127.0.0.1:8080. `timeout` is per attempt, in seconds; failed attempts (network
    errors, 409, 429, 5xx) are retried up to `max_retries` times. `events.send` queues events
    for a background sender (`batch_size`, `flush_interval`, `max_buffered`, `on_full`,
    `on_error`, `sender_workers`: see metered.client.sender). Use it as a context manager, or
    call `close()`, to send what is queued and release its connections.
    """

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *,
                 timeout: float = 30.0, max_retries: int = 3, batch_size: int = 1000,
                 flush_interval: float = 0.25, max_buffered: int = 100_000,
                 on_full: Literal["block", "raise"] = "block",
                 on_error: ErrorHandler | None = None, sender_workers: int = 8):
        key = api_key or os.environ.get("METERED_API_KEY")
        if not key:
            raise AuthenticationError(
                "No API key: pass api_key=... or set METERED_API_KEY (`metered keys create`"
                " prints one)."
            )
        self.base_url = base_url or os.environ.get("METERED_BASE_URL") or DEFAULT_BASE_URL
        self._transport = Transport(key, self.base_url, timeout=timeout,
                                    retry_policy=RetryPolicy(max_retries=max_retries))
        self.customers = Customers(self._transport)
        self.meters = Meters(self._transport)
        transport = self._transport
        self.events = Events(transport, lambda: EventSender(
            transport, batch_size=batch_size, flush_interval=flush_interval,
            max_buffered=max_buffered, on_full=on_full, on_error=on_error,
            workers=sender_workers))
        self.products = Products(self._transport)
        self.prices = Prices(self._transport)
        self.subscriptions = Subscriptions(self._transport)
        self.subscription_items = SubscriptionItems(self._transport)
        self.invoices = Invoices(self._transport)
        self.credit_grants = CreditGrants(self._transport)
        self.credit_balances = CreditBalances(self._transport)
        self.credit_holds = CreditHolds(self._transport)
        self.alerts = Alerts(self._transport)
        self.test_clocks = TestClocks(self._transport)

    def close(self, timeout: float | None = 30.0) -> None:
        """Send what `events.send` queued (waiting up to `timeout` seconds for the server:
        see EventSender.close), then release the connections."""
        try:
            self.events.close(timeout)
        finally:
            self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
