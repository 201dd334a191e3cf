"""`client.meters`: billing meters, their Stripe event summaries and the native usage query."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

from metered.client.models import Meter, MeterEventSummary, Usage
from metered.client.pages import Page, fetch_page
from metered.client.transport import Transport
from metered.client.wire import ApiRequest

PATH = "/v1/billing/meters"
Formula = Literal["sum", "count", "last", "max", "unique_count"]
Window = Literal["hour", "day"]
Status = Literal["active", "inactive"]


class Meters:
    def __init__(self, transport: Transport):
        self._transport = transport

    def create(self, *, display_name: str, event_name: str, formula: Formula = "sum",
               customer_key: str = "stripe_customer_id", value_key: str = "value",
               dimensions: Sequence[str] = (), event_time_window: Window | None = None) -> Meter:
        """A meter aggregating events named `event_name` per customer (read from the payload
        key `customer_key`), with `formula` over the payload key `value_key`; `dimensions` are
        payload keys usage can later be grouped by."""
        body: dict[str, Any] = {
            "display_name": display_name,
            "event_name": event_name,
            "default_aggregation": {"formula": formula},
            "customer_mapping": {"event_payload_key": customer_key, "type": "by_id"},
            "value_settings": {"event_payload_key": value_key},
        }
        if dimensions:
            body["dimension_payload_keys"] = list(dimensions)
        if event_time_window is not None:
            body["event_time_window"] = event_time_window
        return self._transport.send(ApiRequest.post(PATH, body), Meter)

    def retrieve(self, meter_id: str) -> Meter:
        return self._transport.send(ApiRequest.get(f"{PATH}/{meter_id}"), Meter)

    def update(self, meter_id: str, *, display_name: str) -> Meter:
        request = ApiRequest.post(f"{PATH}/{meter_id}", {"display_name": display_name})
        return self._transport.send(request, Meter)

    def deactivate(self, meter_id: str) -> Meter:
        return self._transport.send(ApiRequest.post(f"{PATH}/{meter_id}/deactivate"), Meter)

    def reactivate(self, meter_id: str) -> Meter:
        return self._transport.send(ApiRequest.post(f"{PATH}/{meter_id}/reactivate"), Meter)

    def list(self, *, status: Status | None = None,
             limit: int | None = None, starting_after: str | None = None,
             ending_before: str | None = None) -> Page[Meter]:
        params = {"status": status, "limit": limit, "starting_after": starting_after,
                  "ending_before": ending_before}
        return fetch_page(self._transport, PATH, params, Meter)

    def list_all(self, *, status: Status | None = None,
                 page_size: int = 100) -> Iterator[Meter]:
        return self.list(status=status, limit=page_size).auto_paging_iter()

    def event_summaries(self, meter_id: str, *, customer: str, start_time: int, end_time: int,
                        value_grouping_window: Window | None = None,
                        group_by: Sequence[str] = (), limit: int | None = None,
                        starting_after: str | None = None,
                        ending_before: str | None = None) -> Page[MeterEventSummary]:
        """Stripe's summaries of one customer's usage over [start_time, end_time) (Unix
        seconds on minute boundaries, or hour/day ones with `value_grouping_window`), one per
        window; `group_by` (native) splits them by dimension values. Use
        `.auto_paging_iter()` on the answer for all of them."""
        params = {"customer": customer, "start_time": start_time, "end_time": end_time,
                  "value_grouping_window": value_grouping_window, "group_by": group_by,
                  "limit": limit, "starting_after": starting_after,
                  "ending_before": ending_before}
        return fetch_page(self._transport, f"{PATH}/{meter_id}/event_summaries", params,
                          MeterEventSummary)

    def usage(self, meter_id: str, *, start_time: int, end_time: int,
              customer: str | None = None, group_by: Sequence[str] = (),
              value_grouping_window: Window | None = None) -> Usage:
        """Native: every group (and window) of [start_time, end_time) in one answer, for one
        customer or, without `customer`, all of them."""
        params = {"start_time": start_time, "end_time": end_time, "customer": customer,
                  "group_by": group_by, "value_grouping_window": value_grouping_window}
        request = ApiRequest.get(f"/v1/metered/meters/{meter_id}/usage", params)
        return self._transport.send(request, Usage)
