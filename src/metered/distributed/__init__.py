"""Distributed mode: stateless API processes on PostgreSQL and a Kafka log (docs/scaling.md).

`DistributedEngine` takes the embedded Engine's place behind the API: writes to the catalog
and billing run as PostgreSQL transactions, meter events are produced to Kafka (the API answers
once the broker has them), and `metered worker` processes apply the log (workers.log_consumer).
"""

from metered.distributed.engine import DistributedEngine

__all__ = ["DistributedEngine"]
