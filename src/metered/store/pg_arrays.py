"""Array and COPY literals for PostgreSQL, built with str.join and bytes.hex (C speed).

psycopg dumps a Python list element by element in Python; for the worker's batches of tens of
thousands of keys that was 40% of its time (docs/benchmarks.md). These build the text form of
an array (`{...}`, cast in SQL: `%s::bytea[]`) or of COPY rows in one pass instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal


def bytea_array(values: Iterable[bytes]) -> str:
    return "{" + ",".join(["\\\\x" + v.hex() for v in values]) + "}"


def int_array(values: Iterable[int | None]) -> str:
    return "{" + ",".join(["NULL" if v is None else str(v) for v in values]) + "}"


def numeric_array(values: Iterable[Decimal | None]) -> str:
    return "{" + ",".join(["NULL" if v is None else format(v, "f") for v in values]) + "}"


def text_array(values: Iterable[str]) -> str:
    return "{" + ",".join(['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
                           for v in values]) + "}"


def copy_text(value: str) -> str:
    """A text field of COPY's text format."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        value = (value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                 .replace("\r", "\\r"))
    return value


def copy_rows(rows: Sequence[str]) -> bytes:
    return ("\n".join(rows) + "\n").encode() if rows else b""
