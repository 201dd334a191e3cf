"""The WAL wraps around under a steady stream of commits (store.Checkpointer), and nothing
committed is lost on the way: the file stays near its wrap-around size instead of growing until
a RESTART checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

from metered.store.database import Checkpointer, connect

PAGE = 4096


def _commit_rows(conn, start: int, n: int) -> None:  # type: ignore[no-untyped-def]
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO t (id, blob) VALUES (?, ?)",
                     [(i, os.urandom(3000)) for i in range(start, start + n)])
    conn.execute("COMMIT")


def test_wal_wraps_around_under_steady_commits(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    writer = connect(path, cache_mb=8, autocheckpoint=False)
    writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, blob BLOB)")
    wrap_pages = 256  # 1 MiB
    checkpointer = Checkpointer(path, interval=0.005, restart_pages=1_000_000,
                                wrap_pages=wrap_pages)
    checkpointer.start()
    try:
        largest = 0
        # ~30 MB of commits back to back, thirty times the wrap-around size. Without the
        # wrap-around the WAL holds every frame written (a transaction always begins right
        # after the previous commit, before any checkpoint could copy it: measured 30 MB);
        # with it, the file stays within a few times the wrap-around size (measured ~2.5 MB).
        for rows in range(0, 7_000, 50):
            _commit_rows(writer, rows, 50)
            checkpointer.wrap_after_commit(writer)
            largest = max(largest, os.path.getsize(f"{path}-wal"))
        assert largest < 8 * wrap_pages * PAGE, largest
    finally:
        checkpointer.stop()
    assert writer.execute("SELECT count(*) FROM t").fetchone()[0] == 7_000
    writer.close()


def test_wrap_after_commit_does_nothing_until_the_checkpointer_caught_up(tmp_path: Path
                                                                         ) -> None:
    path = tmp_path / "store.sqlite3"
    writer = connect(path, cache_mb=8, autocheckpoint=False)
    writer.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, blob BLOB)")
    checkpointer = Checkpointer(path, wrap_pages=1)  # not started: never caught up
    statements: list[str] = []
    writer.set_trace_callback(statements.append)
    _commit_rows(writer, 0, 50)
    checkpointer.wrap_after_commit(writer)
    assert statements and not any("checkpoint" in s for s in statements)
    writer.close()
