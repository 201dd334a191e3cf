"""One leader among the API processes for the work that must run once: the billing scheduler
and the webhook dispatcher. The leader holds a PostgreSQL session advisory lock on a connection
of its own; if the process dies or loses the connection, the lock is released by PostgreSQL and
another process takes over within a check interval. No coordinator of our own.

The same connection, named after the deployment (`application_name`), counts the deployment's
live API processes in pg_stat_activity: each process enforces its share of the rate limits."""

from __future__ import annotations

import logging
import threading
from typing import Any

import psycopg

from metered.store.postgres import dsn

log = logging.getLogger("metered.leader")
LEADER_LOCK = 0x6D746C64  # pg_try_advisory_lock key: "mtld"


class Leadership:
    def __init__(self, url: str, name: str, interval: float = 1.0):
        self.url = url
        self.name = name[:63]  # every API process of one deployment connects with it
        self.interval = interval
        self.processes = 1  # API processes of the deployment, counted at each check
        self._conn: psycopg.Connection[Any] | None = None
        self._leader = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metered-leader", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def is_leader(self) -> bool:
        return self._leader

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._check()
            except psycopg.Error:
                if self._leader:
                    log.warning("lost the leader's lock (connection failed)")
                self._leader = False
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
            self._stop.wait(self.interval)
        if self._conn is not None:
            self._conn.close()
        self._leader = False

    def _check(self) -> None:
        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(dsn(self.url), autocommit=True, connect_timeout=5,
                                         application_name=self.name)
        (count,) = self._conn.execute(  # also proves the session (and the lock) is there
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            " AND datname = current_database()", [self.name]).fetchone()
        self.processes = max(1, int(count))
        if self._leader:
            return
        # Keyed by the schema too: stores sharing a database have a leader each.
        (got,) = self._conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))",
                                    [LEADER_LOCK]).fetchone()
        if got:
            log.info("this process leads the billing scheduler and webhook dispatcher")
        self._leader = bool(got)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
