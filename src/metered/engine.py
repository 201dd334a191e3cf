"""The embedded engine: the database, the group-commit writer and the in-memory directories.

This is the composition root the API and the CLI share; it holds no domain logic of its own.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from metered.accounts import Caller
from metered.billing.customers import CustomerDirectory
from metered.billing.invoices import DEFAULT_GRACE_SECONDS
from metered.ingest.error_reports import ErrorReports
from metered.ingest.parse_pool import ParsePool
from metered.ingest.validation import IngestContext
from metered.ingest.writer import GroupCommitWriter
from metered.metering.meters import MeterRegistry, load_all_meters
from metered.ops.metrics import Metrics
from metered.store import Database, open_database
from metered.store.database import Checkpointer
from metered.webhooks.dispatcher import DEFAULT_RETRY_BASE_SECONDS, WebhookDispatcher
from metered.workers import BillingScheduler


class Engine:
    def __init__(self, db: Database, *, parse_workers: int = 0,
                 grace_seconds: int = DEFAULT_GRACE_SECONDS,
                 webhook_retry_base_seconds: float = DEFAULT_RETRY_BASE_SECONDS):
        self.db = db
        self.parse_pool = ParsePool(db.path, parse_workers)
        self.writer = GroupCommitWriter(db.writer_connection())
        self.checkpointer = Checkpointer(db.path)
        self.writer.after_commit = self.checkpointer.wrap_after_commit
        self.meters = MeterRegistry(load_all_meters(self.db.reader()))
        self.customers = CustomerDirectory()
        self.error_reports = ErrorReports()  # rejected meter events, for Stripe's reports
        self.metrics = Metrics()
        self.writer.on_group = self.metrics.observe_group
        self.billing = BillingScheduler(self, grace_seconds=grace_seconds)
        self.webhooks = WebhookDispatcher(self, retry_base_seconds=webhook_retry_base_seconds)
        self._local = threading.local()  # each thread's IngestContext (ingest_context)

    @classmethod
    def open(cls, data_dir: Path, *, cache_mb: int | None = None, parse_workers: int = 0,
             grace_seconds: int = DEFAULT_GRACE_SECONDS,
             webhook_retry_base_seconds: float = DEFAULT_RETRY_BASE_SECONDS) -> Engine:
        """`parse_workers`: processes that validate large batches (0: all in-process);
        `grace_seconds`: how long a period's invoice stays a draft for late usage;
        `webhook_retry_base_seconds`: the first wait before a failed webhook is sent again."""
        db = open_database(data_dir, **({"cache_mb": cache_mb} if cache_mb else {}))
        return cls(db, parse_workers=parse_workers, grace_seconds=grace_seconds,
                   webhook_retry_base_seconds=webhook_retry_base_seconds)

    def start(self) -> None:
        self.writer.start()
        self.checkpointer.start()
        self.parse_pool.start()

    def stop(self) -> None:
        self.parse_pool.stop()
        self.writer.stop()
        self.checkpointer.stop()
        self.db.close()

    def reader(self) -> sqlite3.Connection:
        return self.db.reader()

    def log_status(self) -> str:
        """The event log's state for /readyz: embedded, the store is the log."""
        return "ok"

    def api_processes(self) -> int:
        """How many API processes share the rate limits: the embedded engine is alone."""
        return 1

    def leads(self) -> bool:
        """Whether this process runs the billing scheduler and webhook dispatcher: the
        embedded engine is the only process."""
        return True

    async def read_barrier(self, caller: Caller, token: dict[int, int] | None) -> None:
        """Read your writes: the embedded store applies events before it answers them."""

    @property
    def ingest_generation(self) -> int:
        """Changes whenever validation could answer differently (see ingest.parse_pool)."""
        return self.meters.generation + self.customers.generation

    def ingest_context(self) -> IngestContext:
        """The calling thread's context for validating events: kept while no meter changes
        and no customer is deleted (its native plans remember both), made anew after."""
        generation = self.ingest_generation
        kept = getattr(self._local, "ingest", None)
        if kept is not None and kept[0] == generation:
            return kept[1]
        ctx = IngestContext(meters=self.meters, customers=self.customers, reader=self.reader())
        self._local.ingest = (generation, ctx)
        return ctx
