"""Secret keys: `sk_test_...` / `sk_live_...`, stored as SHA-256 digests, never in clear."""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass

from metered.clock import now_seconds
from metered.ids import new_id, random_token


@dataclass(frozen=True, slots=True)
class Caller:
    """The authenticated account and mode a request acts for."""

    account_pk: int
    livemode: bool


def hash_key(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def create_account(conn: sqlite3.Connection, name: str | None = None) -> int:
    cur = conn.execute(
        "INSERT INTO accounts (id, name, created) VALUES (?, ?, ?)",
        (new_id("acct"), name, now_seconds()),
    )
    assert cur.lastrowid is not None
    return cur.lastrowid


def default_account_pk(conn: sqlite3.Connection) -> int:
    """The first account, created on first use."""
    row = conn.execute("SELECT pk FROM accounts ORDER BY pk LIMIT 1").fetchone()
    if row is not None:
        return int(row[0])
    return create_account(conn, "default")


def create_key(conn: sqlite3.Connection, account_pk: int, *, livemode: bool = False) -> str:
    secret = f"sk_{'live' if livemode else 'test'}_{random_token(32)}"
    conn.execute(
        "INSERT INTO api_keys (key_hash, account_pk, livemode, last4, created) VALUES (?,?,?,?,?)",
        (hash_key(secret), account_pk, livemode, secret[-4:], now_seconds()),
    )
    return secret


def authenticate_key(conn: sqlite3.Connection, secret: str) -> Caller | None:
    row = conn.execute(
        "SELECT account_pk, livemode FROM api_keys WHERE key_hash = ?", (hash_key(secret),)
    ).fetchone()
    if row is None:
        return None
    return Caller(account_pk=int(row[0]), livemode=bool(row[1]))


def revoke_key(conn: sqlite3.Connection, secret: str) -> Caller | None:
    """Delete the key: it authenticates nothing any more (running servers within their key
    cache's few seconds). Returns whose it was, or None if no such key."""
    caller = authenticate_key(conn, secret)
    if caller is not None:
        conn.execute("DELETE FROM api_keys WHERE key_hash = ?", (hash_key(secret),))
    return caller


def roll_key(conn: sqlite3.Connection, secret: str) -> str | None:
    """A new key for the same account and mode, the old one revoked; None if no such key."""
    caller = revoke_key(conn, secret)
    if caller is None:
        return None
    return create_key(conn, caller.account_pk, livemode=caller.livemode)
