"""Alembic's environment for metered: the target is metered.store.schema's metadata, the
database the URL given by metered.store.migrate (SQLite file or PostgreSQL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from metered.store.schema import metadata, postgres_metadata

config = context.config


def run() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "metered.store.migrate sets sqlalchemy.url"
    engine = create_engine(url)
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        target = [metadata, postgres_metadata] if postgres else metadata
        context.configure(connection=connection, target_metadata=target,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
