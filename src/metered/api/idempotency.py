"""Idempotency-Key: the same key and body replay the first answer; another body is an error.

The stored answer is written in the same transaction as the effect (see `Idempotency.finish`), so a
crash can never leave an effect without its answer, or an answer without its effect.
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass

from metered.accounts import Caller
from metered.api import limits
from metered.clock import now_seconds
from metered.errors import IdempotencyError, IdempotencyInFlightError

MAX_KEY_LENGTH = limits.MAX_IDEMPOTENCY_KEY


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Idempotency:
    caller: Caller
    key: str
    fingerprint: bytes

    def store(self, conn: sqlite3.Connection, status: int, body: bytes) -> None:
        conn.execute(
            "INSERT INTO idempotency_keys (account_pk, livemode, key, fingerprint,"
            " status, body, created) VALUES (?,?,?,?,?,?,?)"
            " ON CONFLICT (account_pk, livemode, key) DO UPDATE SET"
            " fingerprint=excluded.fingerprint, status=excluded.status, body=excluded.body,"
            " created=excluded.created",
            (self.caller.account_pk, self.caller.livemode, self.key, self.fingerprint, status,
             body, now_seconds()),
        )


def fingerprint(method: str, path: str, body: bytes) -> bytes:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).digest()


def lookup(conn: sqlite3.Connection, idem: Idempotency) -> StoredResponse | None:
    row = conn.execute(
        "SELECT fingerprint, status, body FROM idempotency_keys"
        " WHERE account_pk=? AND livemode=? AND key=?",
        (idem.caller.account_pk, idem.caller.livemode, idem.key),
    ).fetchone()
    if row is None:
        return None
    if bytes(row[0]) != idem.fingerprint:
        raise IdempotencyError(
            "Keys for idempotent requests can only be used with the same parameters they were"
            f" first used with. Try using a key other than '{idem.key}' if you meant to execute"
            " a different request.",
            code="idempotency_key_in_use",
        )
    return StoredResponse(int(row[1]), bytes(row[2]))


class InFlight:
    """Keys whose first request has not been answered yet (this process is the only writer)."""

    def __init__(self) -> None:
        self._keys: set[tuple[int, bool, str]] = set()

    def claim(self, idem: Idempotency) -> tuple[int, bool, str]:
        token = (idem.caller.account_pk, idem.caller.livemode, idem.key)
        if token in self._keys:
            raise IdempotencyInFlightError(
                "There is currently another in-progress request using this Idempotent Key"
                " (that probably means you submitted twice, and the other request is still going"
                " through). Please retry your request later.",
                code="idempotency_key_in_use",
            )
        self._keys.add(token)
        return token

    def release(self, token: tuple[int, bool, str]) -> None:
        self._keys.discard(token)
