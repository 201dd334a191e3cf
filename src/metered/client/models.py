"""Typed objects of the API. Quantities decode as exact Decimals, never floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec


class Customer(msgspec.Struct, kw_only=True):
    id: str
    object: str = "customer"
    created: int = 0
    email: str | None = None
    name: str | None = None
    description: str | None = None
    metadata: dict[str, str] = msgspec.field(default_factory=dict)
    livemode: bool = False
    deleted: bool = False


class Meter(msgspec.Struct, kw_only=True):
    id: str
    display_name: str
    event_name: str
    status: str
    default_aggregation: dict[str, str]
    customer_mapping: dict[str, str]
    value_settings: dict[str, str]
    dimension_payload_keys: list[str] = msgspec.field(default_factory=list)
    event_time_window: str | None = None
    created: int = 0
    updated: int = 0
    livemode: bool = False

    @property
    def formula(self) -> str:
        return self.default_aggregation["formula"]


class MeterEventSummary(msgspec.Struct, kw_only=True):
    id: str
    aggregated_value: Decimal
    start_time: int
    end_time: int
    meter: str
    livemode: bool = False
    dimensions: dict[str, str | None] | None = None


class UsageRow(msgspec.Struct, kw_only=True):
    start_time: int
    end_time: int
    aggregated_value: Decimal
    dimensions: dict[str, str | None] | None = None


class Usage(msgspec.Struct, kw_only=True):
    meter: str
    customer: str | None
    start_time: int
    end_time: int
    formula: str
    group_by: list[str]
    value_grouping_window: str | None
    data: list[UsageRow]


class EventIn(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One meter event to send. Without an identifier the client assigns one before sending."""

    event_name: str
    payload: dict[str, Any]
    identifier: str | None = None
    timestamp: int | None = None


class EventError(msgspec.Struct, kw_only=True):
    code: str | None
    message: str | None
    param: str | None


class EventOutcome(msgspec.Struct, kw_only=True):
    index: int
    identifier: str | None
    status: str  # accepted, duplicate or rejected
    error: EventError | None = None


class BatchResult(msgspec.Struct, kw_only=True):
    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    results: list[EventOutcome] = msgspec.field(default_factory=list)

    def extend(self, other: BatchResult, offset: int) -> None:
        self.accepted += other.accepted
        self.duplicate += other.duplicate
        self.rejected += other.rejected
        for outcome in other.results:
            outcome.index += offset
            self.results.append(outcome)

    @property
    def rejections(self) -> list[EventOutcome]:
        return [r for r in self.results if r.status == "rejected"]
