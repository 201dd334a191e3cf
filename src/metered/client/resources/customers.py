"""`client.customers`: create, retrieve, update, delete, list and list_all."""

from __future__ import annotations

from collections.abc import Iterator

from metered.client.models import Customer, DeletedCustomer
from metered.client.pages import Page, fetch_page
from metered.client.transport import Transport
from metered.client.wire import ApiRequest

PATH = "/v1/customers"


class Customers:
    def __init__(self, transport: Transport):
        self._transport = transport

    def create(self, *, email: str | None = None, name: str | None = None,
               description: str | None = None, metadata: dict[str, str] | None = None,
               test_clock: str | None = None) -> Customer:
        """`test_clock`: the customer lives on that clock's time (test mode)."""
        body = _fields(email=email, name=name, description=description, metadata=metadata,
                       test_clock=test_clock)
        return self._transport.send(ApiRequest.post(PATH, body), Customer)

    def retrieve(self, customer_id: str) -> Customer:
        return self._transport.send(ApiRequest.get(f"{PATH}/{customer_id}"), Customer)

    def update(self, customer_id: str, *, email: str | None = None, name: str | None = None,
               description: str | None = None,
               metadata: dict[str, str] | None = None) -> Customer:
        """Change the fields given; "" clears a field, and a metadata key set to "" is removed."""
        body = _fields(email=email, name=name, description=description, metadata=metadata)
        return self._transport.send(ApiRequest.post(f"{PATH}/{customer_id}", body), Customer)

    def delete(self, customer_id: str) -> DeletedCustomer:
        return self._transport.send(ApiRequest.delete(f"{PATH}/{customer_id}"), DeletedCustomer)

    def list(self, *, limit: int | None = None, starting_after: str | None = None,
             ending_before: str | None = None, email: str | None = None) -> Page[Customer]:
        """One page, newest first (`limit` 1 to 100, the server's default 10)."""
        params = {"limit": limit, "starting_after": starting_after,
                  "ending_before": ending_before, "email": email}
        return fetch_page(self._transport, PATH, params, Customer)

    def list_all(self, *, email: str | None = None, page_size: int = 100) -> Iterator[Customer]:
        """Every customer, newest first, fetching pages of `page_size` as the loop goes."""
        return self.list(limit=page_size, email=email).auto_paging_iter()


def _fields(**fields: object) -> dict[str, object]:
    return {k: v for k, v in fields.items() if v is not None}
