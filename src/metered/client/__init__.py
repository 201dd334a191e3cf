"""The Python SDK: `Client` for every resource, typed models, retries that never double count.

Imports only msgspec and httpx (never the server's packages), so it ships in the same wheel but
works against any metered server, embedded or distributed.
"""

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
    EventIn,
    EventOutcome,
    Meter,
    MeterEventSummary,
    Usage,
    UsageRow,
)

__all__ = [
    "APIConnectionError",
    "APIError",
    "AuthenticationError",
    "BatchResult",
    "Client",
    "Customer",
    "EventIn",
    "EventOutcome",
    "IdempotencyError",
    "InvalidRequestError",
    "Meter",
    "MeterEventSummary",
    "MeteredError",
    "RateLimitError",
    "Usage",
    "UsageRow",
]
