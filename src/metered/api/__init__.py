"""The HTTP API: Stripe's wire format over ASGI, translating requests into domain calls.

Owns routing, authentication, idempotency keys, pagination, error mapping and encoding.
Imports every domain package; no domain package imports it.
"""

from metered.api.app import create_app

__all__ = ["create_app"]
