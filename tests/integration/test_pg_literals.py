"""Array and COPY literals (store.pg_arrays) read back unchanged by a real PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import psycopg

from metered.store.pg_arrays import (
    bytea_array,
    copy_rows,
    copy_text,
    int_array,
    numeric_array,
    text_array,
)

AWKWARD = ["plain", 'quo"te', "back\\slash", "tab\there", "new\nline", "{brace},", "", "NULL",
           "unicode ✓ 模型", "trailing\\"]


def test_array_literals_round_trip(postgres_url: str) -> None:
    keys = [bytes(range(16)), b"\x00" * 16, b"\\x'\""]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT %s::bytea[], %s::bigint[], %s::numeric[], %s::text[]",
            [bytea_array(keys), int_array([1, None, -(2**62)]),
             numeric_array([Decimal("0.000000000001"), None, Decimal("-12345678901234.5")]),
             text_array(AWKWARD)]).fetchone()
    assert row == (keys, [1, None, -(2**62)],
                   [Decimal("0.000000000001"), None, Decimal("-12345678901234.5")], AWKWARD)


def test_copy_text_round_trips(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TEMP TABLE t (n int, s text)")
        with conn.cursor() as cur, cur.copy("COPY t (n, s) FROM STDIN") as copy:
            copy.write(copy_rows([f"{n}\t{copy_text(s)}" for n, s in enumerate(AWKWARD)]))
        assert [s for _, s in conn.execute("SELECT n, s FROM t ORDER BY n")] == AWKWARD
