"""The PostgreSQL store's rewrites of the embedded dialect (store.postgres.translate)."""

from __future__ import annotations

import pytest

from metered.store.postgres import DialectError, redact, translate


def test_placeholders_become_psycopg_ones_outside_literals() -> None:
    sql, key = translate("SELECT * FROM t WHERE a = ? AND b LIKE 'x?%' AND \"c?\" = ?")
    assert sql == "SELECT * FROM t WHERE a = %s AND b LIKE 'x?%%' AND \"c?\" = %s"
    assert key is None


def test_an_insert_into_a_table_with_a_generated_key_returns_it() -> None:
    sql, key = translate("INSERT INTO customers (id, account_pk) VALUES (?, ?)")
    assert sql == "INSERT INTO customers (id, account_pk) VALUES (%s, %s) RETURNING pk"
    assert key == "pk"
    assert translate("INSERT INTO dimension_sets (meter_pk, dims) VALUES (?, ?)")[1] == "dims_pk"


def test_insert_or_ignore_becomes_on_conflict_do_nothing() -> None:
    sql, key = translate("INSERT OR IGNORE INTO engine_state (key, value) VALUES (?, ?)")
    assert sql == "INSERT INTO engine_state (key, value) VALUES (%s, %s) ON CONFLICT DO NOTHING"
    assert key is None


def test_an_insert_that_returns_already_is_left_alone() -> None:
    sql, key = translate("INSERT INTO customers (id) VALUES (?) RETURNING pk, id")
    assert sql.endswith("RETURNING pk, id") and key is None


def test_begin_immediate_is_begin_and_pragma_is_refused() -> None:
    assert translate("BEGIN IMMEDIATE") == ("BEGIN", None)
    with pytest.raises(DialectError):
        translate("PRAGMA user_version")


def test_passwords_are_redacted() -> None:
    assert redact("postgresql://u:s3cr@t@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact("postgresql://h/db") == "postgresql://h/db"
