"""Every limit on what a request may carry, by name: the one table docs/limits.md describes.

The limits of the HTTP layer are defined here. Those the domain enforces on its own paths (one
meter event's, which the parse workers and the native fast paths check too; metadata's) are
defined in their domain module, which may not import the api, and named here again, so that
this module lists them all and the api reads each one from here.
"""

from __future__ import annotations

from metered.billing.metadata import (
    MAX_METADATA_KEY_LENGTH,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_LENGTH,
)
from metered.ingest import batches
from metered.ingest.events import MAX_FUTURE_SECONDS, MAX_PAST_SECONDS
from metered.ingest.validation import (
    MAX_DIMENSION_VALUE,
    MAX_EVENT_NAME,
    MAX_IDENTIFIER,
    MAX_PAYLOAD_BYTES,
    MAX_PAYLOAD_DEPTH,
    MAX_PAYLOAD_KEY_LENGTH,
    MAX_PAYLOAD_KEYS,
    MAX_UNIQUE_VALUE,
)
from metered.metering.meters import MAX_DIMENSIONS
from metered.metering.quantity import MAX_DECIMAL_PLACES, MAX_SIGNIFICANT_DIGITS

# --- requests ---------------------------------------------------------------------------------
MAX_BODY_BYTES = 1 << 20  # any route's body (413 request_too_large past it) ...
MAX_BATCH_BODY_BYTES = 32 << 20  # ... but the batch and v2 stream routes'
# The request line's URL, path and query: uvicorn's HTTP parser (httptools) refuses a longer
# one before the app sees it (api.server answers that in Stripe's error format).
MAX_URL_BYTES = 65_535
MAX_IDEMPOTENCY_KEY = 255

# --- form bodies and query strings ------------------------------------------------------------
MAX_FORM_FIELDS = 20_000  # `name=value` pairs in one body or query string
MAX_FORM_DEPTH = 8  # parts of one name: `a[b][c]` has 3
MAX_ARRAY_ITEMS = 100  # items of an array parameter where the route sets no other bound
MAX_STRING = 5_000  # characters of a string parameter where the route sets no other bound

# --- lists --------------------------------------------------------------------------------------
MIN_PAGE_LIMIT = 1
MAX_PAGE_LIMIT = 100
DEFAULT_PAGE_LIMIT = 10

# --- meter events -----------------------------------------------------------------------------
MAX_BATCH_EVENTS = batches.MAX_BATCH  # per batch request (JSON, NDJSON) and v2 stream request

__all__ = [
    "DEFAULT_PAGE_LIMIT", "MAX_ARRAY_ITEMS", "MAX_BATCH_BODY_BYTES", "MAX_BATCH_EVENTS",
    "MAX_BODY_BYTES", "MAX_DECIMAL_PLACES", "MAX_DIMENSIONS", "MAX_DIMENSION_VALUE",
    "MAX_EVENT_NAME", "MAX_FORM_DEPTH", "MAX_FORM_FIELDS", "MAX_FUTURE_SECONDS",
    "MAX_IDEMPOTENCY_KEY", "MAX_IDENTIFIER", "MAX_METADATA_KEYS", "MAX_METADATA_KEY_LENGTH",
    "MAX_METADATA_VALUE_LENGTH", "MAX_PAGE_LIMIT", "MAX_PAST_SECONDS", "MAX_PAYLOAD_BYTES",
    "MAX_PAYLOAD_DEPTH", "MAX_PAYLOAD_KEYS", "MAX_PAYLOAD_KEY_LENGTH", "MAX_SIGNIFICANT_DIGITS",
    "MAX_STRING", "MAX_UNIQUE_VALUE", "MAX_URL_BYTES", "MIN_PAGE_LIMIT",
]
