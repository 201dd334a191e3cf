"""The values the PostgreSQL store sends with a statement (store.postgres): what SQLite takes
as it is and PostgreSQL would not."""

from __future__ import annotations

import pytest

from metered.errors import InvalidRequestError
from metered.store.postgres import PgConnection


class _Recorder:
    """A psycopg connection's `cursor()` that records instead of executing."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []
        recorder = self

        class Cursor:
            description = None
            rowcount = 0

            def execute(self, sql: str, params: object) -> None:
                recorder.sent.append((sql, params))

        self._cursor = Cursor

    def cursor(self) -> object:
        return self._cursor()


def test_flags_are_sent_as_integers() -> None:
    raw = _Recorder()
    PgConnection(raw).execute("UPDATE t SET deleted=? WHERE live=?", (True, False))  # type: ignore[arg-type]
    assert raw.sent == [("UPDATE t SET deleted=%s WHERE live=%s", [1, 0])]


@pytest.mark.parametrize("value", ["a\x00b", "\x00"])
def test_text_with_nul_is_a_bad_request_not_a_driver_error(value: str) -> None:
    """PostgreSQL text cannot hold U+0000 (SQLite's can): a 400 for any statement, rather than
    psycopg's DataError (a 500) or a poisoned write."""
    raw = _Recorder()
    with pytest.raises(InvalidRequestError) as err:
        PgConnection(raw).execute("SELECT pk FROM customers WHERE email=?", (value,))  # type: ignore[arg-type]
    assert err.value.status == 400 and err.value.code == "parameter_invalid"
    assert raw.sent == []  # nothing reached the store
    PgConnection(raw).execute("SELECT 1 WHERE ?=?", (b"\x00", "a"))  # type: ignore[arg-type]
    assert raw.sent  # bytes (bytea) may hold NUL
