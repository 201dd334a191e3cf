"""An in-process engine for property tests: the real writer, store and validation, no HTTP."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from metered.accounts import Caller, create_account
from metered.billing.customers import Customer, CustomerChanges, create_customer
from metered.clock import now_seconds
from metered.engine import Engine
from metered.errors import MeteredError
from metered.ingest.events import EventResult
from metered.ingest.validation import validate_event
from metered.ingest.writer import WriteRequest
from metered.metering.meters import Meter, MeterSpec, create_meter
from metered.metering.packs import decode


def pack_rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """Every pack, its cells decoded (dims_pk -> [count, scaled sum]), in key order."""
    return [(*key, sorted(decode(blob).as_totals().items()))
            for *key, blob in conn.execute("SELECT * FROM rollup_packs ORDER BY 1,2,3,4")]


class SharedHarness:
    """One engine for every example of a validation test module, made on first use: three
    customers (`customers_ids`) and a meter of each formula (`ev_sum` with dimensions model and
    region, `ev_max`, `ev_count`, `ev_unique_count`), never changed afterwards."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self._harness: Harness | None = None

    def __call__(self) -> Harness:
        if self._harness is None:
            h = Harness.temporary(self.prefix)
            h.customers_ids = [h.customer().id for _ in range(3)]  # type: ignore[attr-defined]
            h.meter("sum", ("model", "region"))
            h.meter("max")
            h.meter("count")
            h.meter("unique_count")
            self._harness = h
        return self._harness

    def close(self) -> None:
        if self._harness is not None:
            self._harness.close()
            self._harness = None

    def closing_fixture(self) -> Any:
        """A module-scoped autouse fixture that closes the engine after the module's tests
        (assign it to a module-level name)."""

        @pytest.fixture(scope="module", autouse=True)
        def close_after_module() -> Iterator[None]:
            yield
            self.close()

        return close_after_module


class Harness:
    def __init__(self, data_dir: Path, *, remove_on_close: bool = False):
        self.data_dir = data_dir
        self.remove_on_close = remove_on_close
        self.engine = Engine.open(data_dir, cache_mb=16)
        self.engine.start()
        self.loop = asyncio.new_event_loop()
        self.caller = Caller(self.run(lambda c: create_account(c, "test")), False)

    @classmethod
    def temporary(cls, prefix: str) -> Harness:
        """An engine in a fresh temporary folder, removed by close(): for Hypothesis examples,
        which cannot use pytest's tmp_path and would otherwise leave one folder each."""
        return cls(Path(tempfile.mkdtemp(prefix=prefix)), remove_on_close=True)

    def close(self) -> None:
        self.engine.stop()
        self.loop.close()
        if self.remove_on_close:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def run(self, fn: Callable[[sqlite3.Connection], Any]) -> Any:
        outcome = self.loop.run_until_complete(self.engine.writer.submit(WriteRequest(run=fn)))
        if isinstance(outcome, MeteredError):
            raise outcome
        return outcome

    def customer(self) -> Customer:
        customer = self.run(lambda c: create_customer(c, self.caller, CustomerChanges()))
        self.engine.customers.remember(customer)
        return customer

    def meter(self, formula: str, dimension_keys: tuple[str, ...] = ()) -> Meter:
        spec = MeterSpec(display_name="m", event_name=f"ev_{formula}", formula=formula,
                         dimension_keys=dimension_keys)
        meter = self.run(lambda c: create_meter(c, self.caller, spec))
        self.engine.meters.remember(meter)
        return meter

    def submit_all(self, ops: list[tuple[str, Any]]) -> list[Any]:
        """Submit every op at once (so the writer groups them), in order; return outcomes."""
        from metered.ingest.adjustments import cancel_event

        ctx = self.engine.ingest_context()
        now = now_seconds()

        async def go() -> list[Any]:
            futures = []
            for kind, arg in ops:
                if kind == "batch":
                    events = [validate_event(raw, self.caller, ctx, now) for raw in arg]
                    req = WriteRequest(events=events)
                else:
                    event_name, identifier = arg
                    req = WriteRequest(
                        run=lambda c, e=event_name, i=identifier: cancel_event(
                            c, self.engine.writer.applier, self.caller, e, i
                        )
                    )
                futures.append(self.engine.writer.submit(req))
            return list(await asyncio.gather(*futures))

        return self.loop.run_until_complete(go())


def statuses(outcome: list[EventResult]) -> list[str]:
    return [r.status for r in outcome]
