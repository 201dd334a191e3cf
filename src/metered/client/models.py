"""The API's objects as typed structs. Quantities are exact `Decimal`s; unknown fields are
ignored, so a newer server does not break an older client."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")


class ListEnvelope(msgspec.Struct, Generic[T], kw_only=True):
    """Stripe's list answer, as it comes over the wire (see `pages.Page` for the client's)."""

    data: list[T]
    has_more: bool
    url: str | None = ""


# --- customers -------------------------------------------------------------------------------

class Customer(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    object: str = "customer"
    created: int = 0
    email: str | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    livemode: bool = False
    deleted: bool = False
    test_clock: str | None = None


class DeletedCustomer(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    object: str = "customer"
    deleted: bool = True


# --- meters ----------------------------------------------------------------------------------

class MeterAggregation(msgspec.Struct, kw_only=True, frozen=True):
    formula: str  # sum, count, last, max or unique_count


class CustomerMapping(msgspec.Struct, kw_only=True, frozen=True):
    event_payload_key: str
    type: str = "by_id"


class ValueSettings(msgspec.Struct, kw_only=True, frozen=True):
    event_payload_key: str


class StatusTransitions(msgspec.Struct, kw_only=True, frozen=True):
    deactivated_at: int | None = None


class Meter(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    display_name: str
    event_name: str
    status: str  # active or inactive
    default_aggregation: MeterAggregation
    customer_mapping: CustomerMapping
    value_settings: ValueSettings
    dimension_payload_keys: list[str] = msgspec.field(default_factory=list)
    event_time_window: str | None = None
    status_transitions: StatusTransitions = msgspec.field(default_factory=StatusTransitions)
    object: str = "billing.meter"
    created: int = 0
    updated: int = 0
    livemode: bool = False

    @property
    def formula(self) -> str:
        return self.default_aggregation.formula


class MeterEventSummary(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    aggregated_value: Decimal
    start_time: int
    end_time: int
    meter: str
    object: str = "billing.meter_event_summary"
    livemode: bool = False
    dimensions: dict[str, str | None] | None = None


class UsageRow(msgspec.Struct, kw_only=True, frozen=True):
    """One window (or the whole range) of one group of dimension values."""

    start_time: int
    end_time: int
    aggregated_value: Decimal
    dimensions: dict[str, str | None] | None = None


class Usage(msgspec.Struct, kw_only=True, frozen=True):
    """The native usage answer: every group and window of a range at once, unpaginated."""

    meter: str
    customer: str | None
    start_time: int
    end_time: int
    formula: str
    group_by: list[str]
    value_grouping_window: str | None
    data: list[UsageRow]
    object: str = "metered.usage"


# --- meter events ----------------------------------------------------------------------------

class EventIn(msgspec.Struct, kw_only=True, frozen=True, omit_defaults=True):
    """A meter event to send. Without an identifier the client assigns a uuid4 before the first
    attempt; `timestamp` is Unix seconds (the server's clock when absent)."""

    event_name: str
    payload: dict[str, Any]
    identifier: str | None = None
    timestamp: int | None = None


class MeterEvent(msgspec.Struct, kw_only=True, frozen=True):
    event_name: str
    identifier: str
    payload: dict[str, Any]
    timestamp: int
    object: str = "billing.meter_event"
    created: int = 0
    livemode: bool = False


class CancelledEvent(msgspec.Struct, kw_only=True, frozen=True):
    identifier: str


class MeterEventAdjustment(msgspec.Struct, kw_only=True, frozen=True):
    id: str
    event_name: str
    cancel: CancelledEvent
    type: str = "cancel"
    status: str = "complete"
    object: str = "billing.meter_event_adjustment"
    livemode: bool = False


class EventError(msgspec.Struct, kw_only=True, frozen=True):
    code: str | None = None
    message: str | None = None
    param: str | None = None


class EventOutcome(msgspec.Struct, kw_only=True, frozen=True):
    """What became of one event of a batch; `index` is its position in what was sent."""

    index: int
    identifier: str | None
    status: str  # accepted, duplicate or rejected
    error: EventError | None = None


class BatchResult(msgspec.Struct, kw_only=True, frozen=True):
    """Counts and one outcome per event, in the order the events were given."""

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    results: list[EventOutcome] = msgspec.field(default_factory=list)
    object: str = "metered.event_batch"

    @property
    def rejections(self) -> list[EventOutcome]:
        return [r for r in self.results if r.status == "rejected"]

    @classmethod
    def combine(cls, parts: list[tuple[int, BatchResult]]) -> BatchResult:
        """One result from the results of consecutive chunks, each given with the index of its
        first event; outcome indexes become positions in the whole input."""
        results = [
            msgspec.structs.replace(outcome, index=outcome.index + offset)
            for offset, part in parts for outcome in part.results
        ]
        return cls(accepted=sum(p.accepted for _, p in parts),
                   duplicate=sum(p.duplicate for _, p in parts),
                   rejected=sum(p.rejected for _, p in parts), results=results)
