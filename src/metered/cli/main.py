"""Entry point of the `metered` command."""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from metered.accounts import (
    create_account,
    create_key,
    default_account_pk,
    revoke_key,
    roll_key,
)
from metered.cli import resources
from metered.cli.paths import resolve_data_dir
from metered.ops.logs import configure_logging
from metered.store import open_database
from metered.store.database import connect

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="metered: usage-based billing that counts every event exactly once.")
keys_app = typer.Typer(no_args_is_help=True, help="Secret API keys.")
accounts_app = typer.Typer(no_args_is_help=True, help="Accounts (tenants).")
app.add_typer(keys_app, name="keys")
app.add_typer(accounts_app, name="accounts")

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Folder of the embedded store (default: $METERED_DATA_DIR,"
                 " else the user data folder).", show_default=False),
]


Store = Annotated[str | None, typer.Option(
    "--store", envvar="METERED_STORE",
    help="postgresql://user:password@host:port/db: the distributed store (with --log);"
         " default: the embedded store of --data-dir.", show_default=False)]
Log = Annotated[str | None, typer.Option(
    "--log", envvar="METERED_LOG",
    help="kafka://host:port/topic[?partitions=N]: the event log of distributed mode (with a"
         " postgresql --store).", show_default=False)]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    data_dir: DataDir = None,
    store: Store = None,
    log: Log = None,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    parse_workers: Annotated[int | None, typer.Option(
        envvar="METERED_PARSE_WORKERS", min=0,
        help="Processes that decode and validate large batches (default: cores - 1, at least"
             " 1; 0 validates everything in the server process).")] = None,
    log_format: Annotated[str, typer.Option(
        envvar="METERED_LOG_FORMAT", help="text, or json: one object per line with the"
        " request id.")] = "text",
    rate_limit: Annotated[list[str] | None, typer.Option(
        "--rate-limit", help="KIND=RATE[/BURST], repeatable: KIND api-key, api-account,"
        " ingest-key or ingest-account; RATE requests/s (0: none). Defaults: api-key=1000,"
        " api-account=5000, ingest unlimited.")] = None,
    invoice_grace_period: Annotated[int, typer.Option(
        envvar="METERED_INVOICE_GRACE_PERIOD", min=0,
        help="Seconds a period's invoice stays a draft, still counting late usage, before it"
             " is finalized.")] = 3600,
    webhook_retry_base: Annotated[float, typer.Option(
        envvar="METERED_WEBHOOK_RETRY_BASE_SECONDS", min=0.001,
        help="Seconds before a failed webhook delivery is tried again; each retry waits twice"
             " as long, up to 360 times this, for about three days at the default.")] = 60.0,
    memory_budget: Annotated[int | None, typer.Option(
        "--memory-budget", envvar="METERED_MEMORY_BUDGET", min=16, metavar="MB",
        help="Memory for ingest requests in flight (bodies, decoded events, the writer's"
             " queue); past it ingest answers 429 with Retry-After. Default: 512, or 1/8 of"
             " the machine's memory if less.", show_default=False)] = None,
) -> None:
    """Run the API server: on the embedded store (SQLite, no other service), or stateless on
    PostgreSQL and Kafka (--store and --log; `metered worker` applies the log)."""
    import uvicorn

    from metered.api import create_app
    from metered.api.server import uvicorn_options
    from metered.engine import Engine

    # The writer thread hands the GIL back and forth with the event loop around every SQLite
    # call; a 1 ms switch interval (default 5 ms) measured ~20% more ingest (docs/benchmarks.md).
    sys.setswitchinterval(0.001)
    if log_format not in ("text", "json"):
        raise typer.BadParameter("--log-format must be text or json")
    configure_logging(log_level, log_format)
    directory = resolve_data_dir(data_dir)
    from metered.ingest.parse_pool import default_workers

    workers = default_workers() if parse_workers is None else parse_workers
    if (store is None) != (log is None) or (store and not store.startswith("postgres")):
        raise typer.BadParameter("distributed mode needs both --store postgresql://... and"
                                 " --log kafka://...")
    if store is not None and log is not None:
        from metered.distributed import DistributedEngine

        engine: Engine = DistributedEngine(store, log, grace_seconds=invoice_grace_period,
                                           webhook_retry_base_seconds=webhook_retry_base)
    else:
        engine = Engine.open(directory, parse_workers=workers,
                             grace_seconds=invoice_grace_period,
                             webhook_retry_base_seconds=webhook_retry_base)
    # Fail-stop: a writer that failed takes no more writes; exit so that a supervisor restarts
    # the server, which rebuilds its in-memory state from the store (everything acknowledged
    # is durable: the same as after a crash).
    engine.writer.on_failure = lambda: os._exit(70)
    # Everything loaded so far (code, caches) lives as long as the process: keep it out of the
    # cyclic GC's scans, which otherwise lengthen the pauses that show in p99 latencies.
    gc.collect()
    gc.freeze()
    from metered.store.postgres import redact

    where = engine.db.path or f"{redact(store or '')} + {log}"
    typer.echo(f"metered serving on http://{host}:{port} (store: {where})", err=True)
    from metered.api.rate_limits import RateLimits

    try:
        limits = RateLimits.from_options(rate_limit or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--rate-limit") from exc
    uvicorn.run(create_app(engine, rate_limits=limits, memory_budget_mb=memory_budget),
                host=host, port=port, **uvicorn_options(log_level))


@app.command()
def worker(
    store: Store = None,
    log: Log = None,
    group: Annotated[str, typer.Option(
        envvar="METERED_WORKER_GROUP", help="The Kafka consumer group of the workers.")
    ] = "metered-workers",
    batch_records: Annotated[int, typer.Option(
        min=1, help="Records applied per PostgreSQL transaction, at most (a record holds up"
        " to 500 events of one customer).")] = 1_000,
    session_timeout_ms: Annotated[int, typer.Option(
        min=1_000, help="Kafka session timeout: a worker silent this long loses its"
        " partitions to the others.")] = 10_000,
    metrics_port: Annotated[int | None, typer.Option(
        envvar="METERED_WORKER_METRICS_PORT", help="Serve Prometheus metrics (applied events,"
        " transaction sizes and times, lag per partition) on this port.")] = None,
    metrics_host: Annotated[str, typer.Option(help="Address of the metrics port.")
                            ] = "127.0.0.1",
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    log_format: Annotated[str, typer.Option(
        envvar="METERED_LOG_FORMAT", help="text or json.")] = "text",
) -> None:
    """Apply the Kafka event log to the PostgreSQL store, as one of a consumer group."""
    import signal

    from metered.store.postgres import redact
    from metered.workers.log_consumer import LogWorker

    if not store or not store.startswith("postgres") or not log:
        raise typer.BadParameter("metered worker needs --store postgresql://... and"
                                 " --log kafka://...")
    configure_logging(log_level, log_format)
    from metered.workers.worker_metrics import WorkerMetrics

    metrics = WorkerMetrics()
    if metrics_port is not None:
        metrics.serve(metrics_port, metrics_host)
    worker = LogWorker(store, log, group=group, batch_records=batch_records,
                       session_timeout_ms=session_timeout_ms, metrics=metrics)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop())
    typer.echo(f"metered worker applying {log} to {redact(store)}", err=True)
    worker.run()


def _with_connection(data_dir: Path | None, store: str | None = None):  # type: ignore[no-untyped-def]
    if store is not None and store.startswith("postgres"):
        from metered.store.postgres import connect as connect_postgres

        return connect_postgres(store)
    directory = resolve_data_dir(data_dir)
    db = open_database(directory, cache_mb=16)
    return connect(db.path, cache_mb=16)


@keys_app.command("create")
def keys_create(
    data_dir: DataDir = None,
    store: Store = None,
    live: Annotated[bool, typer.Option("--live", help="A live-mode key (sk_live_...).")] = False,
) -> None:
    """Create a secret key for the default account; the key is the last line printed."""
    conn = _with_connection(data_dir, store)
    try:
        conn.execute("BEGIN IMMEDIATE")
        account_pk = default_account_pk(conn)
        secret = create_key(conn, account_pk, livemode=live)
        conn.execute("COMMIT")
    finally:
        conn.close()
    typer.echo(secret)


@keys_app.command("revoke")
def keys_revoke(
    key: Annotated[str, typer.Argument(help="The secret key to revoke.")],
    data_dir: DataDir = None,
    store: Store = None,
) -> None:
    """Revoke a secret key (a running server refuses it within 5 seconds)."""
    conn = _with_connection(data_dir, store)
    try:
        conn.execute("BEGIN IMMEDIATE")
        caller = revoke_key(conn, key)
        conn.execute("COMMIT")
    finally:
        conn.close()
    if caller is None:
        typer.echo("no such key", err=True)
        raise typer.Exit(2)
    typer.echo(f"revoked the key ending in {key[-4:]}")


@keys_app.command("roll")
def keys_roll(
    key: Annotated[str, typer.Argument(help="The secret key to replace.")],
    data_dir: DataDir = None,
    store: Store = None,
) -> None:
    """Replace a secret key: a new one for the same account and mode (the last line printed),
    the old one revoked."""
    conn = _with_connection(data_dir, store)
    try:
        conn.execute("BEGIN IMMEDIATE")
        secret = roll_key(conn, key)
        conn.execute("COMMIT")
    finally:
        conn.close()
    if secret is None:
        typer.echo("no such key", err=True)
        raise typer.Exit(2)
    typer.echo(secret)


@accounts_app.command("create")
def accounts_create(
    data_dir: DataDir = None,
    store: Store = None,
    name: Annotated[str | None, typer.Option(help="A name for the account.")] = None,
) -> None:
    """Create another account; prints its first test key on the last line."""
    conn = _with_connection(data_dir, store)
    try:
        conn.execute("BEGIN IMMEDIATE")
        default_account_pk(conn)  # the first account is always the default one
        account_pk = create_account(conn, name)
        secret = create_key(conn, account_pk, livemode=False)
        conn.execute("COMMIT")
    finally:
        conn.close()
    typer.echo(f"account {account_pk} created", err=True)
    typer.echo(secret)


@app.command("migrate")
def migrate_command(
    store: Annotated[str | None, typer.Option(
        "--store", envvar="METERED_STORE",
        help="postgresql://user:password@host:port/db, or a SQLite file (default: the embedded"
             " store of --data-dir).")] = None,
    data_dir: DataDir = None,
) -> None:
    """Bring a store's schema to the newest revision (Alembic; SQLite or PostgreSQL)."""
    from metered.store.migrate import upgrade  # noqa: PLC0415

    target = store or str(resolve_data_dir(data_dir) / "metered.sqlite3")
    revision = upgrade(target)
    typer.echo(f"schema at revision {revision}")


@app.command("backup")
def backup_command(
    target: Annotated[Path, typer.Argument(help="The backup file to write.")],
    data_dir: DataDir = None,
) -> None:
    """Copy the embedded store to TARGET, consistently, while the server runs."""
    from metered.ops.backup import BackupError, backup  # noqa: PLC0415

    try:
        info = backup(resolve_data_dir(data_dir), target)
    except BackupError as exc:
        typer.echo(f"backup failed: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{info.path}: {info.bytes} bytes, {info.events} events, schema"
               f" {info.schema_version}")


@app.command("restore")
def restore_command(
    source: Annotated[Path, typer.Argument(help="A file `metered backup` wrote.")],
    data_dir: DataDir = None,
    replace: Annotated[bool, typer.Option(
        "--replace", help="Overwrite the store there (stop its server first).")] = False,
) -> None:
    """Put a backup in place as the data folder's store."""
    from metered.ops.backup import BackupError, restore  # noqa: PLC0415

    try:
        info = restore(source, resolve_data_dir(data_dir), replace=replace)
    except BackupError as exc:
        typer.echo(f"restore failed: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"{info.path}: {info.events} events restored")


resources.register(app)

if __name__ == "__main__":
    app()
