"""The billing scheduler: turns billing periods and finalizes drafts when their time comes.

Customers on the wall clock are served by a loop every second; customers on a test clock only
when that clock advances, which runs every turn and finalization in between, in time order.
Rating reads the rollups on a reader connection; the results are written through the writer
(one transaction each). Finalizations run one at a time: an adjustment line is the difference
between usage now and what finalized invoices billed, so two at once could bill it twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from metered.accounts import Caller
from metered.billing import cycles
from metered.billing.alerts import trigger_alert, watches
from metered.billing.announcements import grant_changed, invoice_finalized, subscription_changed
from metered.billing.charges import Rater, closing_lines
from metered.billing.clock_time import customer_time, on_clock
from metered.billing.credits import due_expiries, estimate_credits, expire_due_grant
from metered.billing.invoice_views import InvoiceView
from metered.billing.invoices import (
    DEFAULT_GRACE_SECONDS,
    Invoice,
    finalize_invoice,
    get_invoice_by_pk,
)
from metered.billing.lines import Line, stored_lines
from metered.billing.prorations import cancellation_credits, licensed_lines, pending_lines
from metered.billing.subscription_lifecycle import turn_period
from metered.billing.subscriptions import Subscription, get_subscription_by_pk
from metered.billing.test_clocks import TestClock, get_test_clock, set_clock_state
from metered.clock import now_seconds
from metered.errors import InvalidRequestError, MeteredError, invalid_param
from metered.ingest.error_reports import report_object
from metered.ingest.writer import WriteRequest
from metered.metering.meters import get_meter_by_pk
from metered.metering.summaries import SummaryQuery, summarize
from metered.webhooks.events import record_event

if TYPE_CHECKING:
    import sqlite3

    from metered.engine import Engine

log = logging.getLogger("metered.billing")
ALERT_ROUNDS = 5  # alerts of wall-clock customers are evaluated every 5 rounds (seconds)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Action:
    kind: str  # "turn" (a subscription's period or cancel_at), "finalize" (a draft) or
    # "expire" (a credit grant's expiry)
    pk: int
    at: int


def next_action(conn: sqlite3.Connection, clock_pk: int | None, until: int) -> Action | None:
    """The earliest billing action due at or before `until` on the clock (None: wall clock)."""
    # A subscription is due at the earlier of its period end and its cancel_at: the earliest
    # of all is the earlier of the earliest period end and the earliest cancel_at, each read
    # off its partial index (store.schema) rather than a scan of every subscription.
    clock, clock_args = on_clock("test_clock_pk", clock_pk)
    ends = conn.execute(
        "SELECT pk, current_period_end FROM subscriptions WHERE status != 'canceled'"
        f" AND {clock} ORDER BY current_period_end, pk LIMIT 1", clock_args,
    ).fetchone()
    cancels = conn.execute(
        "SELECT pk, cancel_at FROM subscriptions WHERE status != 'canceled'"
        f" AND cancel_at IS NOT NULL AND {clock} ORDER BY cancel_at, pk LIMIT 1", clock_args,
    ).fetchone()
    turn = min((row for row in (ends, cancels) if row is not None), key=lambda r: (r[1], r[0]),
               default=None)
    draft = conn.execute(
        "SELECT pk, finalize_at FROM invoices WHERE status='draft' AND finalize_at IS NOT NULL"
        f" AND {clock} ORDER BY finalize_at, pk LIMIT 1", clock_args,
    ).fetchone()
    candidates = []
    expiry = due_expiries(conn, clock_pk, until)
    if expiry is not None:
        candidates.append(Action("expire", *expiry))
    if draft is not None and draft[1] <= until:
        candidates.append(Action("finalize", draft[0], draft[1]))
    if turn is not None and turn[1] <= until:
        candidates.append(Action("turn", turn[0], turn[1]))
    # At the same instant: credits expire (they are not usable at their expires_at), then a
    # draft settles, then the next period turns.
    order = {"expire": 0, "finalize": 1, "turn": 2}
    return min(candidates, key=lambda a: (a.at, order[a.kind]), default=None)


class BillingScheduler:
    def __init__(self, engine: Engine, *, grace_seconds: int = DEFAULT_GRACE_SECONDS,
                 interval: float = 1.0):
        self.engine = engine
        self.grace_seconds = grace_seconds
        self.interval = interval
        self._lock = asyncio.Lock()

    async def write(self, run: Callable[[sqlite3.Connection], T]) -> T:
        outcome: Any = await self.engine.writer.submit(WriteRequest(run=run))
        if isinstance(outcome, MeteredError):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    async def run_forever(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(self.interval)
            rounds += 1
            # Distributed mode: one process (the leader) turns periods and checks alerts;
            # each reports the refusals it answered itself.
            leads = self.engine.leads()
            try:
                if leads:
                    await self.catch_up(None, now_seconds())
                if rounds % ALERT_ROUNDS == 0:
                    if leads:
                        await self.evaluate_alerts(None, now_seconds())
                    await self.report_errors()
            except Exception:
                log.exception("the billing cycle failed; retrying in %.0f s", self.interval)

    async def report_errors(self) -> int:
        """The meter event errors gathered since the last report, as Stripe's events: one per
        account, mode and event name."""
        groups = self.engine.error_reports.drain()
        if not groups:
            return 0
        meters = self.engine.meters

        def run(conn: sqlite3.Connection) -> int:
            for group in groups:
                caller = Caller(group.account_pk, group.livemode)
                meter = None
                if group.event_name is not None:
                    meter = meters.for_event(caller, group.event_name) or (
                        meters.inactive_with_event(caller, group.event_name))
                kind = ("v1.billing.meter.no_meter_found" if meter is None and group.no_meter
                        else "v1.billing.meter.error_report_triggered")
                record_event(conn, group.account_pk, group.livemode, kind,
                             report_object(group, meter.id if meter else None), group.last)
            return len(groups)

        return await self.write(run)

    async def evaluate_alerts(self, clock_pk: int | None, at: int) -> int:
        """Fire the alerts whose threshold a customer's usage this period has reached."""
        conn = self.engine.reader()
        pending = self.engine.writer.applier.unflushed
        fired = 0
        for watch in watches(conn, clock_pk):
            meter = get_meter_by_pk(conn, watch.meter_pk)
            start, end = watch.period_start, watch.period_end
            query = SummaryQuery(meter, watch.customer_pk, start - start % 60, end - end % 60)
            value = sum((Decimal(s.value) for s in summarize(conn, query, pending)), Decimal(0))
            if value >= watch.gte and await self.write(
                    lambda c, w=watch, v=value: trigger_alert(c, w, v, at)):
                fired += 1
        return fired

    async def catch_up(self, clock_pk: int | None, until: int) -> int:
        """Run every action due by `until`, in time order; returns how many ran."""
        done = 0
        async with self._lock:
            while (action := next_action(self.engine.reader(), clock_pk, until)) is not None:
                if action.kind == "turn":
                    await self.write(lambda conn, a=action: self._turn(conn, a))
                elif action.kind == "expire":
                    await self.write(lambda conn, a=action: self._expire(conn, a))
                else:
                    await self._finalize(action.pk, action.at)
                self.engine.metrics.billing_actions.labels(action.kind).inc()
                done += 1
        return done

    def _turn(self, conn: sqlite3.Connection, action: Action) -> None:
        turn_period(conn, action.pk, self.grace_seconds)
        ended = get_subscription_by_pk(conn, action.pk).status == "canceled"
        subscription_changed(conn, action.pk, "customer.subscription.deleted" if ended
                             else "customer.subscription.updated", action.at)

    @staticmethod
    def _expire(conn: sqlite3.Connection, action: Action) -> None:
        expire_due_grant(conn, action.pk, action.at)
        grant_changed(conn, action.pk, "billing.credit_grant.updated", action.at)

    async def finalize(self, invoice_pk: int, at: int) -> Invoice:
        async with self._lock:
            return await self._finalize(invoice_pk, at)

    async def _finalize(self, invoice_pk: int, at: int) -> Invoice:
        invoice = get_invoice_by_pk(self.engine.reader(), invoice_pk)
        closing = self._closing(invoice)
        def run(conn: sqlite3.Connection) -> Invoice:
            invoice = finalize_invoice(conn, invoice_pk, closing, at)
            invoice_finalized(conn, invoice_pk, at)
            return invoice

        return await self.write(run)

    def _rater(self, customer_pk: int) -> Rater:
        return Rater(self.engine.reader(), self.engine.writer.applier.unflushed, customer_pk)

    def _closing(self, invoice: Invoice) -> list[Line]:
        if invoice.subscription_pk is None or invoice.status != "draft":
            return []
        return closing_lines(self._rater(invoice.customer_pk), invoice.subscription_pk,
                             invoice.period_start, invoice.period_end)

    # --- views ---------------------------------------------------------------------------------

    def view(self, invoice: Invoice) -> InvoiceView:
        """A stored invoice; a draft shows its usage rated as of the customer's time."""
        conn = self.engine.reader()
        lines = stored_lines(conn, invoice.pk)
        if invoice.status == "draft":
            lines += self._closing(invoice)
        return InvoiceView.of(invoice, lines)

    def preview(self, sub: Subscription) -> InvoiceView:
        """The invoice the subscription's current period will close with, if no more usage
        came: its usage so far, adjustments due, prorations, the next period's fees."""
        conn = self.engine.reader()
        at = customer_time(conn, sub.customer_pk)
        start, end = sub.current_period_start, sub.current_period_end
        trialing = sub.status == "trialing"
        usage = (end, end) if trialing else (start, end)
        ending = sub.cancel_at_period_end or (sub.cancel_at is not None and
                                               sub.cancel_at <= end)
        if sub.cancel_at is not None and sub.cancel_at < end:
            usage = (usage[0], sub.cancel_at)
        # In the order the invoice will have them: what it stores when the period turns (the
        # next period's fees, then the prorations), then what it rates when finalized.
        lines = []
        if not ending and sub.status != "canceled":
            anchor = end if trialing else sub.billing_cycle_anchor
            next_start, next_end = cycles.next_period(anchor, sub.interval, sub.interval_count,
                                                      end)
            lines += licensed_lines(conn, sub, next_start, next_end, trial=False)
        lines += pending_lines(conn, sub.pk)
        if sub.cancel_at is not None and sub.cancel_at < end:  # its unused time is credited
            lines += cancellation_credits(conn, sub, sub.cancel_at)
        lines += closing_lines(self._rater(sub.customer_pk), sub.pk, usage[0], usage[1])
        return InvoiceView(None, lines, sub.customer_pk, sub.pk, sub.test_clock_pk,
                           sub.currency, sub.livemode, usage[0], usage[1], at, "upcoming")

    def unbilled_credit_use(self, customer_pk: int) -> dict[str, int]:
        """Per currency: what the customer's credit grants would pay, as of now, for the usage
        not invoiced yet (drafts in their grace period and the current periods)."""
        conn = self.engine.reader()
        lines_by_currency: dict[str, list[tuple[int | None, int]]] = {}
        with_drafts: set[int] = set()
        for (pk,) in conn.execute("SELECT pk FROM invoices WHERE customer_pk=? AND"
                                  " status='draft' ORDER BY pk", (customer_pk,)).fetchall():
            view = self.view(get_invoice_by_pk(conn, pk))
            with_drafts.add(view.subscription_pk or 0)
            lines_by_currency.setdefault(view.currency, []).extend(
                (line.price_pk, line.amount) for line in view.lines)
        for (pk,) in conn.execute("SELECT pk FROM subscriptions WHERE customer_pk=? AND"
                                  " status != 'canceled' ORDER BY pk", (customer_pk,)
                                  ).fetchall():
            view = self.preview(get_subscription_by_pk(conn, pk))
            lines_by_currency.setdefault(view.currency, []).extend(
                (line.price_pk, line.amount) for line in view.lines
                # a draft's adjustments are the same ones the preview shows
                if not (pk in with_drafts and line.kind == "adjustment"))
        at = customer_time(conn, customer_pk)
        return {currency: sum(estimate_credits(conn, customer_pk, currency, lines, at))
                for currency, lines in lines_by_currency.items()}

    # --- test clocks ---------------------------------------------------------------------------

    async def advance_clock(self, caller: Caller, clock_id: str, frozen_time: int) -> TestClock:
        """Move a test clock to `frozen_time`, running every billing action in between."""
        clock = get_test_clock(self.engine.reader(), caller, clock_id)
        if frozen_time <= clock.frozen_time:
            raise invalid_param("frozen_time", "The test clock can only advance: frozen_time"
                                f" must be after {clock.frozen_time}.")
        if clock.status != "ready":
            raise InvalidRequestError("The test clock is advancing already.",
                                      code="test_clock_advancing")
        await self.write(lambda conn: clock_moved(conn, clock.pk, clock.frozen_time,
                                                  "advancing"))
        try:
            # Usage sent so far may have crossed a threshold in the periods about to close.
            await self.evaluate_alerts(clock.pk, clock.frozen_time)
            await self.catch_up(clock.pk, frozen_time)
            await self.evaluate_alerts(clock.pk, frozen_time)
        except BaseException:
            # What ran is done (each action is its own transaction); an advance again resumes.
            await self.write(lambda conn: clock_moved(conn, clock.pk, clock.frozen_time,
                                                      "ready"))
            raise
        await self.write(lambda conn: clock_moved(conn, clock.pk, frozen_time, "ready"))
        return get_test_clock(self.engine.reader(), caller, clock_id)


def clock_moved(conn: sqlite3.Connection, clock_pk: int, frozen_time: int, status: str) -> None:
    """A test clock starts advancing or is ready again, with its Stripe event."""
    clock = set_clock_state(conn, clock_pk, frozen_time, status)  # type: ignore[arg-type]
    record_event(conn, clock.account_pk, clock.livemode, f"test_helpers.test_clock.{status}",
                 clock.to_wire(), frozen_time)
