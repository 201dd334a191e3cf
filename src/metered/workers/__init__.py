"""Background work of the engine: the billing scheduler (periods, drafts, test clocks).

Imports billing, metering, ingest (the writer) and store; never api.
"""

from metered.workers.billing_scheduler import BillingScheduler

__all__ = ["BillingScheduler"]
