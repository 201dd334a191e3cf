"""The Python SDK of metered: `Client` with one namespace per resource, typed models with exact
`Decimal` quantities, one error hierarchy, and retries that can never count an event twice.

Depends on httpx and msgspec only, never on the server's packages, so it works against any
metered server. Layers: `wire` (requests and JSON) and `retries` (policy) are pure and shared;
`transport` does the HTTP; `resources/` maps API operations to typed calls; `batching` prepares
event batches. The background sender (`sender`) queues `queued_events` and posts them with
`batch_requests` over `connection`, a lean HTTP/1.1 connection of its own.
"""

from metered.client.async_client import AsyncClient, AsyncPage
from metered.client.client import Client
from metered.client.errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    IdempotencyError,
    InvalidRequestError,
    MeteredError,
    RateLimitError,
)
from metered.client.models import (
    BatchResult,
    Customer,
    DeletedCustomer,
    EventError,
    EventIn,
    EventOutcome,
    Meter,
    MeterEvent,
    MeterEventAdjustment,
    MeterEventSummary,
    Usage,
    UsageRow,
)
from metered.client.pages import Page
from metered.client.sender import BufferFullError, EventSender, RejectedEvent

__all__ = [
    "APIConnectionError",
    "APIError",
    "AsyncClient",
    "AsyncPage",
    "AuthenticationError",
    "BatchResult",
    "BufferFullError",
    "Client",
    "Customer",
    "DeletedCustomer",
    "EventError",
    "EventIn",
    "EventOutcome",
    "EventSender",
    "IdempotencyError",
    "InvalidRequestError",
    "Meter",
    "MeterEvent",
    "MeterEventAdjustment",
    "MeterEventSummary",
    "MeteredError",
    "Page",
    "RateLimitError",
    "RejectedEvent",
    "Usage",
    "UsageRow",
]
