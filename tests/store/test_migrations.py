"""Alembic migrations on SQLite: a new store reaches the head with exactly the schema module's
tables, twice is a no-op, and a store the server made is adopted at the baseline."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from metered.store import open_database
from metered.store.migrate import engine_url, head_revision, upgrade
from metered.store.schema import metadata


def schema_diff(url: str) -> list[object]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(compare_metadata(MigrationContext.configure(connection), metadata))
    finally:
        engine.dispose()


def test_a_new_sqlite_store_migrates_to_the_schema(tmp_path: Path) -> None:
    store = str(tmp_path / "new.sqlite3")
    assert upgrade(store) == head_revision()
    assert upgrade(store) == head_revision()  # again: nothing to do
    assert schema_diff(engine_url(store)) == []


def test_a_store_the_server_made_is_adopted(tmp_path: Path) -> None:
    db = open_database(tmp_path / "data", cache_mb=16)
    assert upgrade(str(db.path)) == head_revision()
    assert schema_diff(engine_url(str(db.path))) == []


def test_store_urls() -> None:
    assert engine_url("postgresql://u:p@127.0.0.1:5432/db") == (
        "postgresql+psycopg://u:p@127.0.0.1:5432/db")
    assert engine_url("/tmp/x.sqlite3") == "sqlite:////tmp/x.sqlite3"
