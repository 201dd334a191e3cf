"""`Client`: the resources of a metered server, typed."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

import msgspec

from metered.client.models import (
    BatchResult,
    Customer,
    EventIn,
    Meter,
    MeterEventSummary,
    Usage,
)
from metered.client.transport import Transport

T = TypeVar("T")
MAX_BATCH = 10_000
DEFAULT_BASE_URL = "http://127.0.0.1:8080"


def _convert(obj: Any, cls: type[T]) -> T:
    return msgspec.convert(obj, cls, strict=False)


class _Resource:
    def __init__(self, transport: Transport):
        self._t = transport


class Customers(_Resource):
    def create(self, *, email: str | None = None, name: str | None = None,
               description: str | None = None, metadata: dict[str, str] | None = None
               ) -> Customer:
        body = {k: v for k, v in (("email", email), ("name", name), ("description", description),
                                  ("metadata", metadata)) if v is not None}
        return _convert(self._t.request("POST", "/v1/customers", json=body), Customer)

    def retrieve(self, customer_id: str) -> Customer:
        return _convert(self._t.request("GET", f"/v1/customers/{customer_id}"), Customer)

    def update(self, customer_id: str, **fields: Any) -> Customer:
        return _convert(self._t.request("POST", f"/v1/customers/{customer_id}", json=fields),
                        Customer)

    def delete(self, customer_id: str) -> Customer:
        return _convert(self._t.request("DELETE", f"/v1/customers/{customer_id}"), Customer)

    def list(self, *, limit: int = 10, starting_after: str | None = None,
             email: str | None = None) -> tuple[list[Customer], bool]:
        params: dict[str, Any] = {"limit": limit}
        if starting_after:
            params["starting_after"] = starting_after
        if email:
            params["email"] = email
        page = self._t.request("GET", "/v1/customers", params=params)
        return [_convert(c, Customer) for c in page["data"]], bool(page["has_more"])

    def list_all(self, *, page_size: int = 100) -> Iterator[Customer]:
        after: str | None = None
        while True:
            customers, has_more = self.list(limit=page_size, starting_after=after)
            yield from customers
            if not has_more or not customers:
                return
            after = customers[-1].id


class Meters(_Resource):
    def create(self, *, display_name: str, event_name: str, formula: str = "sum",
               customer_key: str = "stripe_customer_id", value_key: str = "value",
               dimensions: Sequence[str] = (), event_time_window: str | None = None) -> Meter:
        body: dict[str, Any] = {
            "display_name": display_name, "event_name": event_name,
            "default_aggregation": {"formula": formula},
            "customer_mapping": {"event_payload_key": customer_key, "type": "by_id"},
            "value_settings": {"event_payload_key": value_key},
        }
        if dimensions:
            body["dimension_payload_keys"] = list(dimensions)
        if event_time_window:
            body["event_time_window"] = event_time_window
        return _convert(self._t.request("POST", "/v1/billing/meters", json=body), Meter)

    def retrieve(self, meter_id: str) -> Meter:
        return _convert(self._t.request("GET", f"/v1/billing/meters/{meter_id}"), Meter)

    def update(self, meter_id: str, *, display_name: str) -> Meter:
        return _convert(self._t.request("POST", f"/v1/billing/meters/{meter_id}",
                                        json={"display_name": display_name}), Meter)

    def deactivate(self, meter_id: str) -> Meter:
        return _convert(self._t.request("POST", f"/v1/billing/meters/{meter_id}/deactivate"),
                        Meter)

    def reactivate(self, meter_id: str) -> Meter:
        return _convert(self._t.request("POST", f"/v1/billing/meters/{meter_id}/reactivate"),
                        Meter)

    def list(self, *, status: str | None = None, limit: int = 100) -> list[Meter]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        page = self._t.request("GET", "/v1/billing/meters", params=params)
        return [_convert(m, Meter) for m in page["data"]]

    def event_summaries(self, meter_id: str, *, customer: str, start_time: int, end_time: int,
                        value_grouping_window: str | None = None,
                        group_by: Sequence[str] = ()) -> list[MeterEventSummary]:
        params: dict[str, Any] = {"customer": customer, "start_time": start_time,
                                  "end_time": end_time, "limit": 100}
        if value_grouping_window:
            params["value_grouping_window"] = value_grouping_window
        if group_by:
            params["group_by[]"] = list(group_by)
        out: list[MeterEventSummary] = []
        while True:
            page = self._t.request("GET", f"/v1/billing/meters/{meter_id}/event_summaries",
                                   params=params)
            out += [_convert(s, MeterEventSummary) for s in page["data"]]
            if not page["has_more"] or not page["data"]:
                return out
            params["starting_after"] = page["data"][-1]["id"]

    def usage(self, meter_id: str, *, start_time: int, end_time: int,
              customer: str | None = None, group_by: Sequence[str] = (),
              value_grouping_window: str | None = None) -> Usage:
        params: dict[str, Any] = {"start_time": start_time, "end_time": end_time}
        if customer:
            params["customer"] = customer
        if group_by:
            params["group_by[]"] = list(group_by)
        if value_grouping_window:
            params["value_grouping_window"] = value_grouping_window
        return _convert(self._t.request("GET", f"/v1/metered/meters/{meter_id}/usage",
                                        params=params), Usage)


class Events(_Resource):
    def create(self, event_name: str, payload: dict[str, Any], *,
               identifier: str | None = None, timestamp: int | None = None) -> dict[str, Any]:
        """One event on Stripe's v1 endpoint; a duplicate identifier raises InvalidRequestError."""
        body: dict[str, Any] = {"event_name": event_name, "payload": payload,
                                "identifier": identifier or str(uuid.uuid4())}
        if timestamp is not None:
            body["timestamp"] = timestamp
        result: dict[str, Any] = self._t.request("POST", "/v1/billing/meter_events", json=body)
        return result

    def send_batch(self, events: Iterable[EventIn | dict[str, Any]],
                   *, chunk_size: int = MAX_BATCH) -> BatchResult:
        """Send events in chunks of at most 10,000; every event gets an outcome.

        Identifiers are assigned before the first attempt, so a retried chunk can only ever be
        answered `duplicate` for events that already counted.
        """
        chunk_size = max(1, min(chunk_size, MAX_BATCH))
        total = BatchResult()
        chunk: list[EventIn] = []
        sent = 0
        for event in events:
            item = event if isinstance(event, EventIn) else _convert(event, EventIn)
            if item.identifier is None:
                item.identifier = str(uuid.uuid4())
            chunk.append(item)
            if len(chunk) == chunk_size:
                total.extend(self._send_chunk(chunk), sent)
                sent += len(chunk)
                chunk = []
        if chunk:
            total.extend(self._send_chunk(chunk), sent)
        return total

    def _send_chunk(self, chunk: list[EventIn]) -> BatchResult:
        body = self._t.request("POST", "/v1/metered/events/batch", json=chunk)
        return _convert(body, BatchResult)

    def cancel(self, event_name: str, identifier: str) -> dict[str, Any]:
        result: dict[str, Any] = self._t.request(
            "POST", "/v1/billing/meter_event_adjustments",
            json={"event_name": event_name, "type": "cancel",
                  "cancel": {"identifier": identifier}},
        )
        return result


class Client:
    """`Client(api_key=..., base_url=...)`; defaults come from METERED_API_KEY and
    METERED_BASE_URL."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *,
                 timeout: float = 30.0, max_retries: int = 3):
        key = api_key or os.environ.get("METERED_API_KEY")
        if not key:
            raise ValueError("An API key is needed: pass api_key or set METERED_API_KEY.")
        url = base_url or os.environ.get("METERED_BASE_URL") or DEFAULT_BASE_URL
        self._transport = Transport(key, url, timeout=timeout, max_retries=max_retries)
        self.customers = Customers(self._transport)
        self.meters = Meters(self._transport)
        self.events = Events(self._transport)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
