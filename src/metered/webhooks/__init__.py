"""Webhooks: Stripe's event objects, webhook endpoints, and their signed deliveries.

Owns the events, webhook_endpoints and webhook_deliveries (outbox) tables. Billing code calls
`record_event` inside the transaction of the change it reports; the dispatcher
(webhooks.dispatcher, started by the API's lifespan) delivers the outbox. Imports store,
accounts, errors, ids, clock and billing.metadata (a leaf); the dispatcher also ingest.writer.
Never imports api, nor the rest of billing (which imports this package).
"""

from metered.webhooks.events import API_VERSION, EVENT_TYPES, changed_attributes, record_event
from metered.webhooks.signing import sign_payload, verify_signature

__all__ = [
    "API_VERSION",
    "EVENT_TYPES",
    "changed_attributes",
    "record_event",
    "sign_payload",
    "verify_signature",
]
