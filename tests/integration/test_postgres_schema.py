"""The schema on a real PostgreSQL: Alembic migrations reach the head with exactly the schema
module's tables (in a schema of their own, dropped afterwards), and a second run does
nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import quote

import psycopg
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from metered.store.migrate import engine_url, head_revision, upgrade
from metered.store.schema import metadata, postgres_metadata


@pytest.fixture
def scratch_schema(postgres_url: str) -> Iterator[str]:
    """A store URL whose search_path is a fresh PostgreSQL schema."""
    name = f"migrate_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield f"{postgres_url}?options={quote(f'-csearch_path={name}')}"
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


def test_migrations_build_the_schema_on_postgresql(scratch_schema: str) -> None:
    assert upgrade(scratch_schema) == head_revision()
    assert upgrade(scratch_schema) == head_revision()
    engine = create_engine(engine_url(scratch_schema))
    try:
        assert set(inspect(engine).get_table_names()) == {
            *metadata.tables, *postgres_metadata.tables, "alembic_version"}
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection),
                                    [metadata, postgres_metadata])
        assert list(diff) == []
    finally:
        engine.dispose()
