"""Minute cells whose packs (minute to 4 days) are not written yet.

Every transaction that stores events writes their minute cells as one row of `rollup_deltas`
(the exact, durable minute rollup, ARCHITECTURE.md invariant 3) rather than rewriting the minute
pack of each customer it touches: each commit would rewrite the same packs again, a page of the
WAL each. The writer also keeps each step's minute cells here, as numpy columns, and about every
half second ("flush": in a pause of the writer once half a second old, in the next commit once
0.75 s old) merges them, rolls them up and adds them to their packs at every level, deletes the
delta rows and writes a watermark (`engine_state.coarse_seq`: every event up to it is in its
packs), in one transaction. After a crash, start-up folds the delta rows left. Late events (an
hour or more behind their ingestion: metering.cells.late_before) are the exception: their cells
are scattered over old packs, so all their packs are written with the events.

Readers see exact totals at every moment: a summary reads, in one SQLite snapshot, the watermark
W, the highest stored seq M and the packs, and adds to the packs it reads the pending
minute cells of the steps whose seqs lie in (W, M]. Steps are registered before their COMMIT and
dropped only after a flush that covers them has committed, so a snapshot always finds exactly
the steps it lacks.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from metered.metering.cells import bound

# A block of minute cells (metering.cells): meter_pk, customer_pk, level, bucket, dims_pk, count,
# sum_hi, sum_lo (an int64 array of shape (n, 8), one row per cell).
Block = np.ndarray
_WATERMARK = "coarse_seq"


def read_watermark(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM engine_state WHERE key=?", (_WATERMARK,)).fetchone()
    return int(row[0]) if row else 0


def write_watermark(conn: sqlite3.Connection, seq: int) -> None:
    conn.execute(
        "INSERT INTO engine_state (key, value) VALUES (?, ?)"
        " ON CONFLICT DO UPDATE SET value=excluded.value", (_WATERMARK, seq),
    )


def write_delta(conn: sqlite3.Connection, last_seq: int, block: Block) -> None:
    """A step's minute cells as a row of rollup_deltas (its last seq names it)."""
    conn.execute("INSERT INTO rollup_deltas (seq, cells) VALUES (?, ?)",
                 (last_seq, np.ascontiguousarray(block, dtype="<i8").tobytes()))


def read_deltas(conn: sqlite3.Connection) -> list[Block]:
    """Every delta row's minute cells, in seq order."""
    return [np.frombuffer(blob, dtype="<i8").reshape(-1, 8).astype(np.int64)
            for (blob,) in conn.execute("SELECT cells FROM rollup_deltas ORDER BY seq")]


def delete_deltas(conn: sqlite3.Connection, through_seq: int) -> None:
    """The delta rows of steps up to `through_seq`: folded into their packs."""
    conn.execute("DELETE FROM rollup_deltas WHERE seq <= ?", (through_seq,))


class PendingPacks:
    """Writer steps' minute cells, by seq range. The writer mutates; readers take snapshots."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: list[tuple[int, int, Block]] = []  # (first_seq, end_seq, block)
        self._open = 0  # how many of the last steps belong to the open transaction
        self.rows = 0  # pending rows (to decide when to flush)
        self.bound = 0  # bounds |sum_hi| of all pending rows merged (keeps merges in int64)

    # --- the writer ----------------------------------------------------------------------

    def add(self, first_seq: int, end_seq: int, block: Block, block_bound: int | None = None
            ) -> None:
        """Register a step of the open transaction (before its COMMIT); `block_bound` is
        `bound(block)` when the caller has it."""
        if not len(block):
            return
        with self._lock:
            self._steps.append((first_seq, end_seq, block))
        self._open += 1
        # Counted as they come (a recount of every pending step cost single events' groups,
        # ~30 of them per flush, a fifth of the writer's time).
        self.rows += len(block)
        self.bound += bound(block) if block_bound is None else block_bound

    def mark(self) -> int:
        return self._open

    def restore(self, mark: int) -> None:
        """Drop the steps registered after `mark` (their savepoint was rolled back)."""
        if self._open > mark:
            with self._lock:
                del self._steps[len(self._steps) - (self._open - mark) :]
            self._open = mark
            self._recount()

    def committed(self) -> None:
        self._open = 0

    def rolled_back(self) -> None:
        self.restore(0)

    def blocks(self) -> list[Block]:
        return [block for _, _, block in self._steps]

    def committed_steps(self) -> tuple[int, list[Block]]:
        """(the last seq of the committed steps, their blocks): what a flush covers if it
        stops short of the open transaction's steps."""
        steps = self._steps[: len(self._steps) - self._open]
        return (steps[-1][1] - 1 if steps else 0), [block for _, _, block in steps]

    def flushed(self, through_seq: int) -> None:
        """A flush covering every seq <= through_seq has committed: forget those steps."""
        with self._lock:
            self._steps = [step for step in self._steps if step[0] > through_seq]
        self._open = min(self._open, len(self._steps))
        self._recount()

    def _recount(self) -> None:
        blocks = self.blocks()
        self.rows = sum(len(block) for block in blocks)
        self.bound = sum(bound(block) for block in blocks)

    # --- readers -------------------------------------------------------------------------

    @contextmanager
    def snapshot(self, conn: sqlite3.Connection) -> Iterator[list[Block]]:
        """A read transaction on `conn`, and the pending deltas it does not see in the packs."""
        with self._lock:
            conn.execute("BEGIN")
            try:
                watermark = read_watermark(conn)  # the first read fixes the snapshot
                row = conn.execute(
                    "SELECT first_seq + count - 1 FROM event_segments"
                    " ORDER BY first_seq DESC LIMIT 1"
                ).fetchone()
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            highest = int(row[0]) if row else 0
            blocks = [block for first, end, block in self._steps
                      if first > watermark and end - 1 <= highest]
        try:
            yield blocks
        finally:
            conn.execute("COMMIT")
