"""The embedded SQLite database: one file, WAL, fsync on every commit.

`synchronous=FULL` in WAL mode makes each COMMIT fsync the WAL, so a committed transaction
survives power loss. Group commit (see ingest.writer) amortises that fsync over many requests.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path

from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from metered.store.schema import SCHEMA_VERSION, metadata

DEFAULT_CACHE_MB = 512
log = logging.getLogger("metered.store")


def _ddl() -> list[str]:
    dialect = sqlite_dialect.dialect()
    statements: list[str] = []
    for table in metadata.sorted_tables:
        ddl = str(CreateTable(table, if_not_exists=True).compile(dialect=dialect))
        statements.append(ddl)
        for index in table.indexes:
            statements.append(str(CreateIndex(index, if_not_exists=True).compile(dialect=dialect)))
    return statements


def connect(path: Path, *, cache_mb: int = DEFAULT_CACHE_MB, readonly: bool = False,
            autocheckpoint: bool = True) -> sqlite3.Connection:
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, timeout=30.0,
        cached_statements=256,
    )
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA cache_size=-{cache_mb * 1024}")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA busy_timeout=30000")
    # The writer leaves checkpoints to a Checkpointer thread so that commits only append.
    conn.execute(f"PRAGMA wal_autocheckpoint={10000 if autocheckpoint else 0}")
    if readonly:
        conn.execute("PRAGMA query_only=1")
    return conn


class Database:
    """Owns the file and hands out connections: one writer, and a reader per thread."""

    def __init__(self, path: Path, *, cache_mb: int = DEFAULT_CACHE_MB):
        self.path = path
        self.cache_mb = cache_mb
        self._local = threading.local()
        self._all_readers: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def create_schema(self) -> None:
        conn = connect(self.path, cache_mb=16)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{self.path} has schema version {version}; this metered knows {SCHEMA_VERSION}"
                )
            if 0 < version < 2:
                # Version 1 (a development build) kept a row per raw event; there is no release
                # to migrate from yet. Migrations proper come with Alembic (distributed mode).
                raise RuntimeError(
                    f"{self.path} was created by a development build (schema version {version});"
                    f" this metered needs version {SCHEMA_VERSION}: start from a new data dir"
                )
            conn.execute("BEGIN IMMEDIATE")
            for statement in _ddl():
                conn.execute(statement)
            _add_missing_columns(conn)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        finally:
            conn.close()

    def writer_connection(self) -> sqlite3.Connection:
        return connect(self.path, cache_mb=self.cache_mb, autocheckpoint=False)

    def reader(self) -> sqlite3.Connection:
        """A read-only connection owned by the calling thread."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, cache_mb=max(16, self.cache_mb // 4), readonly=True)
            self._local.conn = conn
            with self._lock:
                self._all_readers.append(conn)
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all_readers:
                conn.close()
            self._all_readers.clear()
        self._local = threading.local()


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Changes to existing tables since version 3 (CREATE TABLE IF NOT EXISTS keeps an old
    table as it was): version 4 added customers.test_clock_pk; the scheduler's partial indexes
    replaced subscriptions_due (Alembic revision 0002)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(customers)")}
    if "test_clock_pk" not in columns:
        conn.execute("ALTER TABLE customers ADD COLUMN test_clock_pk INTEGER")
    conn.execute("DROP INDEX IF EXISTS subscriptions_due")


class Checkpointer:
    """Copies the WAL back into the database file on its own thread and connection.

    PASSIVE checkpoints never block the writer; when the WAL has grown large, a RESTART
    checkpoint (which waits for readers, not for the writer's next commit) lets it be reused.
    Every 0.2 s rather than every second: each checkpoint's writes and fsync of the database
    file are then small, and the commits' own fsyncs no longer queue behind a large one (paced
    ingest p99 52-67 against 75-103 ms, commit stage p99 4-7 against 8-10 ms, in four
    alternated runs; docs/benchmarks.md).
    """

    def __init__(self, path: Path, interval: float = 0.2, restart_pages: int = 200_000,
                 wrap_pages: int = 16_384):
        self.path = path
        self.interval = interval
        self.restart_pages = restart_pages
        self.wrap_pages = wrap_pages
        # Set when a checkpoint copied every frame there was, on a WAL past wrap_pages: the
        # writer's next commit is then all that stands between the WAL and its wrap-around.
        self._caught_up = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metered-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def wrap_after_commit(self, conn: sqlite3.Connection) -> None:
        """On the writer's connection, right after a COMMIT: let the WAL wrap around.

        SQLite starts the WAL over only when a write transaction begins with every frame
        already copied into the database file. Under load the writer begins its next
        transaction right after each commit, whose frames no checkpoint has copied yet, so the
        WAL grows until the RESTART above, and every append lands on a new block that the file
        system must allocate (and journal: the commits' fsyncs then wait behind the
        checkpoints' ones). Once this thread has caught up with everything before the latest
        commit, the writer copies that commit's frames itself (a few MB at most), and its next
        transaction starts the WAL over.
        """
        if self._caught_up:
            self._caught_up = False
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _run(self) -> None:
        conn = connect(self.path, cache_mb=8)
        try:
            while not self._stop.wait(self.interval):
                busy, wal_pages, done = conn.execute(
                    "PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if not busy and done == wal_pages > self.wrap_pages:
                    self._caught_up = True
                if not busy and wal_pages > self.restart_pages:
                    conn.execute("PRAGMA wal_checkpoint(RESTART)")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error:
            log.exception("checkpointing %s failed", self.path)
        finally:
            conn.close()


def open_database(data_dir: Path, *, cache_mb: int = DEFAULT_CACHE_MB) -> Database:
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    db = Database(data_dir / "metered.sqlite3", cache_mb=cache_mb)
    db.create_schema()
    return db
