"""The PostgreSQL store: connections that speak the embedded store's SQL dialect.

Domain modules write their SQL once, in the dialect both stores share (`?` parameters,
`ON CONFLICT`, integers for flags), against the small DB-API surface they use on SQLite:
`execute`, `executemany`, and cursors with `fetchone`, `fetchall`, `fetchmany`, `lastrowid` and
`rowcount`. `PgConnection` gives that surface over psycopg 3: it rewrites the few spellings that
differ (`?` to `%s`, `BEGIN IMMEDIATE`, `INSERT OR IGNORE`), and asks an INSERT into a table
with a generated key for that key (`RETURNING`), which is what `lastrowid` means there.
SQL that has no such rewrite fails loudly (`PRAGMA`): the domain then needs a portable query.
Text holding NUL (which SQLite stores and PostgreSQL cannot) is refused as a bad request.

Connections run in autocommit mode, so a domain's explicit `BEGIN`/`SAVEPOINT`/`COMMIT` mean
on PostgreSQL what they mean on SQLite. Flags are SMALLINT on PostgreSQL (store.schema), as on
SQLite, so `deleted = 0` is valid on both; Python booleans are sent as 0 and 1.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

import psycopg

from metered.errors import InvalidRequestError
from metered.store.schema import metadata

Params = Sequence[Any] | dict[str, Any]


def _generated_keys() -> dict[str, str]:
    """table -> its integer primary key column that the store generates (SERIAL)."""
    keys = {}
    for table in metadata.sorted_tables:
        pk = list(table.primary_key.columns)
        if len(pk) == 1 and pk[0].autoincrement in (True, "auto") and (
                pk[0].type.python_type is int):
            keys[table.name] = pk[0].name
    return keys


GENERATED_KEYS = _generated_keys()
_INSERT_INTO = re.compile(r"^\s*INSERT\s+(?:OR\s+(IGNORE)\s+)?INTO\s+(\w+)", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)
_ON_CONFLICT = re.compile(r"\bON\s+CONFLICT\b", re.IGNORECASE)


class DialectError(RuntimeError):
    """SQL that only SQLite understands reached the PostgreSQL store."""


@lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, str | None]:
    """(PostgreSQL SQL, the generated key to return as lastrowid or None)."""
    head = sql.lstrip()[:16].upper()
    if head.startswith("PRAGMA"):
        raise DialectError(f"SQLite-only statement on PostgreSQL: {sql.strip()[:80]}")
    if head.startswith("BEGIN"):
        return "BEGIN", None
    text = _placeholders(sql)
    returning = None
    match = _INSERT_INTO.match(text)
    if match is not None:
        if match.group(1):  # INSERT OR IGNORE INTO t -> INSERT INTO t ... ON CONFLICT DO NOTHING
            text = "INSERT INTO " + text[match.start(2):]
            if _ON_CONFLICT.search(text) is None:
                text = _before_returning(text, " ON CONFLICT DO NOTHING")
        key = GENERATED_KEYS.get(match.group(2).lower())
        if key is not None and _RETURNING.search(text) is None:
            text = f"{text.rstrip().rstrip(';')} RETURNING {key}"
            returning = key
    return text, returning


def _before_returning(text: str, clause: str) -> str:
    found = _RETURNING.search(text)
    if found is None:
        return text.rstrip().rstrip(";") + clause
    return text[: found.start()].rstrip() + clause + " " + text[found.start():]


def _placeholders(sql: str) -> str:
    """`?` to `%s` and `%` to `%%`, outside string literals and quoted names."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote is not None:
            if ch == quote:
                quote = None
            out.append("%%" if ch == "%" else ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


def _adapt(params: Params) -> Params:
    if isinstance(params, dict):
        return {k: _value(v) for k, v in params.items()}
    return [_value(v) for v in params]


def _value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and "\x00" in value:
        # PostgreSQL text cannot hold NUL, where SQLite's can: refuse the request (400) rather
        # than fail it with the driver's DataError (500), whatever the statement.
        raise InvalidRequestError("Text parameters cannot contain the NUL character (U+0000).",
                                  code="parameter_invalid")
    return value


class PgCursor:
    """The part of sqlite3.Cursor the domain modules use."""

    def __init__(self, cursor: psycopg.Cursor[Any], lastrowid: int | None = None):
        self._cursor = cursor
        self.lastrowid = lastrowid
        self.rowcount = cursor.rowcount

    def fetchone(self) -> tuple[Any, ...] | None:
        if self._cursor.description is None:
            return None
        return self._cursor.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        if self._cursor.description is None:
            return []
        return self._cursor.fetchall()

    def fetchmany(self, size: int = 1) -> list[tuple[Any, ...]]:
        if self._cursor.description is None:
            return []
        return self._cursor.fetchmany(size)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        if self._cursor.description is None:
            return iter(())
        return iter(self._cursor)

    @property
    def description(self) -> Any:
        return self._cursor.description


class PgConnection:
    """A psycopg connection with the embedded store's DB-API surface (see the module doc)."""

    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]):
        self.raw = conn

    def execute(self, sql: str, params: Params = ()) -> PgCursor:
        text, returning = translate(sql)
        cursor = self.raw.cursor()
        cursor.execute(text, _adapt(params) if params else None)  # type: ignore[arg-type]
        lastrowid = None
        if returning is not None:
            row = cursor.fetchone()
            lastrowid = row[0] if row is not None else None
        return PgCursor(cursor, lastrowid)

    def executemany(self, sql: str, seq: Iterable[Params]) -> PgCursor:
        text, returning = translate(sql)
        if returning is not None:  # executemany has no lastrowid: leave the key to the store
            text = text[: text.rfind(" RETURNING ")]
        cursor = self.raw.cursor()
        cursor.executemany(text, [_adapt(p) for p in seq])  # type: ignore[arg-type]
        return PgCursor(cursor)

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def close(self) -> None:
        self.raw.close()


def connect(url: str) -> PgConnection:
    return PgConnection(psycopg.connect(dsn(url), autocommit=True))


def dsn(url: str) -> str:
    """A libpq URL from a store argument (`postgresql+psycopg://` is SQLAlchemy's spelling)."""
    if url.startswith("postgresql+psycopg://"):
        return "postgresql://" + url.split("://", 1)[1]
    if url.startswith("postgres://"):
        return "postgresql://" + url.split("://", 1)[1]
    return url


def is_postgres(conn: object) -> bool:
    return getattr(conn, "dialect", None) == "postgresql"


class PgDatabase:
    """The PostgreSQL store's connections: a writer per caller that asks, a reader per thread.

    The schema is made by `metered migrate` (Alembic), not here: a server refuses a database
    whose schema is not at the newest revision.
    """

    path = None  # no file: backups are PostgreSQL's own (pg_dump, base backups)

    def __init__(self, url: str):
        self.url = url
        self._local = threading.local()
        self._all: list[PgConnection] = []
        self._lock = threading.Lock()

    def check_schema(self) -> None:
        from metered.store.migrate import current_revision, head_revision  # noqa: PLC0415

        current, head = current_revision(self.url), head_revision()
        if current != head:
            raise RuntimeError(
                f"the PostgreSQL store is at schema revision {current or 'none'}, this metered"
                f" needs {head}: run `metered migrate --store URL` first")

    def writer_connection(self) -> PgConnection:
        conn = connect(self.url)
        with self._lock:
            self._all.append(conn)
        return conn

    def reader(self) -> PgConnection:
        """A connection owned by the calling thread (autocommit: each statement sees the
        latest commits)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.raw.closed or conn.raw.broken:
            conn = self._local.conn = self.writer_connection()
        return conn

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


def redact(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return re.sub(r"(://[^:/@]+):[^/]*@", r"\1:***@", url)
