"""metered: a usage-based billing engine that meters events exactly once and speaks Stripe's API."""

__version__ = "0.1.0"
