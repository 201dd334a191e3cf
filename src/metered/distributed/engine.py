"""The composition root of an API process in distributed mode (PostgreSQL + Kafka).

It offers the embedded Engine's surface to the API: `reader()` gives the calling thread's
PostgreSQL connection, `writer` produces events to Kafka and runs other writes as PostgreSQL
transactions (distributed.writer). What the embedded engine keeps in memory because it is the
only writer is refreshed here from the store, since other processes write too:
- meters: reloaded every REFRESH_SECONDS, and at once when an event names an unknown meter;
- customers: the ingest cache is dropped every REFRESH_SECONDS (a deleted customer's events
  are refused by every process within that time).
The billing scheduler and the webhook dispatcher run in one process at a time (leadership).
"""

from __future__ import annotations

import logging
import threading
import time

from metered.accounts import Caller
from metered.billing.customers import CustomerDirectory
from metered.billing.invoices import DEFAULT_GRACE_SECONDS
from metered.distributed.consistency import merge, wait_applied
from metered.distributed.leadership import Leadership
from metered.distributed.writer import LogWriter
from metered.engine import Engine
from metered.ingest.error_reports import ErrorReports
from metered.ingest.parse_pool import ParsePool
from metered.log.kafka import LogAddress, LogProducer, ensure_topic
from metered.metering.meters import Meter, MeterRegistry, load_all_meters
from metered.ops.metrics import Metrics
from metered.store.postgres import PgConnection, PgDatabase
from metered.webhooks.dispatcher import DEFAULT_RETRY_BASE_SECONDS, WebhookDispatcher
from metered.workers import BillingScheduler

log = logging.getLogger("metered.engine")
REFRESH_SECONDS = 1.0
MISS_RELOAD_SECONDS = 0.05


class SharedMeterRegistry(MeterRegistry):
    """A MeterRegistry that other processes change too: an unknown event name reloads the
    meters from the store (at most every MISS_RELOAD_SECONDS) before it is refused."""

    def __init__(self, db: PgDatabase):
        self._db = db
        self._reload_lock = threading.Lock()
        self._reloaded = 0.0
        super().__init__(load_all_meters(db.reader()))  # type: ignore[arg-type]

    def reload(self) -> None:
        with self._reload_lock:
            meters = load_all_meters(self._db.reader())  # type: ignore[arg-type]
            self._reloaded = time.monotonic()
            for meter in meters:
                known = self.by_pk(meter.pk)
                if known != meter:
                    self.remember(meter)

    def for_event(self, caller: Caller, event_name: str) -> Meter | None:
        meter = super().for_event(caller, event_name)
        if meter is None and time.monotonic() - self._reloaded > MISS_RELOAD_SECONDS:
            self.reload()
            meter = super().for_event(caller, event_name)
        return meter


class DistributedEngine(Engine):
    def __init__(self, store_url: str, log_url: str, *,
                 grace_seconds: int = DEFAULT_GRACE_SECONDS,
                 webhook_retry_base_seconds: float = DEFAULT_RETRY_BASE_SECONDS):
        self.db = PgDatabase(store_url)  # type: ignore[assignment]
        self.db.check_schema()
        self.address = LogAddress.parse(log_url)
        ensure_topic(self.address)
        self.producer = LogProducer(self.address)
        self.writer = LogWriter(self.db.writer_connection, self.producer,  # type: ignore[assignment]
                                positions=self._account_positions,
                                on_produced=self._produced)
        # Per (account, mode): the log positions of the events this process acknowledged, so
        # that the account's next reads wait for them (read your writes, without a token).
        self._positions: dict[tuple[int, bool], dict[int, int]] = {}
        self._applied: dict[int, int] = {}  # the applied positions last read from the store
        self.parse_pool = ParsePool(None, 0)  # type: ignore[arg-type] - validation in-process
        self.meters = SharedMeterRegistry(self.db)
        self.customers = CustomerDirectory()
        self.error_reports = ErrorReports()
        self.metrics = Metrics()
        self.writer.on_group = self.metrics.observe_group
        self.leadership = Leadership(store_url, f"metered-api {self.address.topic}")
        self.billing = BillingScheduler(self, grace_seconds=grace_seconds)
        self.webhooks = WebhookDispatcher(self, retry_base_seconds=webhook_retry_base_seconds)
        self._local = threading.local()
        self._stop = threading.Event()
        self._log_status = "ok"  # the broker's last answer, checked every REFRESH_SECONDS
        self._refresher = threading.Thread(target=self._refresh, name="metered-refresh",
                                           daemon=True)

    def start(self) -> None:
        self.writer.start()
        self.leadership.start()
        self._refresher.start()

    def stop(self) -> None:
        self._stop.set()
        self.writer.stop()
        self.producer.close()
        self.leadership.stop()
        self.db.close()

    def reader(self) -> PgConnection:  # type: ignore[override]
        return self.db.reader()

    def leads(self) -> bool:
        return self.leadership.is_leader()

    def api_processes(self) -> int:
        return self.leadership.processes

    def log_status(self) -> str:
        return self._log_status

    def _account_positions(self, account: tuple[int, bool]) -> dict[int, int]:
        return self._positions.get(account, {})

    def _produced(self, account: tuple[int, bool], offsets: dict[int, int]) -> None:
        """On the log's poller thread: the account's events are in the log at `offsets`."""
        self._positions[account] = merge(self._positions.get(account, {}), offsets)

    async def read_barrier(self, caller: Caller, token: dict[int, int] | None) -> None:
        """Before a read by `caller`: wait until the workers have applied what this process
        acknowledged to the caller's account, and what `token` names (other processes)."""
        wanted = self._positions.get((caller.account_pk, caller.livemode), {})
        if token:
            wanted = merge(wanted, token)
        pending = {p: o for p, o in wanted.items() if self._applied.get(p, 0) < o}
        if not pending:
            return
        applied = await wait_applied(lambda: self.db.reader().raw, self.address.topic, pending)
        for p, o in applied.items():
            self._applied[p] = max(self._applied.get(p, 0), o)

    def _refresh(self) -> None:
        while not self._stop.wait(REFRESH_SECONDS):
            self._log_status = self.producer.check()
            try:
                self.meters.reload()
                self.customers.forget_all()
            except Exception:
                log.warning("refreshing meters and customers failed", exc_info=True)
