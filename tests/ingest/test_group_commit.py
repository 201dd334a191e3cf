"""The group commit's hand-over: requests submitted in one turn of the event loop reach the
writer together, and the count of ingest requests on their way (which a group may wait for)
always comes back to zero."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from metered.errors import ServiceUnavailableError
from metered.ingest.writer import WriteRequest

from engine_harness import Harness


def test_one_turn_of_the_loop_is_one_group(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    try:
        writer = h.engine.writer

        def noop(conn: sqlite3.Connection) -> int:
            return 1

        async def burst(n: int) -> list[int]:
            return list(await asyncio.gather(*(writer.submit(WriteRequest(run=noop))
                                               for _ in range(n))))

        groups = writer.groups
        assert h.loop.run_until_complete(burst(40)) == [1] * 40
        assert writer.groups == groups + 1 and writer.last_group_size == 40
    finally:
        h.close()


def test_announced_requests_are_counted_out(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    writer = h.engine.writer

    async def scenario() -> None:
        for _ in range(3):
            writer.expect(1)  # three ingest requests arrive
        written = [WriteRequest(run=lambda conn: None, expected=True) for _ in range(2)]
        await asyncio.gather(*(writer.submit(r) for r in written))  # two write
        writer.expect(-1)  # the third is refused before it writes

    try:
        h.loop.run_until_complete(scenario())
        assert writer._incoming == 0
        writer.expect(1)
    finally:
        h.close()
    # Announced, then refused because the writer stopped: counted out as well.
    with pytest.raises(ServiceUnavailableError):
        asyncio.run(writer.submit(WriteRequest(run=lambda conn: None, expected=True)))
    assert writer._incoming == 0


def test_a_failed_writer_refuses_writes_instead_of_hanging(tmp_path: Path) -> None:
    """If its in-memory state cannot follow a commit, nothing more may be written (the server
    exits, `on_failure`, and restarts from the store); no request is left without an answer."""
    h = Harness(tmp_path)
    writer = h.engine.writer
    failures: list[bool] = []
    writer.on_failure = lambda: failures.append(True)

    def broken() -> None:
        raise RuntimeError("index out of sync")

    writer.applier.committed = broken  # type: ignore[method-assign]
    try:
        outcome = h.loop.run_until_complete(writer.submit(WriteRequest(run=lambda conn: 1)))
        assert isinstance(outcome, ServiceUnavailableError)
        writer._thread.join(timeout=10)
        assert failures == [True] and isinstance(writer.failed, RuntimeError)
        with pytest.raises(ServiceUnavailableError):
            h.loop.run_until_complete(writer.submit(WriteRequest(run=lambda conn: 1)))
    finally:
        h.close()


def test_callbacks_are_answered_and_one_failing_spares_the_others(tmp_path: Path) -> None:
    # submit_nowait (the single-event fast path's hand-over): the outcome comes to a callback
    # on the loop; a callback that raises is logged, and the rest of its group is answered.
    h = Harness(tmp_path)
    writer = h.engine.writer
    outcomes: list[int] = []
    requests: list[WriteRequest] = []

    def answer(outcome: int) -> None:
        if outcome == 2:
            raise RuntimeError("a broken answer")
        outcomes.append(outcome)

    async def scenario() -> None:
        for n in range(5):
            writer.expect(1)
            request = WriteRequest(run=lambda conn, n=n: n, expected=True)
            requests.append(request)
            writer.submit_nowait(request, answer)
        # and one awaited, in the same group
        assert await writer.submit(WriteRequest(run=lambda conn: 9)) == 9
        for _ in range(100):
            if len(outcomes) == 4:
                break
            await asyncio.sleep(0.01)

    try:
        h.loop.run_until_complete(scenario())
        assert sorted(outcomes) == [0, 1, 3, 4] and writer._incoming == 0
        # Answered once, and the callback no longer hangs off its request: a callback that
        # holds its request (the fast path's does) makes no reference cycle for the GC.
        assert all(request.callback is None for request in requests)
    finally:
        h.close()
