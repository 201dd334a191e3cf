"""Online backups of the embedded store, and restoring one.

`backup` copies the whole database (events, rollups, billing: everything is in the one SQLite
file) through SQLite's backup API in a single step, inside one read transaction: in WAL mode
that is a consistent snapshot of every commit made before it began, taken while the server
keeps writing. The copy is checked (`PRAGMA integrity_check`) and fsync'd under a temporary
name, then renamed into place, so a backup file is either whole or absent.

`restore` checks a backup the same way and puts it in a data folder that holds no store
(`replace=True` overwrites one: the server must be stopped).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from metered.store.database import connect
from metered.store.schema import SCHEMA_VERSION

STORE_NAME = "metered.sqlite3"


class BackupError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class BackupInfo:
    path: Path
    bytes: int
    schema_version: int
    events: int  # raw events stored (a quick check of what the copy holds)


def _check(path: Path) -> BackupInfo:
    conn = sqlite3.connect(str(path))
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()[0]
        if result != "ok":
            raise BackupError(f"{path} is damaged: {result}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if not 0 < version <= SCHEMA_VERSION:
            raise BackupError(f"{path} has schema version {version}; this metered reads"
                              f" 1 to {SCHEMA_VERSION}")
        (events,) = conn.execute("SELECT COALESCE(SUM(count), 0) FROM event_segments").fetchone()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a metered store: {exc}") from exc
    finally:
        conn.close()
    return BackupInfo(path, path.stat().st_size, version, int(events))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(data_dir: Path, target: Path) -> BackupInfo:
    source_path = data_dir / STORE_NAME
    if not source_path.exists():
        raise BackupError(f"no store in {data_dir}")
    target = target.resolve()
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = connect(source_path, cache_mb=16, readonly=True)
    destination = sqlite3.connect(str(partial))
    try:
        source.backup(destination)  # one step: one read transaction, one snapshot
    finally:
        destination.close()
        source.close()
    info = _check(partial)
    _fsync(partial)
    partial.replace(target)
    _fsync(target.parent)
    return BackupInfo(target, info.bytes, info.schema_version, info.events)


def restore(backup_path: Path, data_dir: Path, *, replace: bool = False) -> BackupInfo:
    info = _check(backup_path)
    data_dir.mkdir(parents=True, exist_ok=True)
    store = data_dir / STORE_NAME
    if store.exists() and not replace:
        raise BackupError(f"{data_dir} already holds a store: stop its server and pass"
                          " --replace to overwrite it")
    partial = data_dir / (STORE_NAME + ".restoring")
    source = sqlite3.connect(str(backup_path))
    destination = sqlite3.connect(str(partial))
    try:
        source.backup(destination)
    finally:
        destination.close()
        source.close()
    _fsync(partial)
    for suffix in ("-wal", "-shm"):  # the old store's journal must not be replayed onto it
        (data_dir / (STORE_NAME + suffix)).unlink(missing_ok=True)
    partial.replace(store)
    _fsync(data_dir)
    return BackupInfo(store, info.bytes, info.schema_version, info.events)
