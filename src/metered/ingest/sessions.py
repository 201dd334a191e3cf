"""Meter event sessions (v2): short-lived tokens that authenticate the meter event stream."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from metered.accounts import Caller, hash_key
from metered.clock import now_seconds
from metered.ids import new_id, random_token

SESSION_SECONDS = 15 * 60


@dataclass(frozen=True, slots=True)
class MeterEventSession:
    id: str
    token: str
    livemode: bool
    created: int
    expires_at: int


def create_session(conn: sqlite3.Connection, caller: Caller) -> MeterEventSession:
    now = now_seconds()
    session = MeterEventSession(
        id=new_id("mes"), token=f"mes_tok_{random_token(40)}", livemode=caller.livemode,
        created=now, expires_at=now + SESSION_SECONDS,
    )
    conn.execute(
        "INSERT INTO meter_event_sessions (token_hash, id, account_pk, livemode, created,"
        " expires_at) VALUES (?,?,?,?,?,?)",
        (hash_key(session.token), session.id, caller.account_pk, caller.livemode, now,
         session.expires_at),
    )
    conn.execute("DELETE FROM meter_event_sessions WHERE expires_at < ?", (now - 86_400,))
    return session


def find_session(conn: sqlite3.Connection, token_hash: bytes) -> tuple[Caller, int] | None:
    row = conn.execute(
        "SELECT account_pk, livemode, expires_at FROM meter_event_sessions WHERE token_hash=?",
        (token_hash,),
    ).fetchone()
    if row is None:
        return None
    return Caller(int(row[0]), bool(row[1])), int(row[2])
