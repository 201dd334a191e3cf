"""Schema migrations with Alembic, one history for SQLite and PostgreSQL.

`metered migrate --store URL` brings a store to the newest schema: a SQLite file (a path, or
`sqlite:///path`) or a PostgreSQL database (`postgresql://user:password@host:port/db`, through
psycopg). The revisions live in metered/store/migrations/versions; a new one is generated from
the schema module with `alembic revision --autogenerate` against a store at the previous head.
The embedded server still creates its SQLite schema itself at start-up (store.database); such
a store is adopted at the head.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect

from metered.store.database import Database

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def engine_url(store: str) -> str:
    """SQLAlchemy's URL for a store argument: postgresql:// goes through psycopg 3."""
    if store.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + store.split("://", 1)[1]
    if store.startswith(("postgresql+", "sqlite:")):
        return store
    return f"sqlite:///{Path(store).resolve()}"


def _config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(store: str, revision: str = "head") -> str:
    """Migrate the store to `revision`; returns the revision it is at. An embedded store the
    server made (its tables, no Alembic history) is first brought to the current schema the
    way the server does at start-up, then stamped at the head."""
    url = engine_url(store)
    config = _config(url)
    if current_revision(store) is None and _has_tables(url):
        if not url.startswith("sqlite:"):
            raise RuntimeError(f"{store} has tables but no migration history: not a store"
                               " `metered migrate` made")
        Database(Path(url.removeprefix("sqlite:///"))).create_schema()
        command.stamp(config, "head")
    command.upgrade(config, revision)
    return current_revision(store) or ""


def _has_tables(url: str) -> bool:
    engine = create_engine(url)
    try:
        return "accounts" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def current_revision(store: str) -> str | None:
    engine = create_engine(engine_url(store))
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str:
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head
