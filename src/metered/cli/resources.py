"""`metered meters`, `metered events send` and `metered usage`, built on metered.client."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from metered.client import BatchResult, Client, EventIn, MeteredError

console = Console()
meters_app = typer.Typer(no_args_is_help=True, help="Billing meters.")
events_app = typer.Typer(no_args_is_help=True, help="Meter events.")

ApiKey = Annotated[str | None, typer.Option("--api-key", envvar="METERED_API_KEY",
                                            help="Secret key (sk_test_... or sk_live_...).")]
BaseUrl = Annotated[str, typer.Option("--base-url", envvar="METERED_BASE_URL",
                                      help="Address of the metered server.")]
DEFAULT_URL = "http://127.0.0.1:8080"


def _client(api_key: str | None, base_url: str) -> Client:
    try:
        return Client(api_key=api_key, base_url=base_url)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--api-key") from exc


def _fail(exc: MeteredError) -> typer.Exit:
    console.print(f"[red]error[/red] {exc}")
    return typer.Exit(2)


@meters_app.command("create")
def meters_create(
    display_name: Annotated[str, typer.Option("--display-name")],
    event_name: Annotated[str, typer.Option("--event-name")],
    formula: Annotated[str, typer.Option(help="sum, count, last, max or unique_count")] = "sum",
    customer_key: Annotated[str, typer.Option("--customer-key")] = "stripe_customer_id",
    value_key: Annotated[str, typer.Option("--value-key")] = "value",
    dimension: Annotated[list[str] | None, typer.Option(
        "--dimension", help="A payload key to group usage by (repeatable).")] = None,
    api_key: ApiKey = None,
    base_url: BaseUrl = DEFAULT_URL,
) -> None:
    """Create a meter; its id is the last line printed."""
    with _client(api_key, base_url) as client:
        try:
            meter = client.meters.create(
                display_name=display_name, event_name=event_name, formula=formula,
                customer_key=customer_key, value_key=value_key, dimensions=dimension or (),
            )
        except MeteredError as exc:
            raise _fail(exc) from exc
    typer.echo(meter.id)


@meters_app.command("list")
def meters_list(api_key: ApiKey = None, base_url: BaseUrl = DEFAULT_URL) -> None:
    """List the meters."""
    with _client(api_key, base_url) as client:
        try:
            meters = client.meters.list()
        except MeteredError as exc:
            raise _fail(exc) from exc
    table = Table("id", "event name", "formula", "dimensions", "status", "display name")
    for m in meters:
        table.add_row(m.id, m.event_name, m.formula, ", ".join(m.dimension_payload_keys),
                      m.status, m.display_name)
    console.print(table)


def _payload(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--payload")
        out[key] = value
    return out


@events_app.command("send")
def events_send(
    event_name: Annotated[str | None, typer.Option("--event-name")] = None,
    customer: Annotated[str | None, typer.Option(help="Customer id (cus_...).")] = None,
    value: Annotated[str | None, typer.Option(help="The event's value.")] = None,
    payload: Annotated[list[str] | None, typer.Option(
        help="Extra payload entries KEY=VALUE (repeatable).")] = None,
    identifier: Annotated[str | None, typer.Option()] = None,
    timestamp: Annotated[int | None, typer.Option(help="Unix seconds.")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", exists=True, dir_okay=False, help="NDJSON file of events.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 1000,
    api_key: ApiKey = None,
    base_url: BaseUrl = DEFAULT_URL,
) -> None:
    """Send one event, or a file of NDJSON events in batches (exit 1 if any is rejected)."""
    with _client(api_key, base_url) as client:
        try:
            if file is not None:
                result = _send_file(client, file, batch_size)
            else:
                if not event_name or not customer:
                    raise typer.BadParameter("--event-name and --customer are needed (or --file)")
                body = {"stripe_customer_id": customer, **_payload(payload)}
                if value is not None:
                    body["value"] = value
                event = EventIn(event_name=event_name, payload=body, identifier=identifier,
                                timestamp=timestamp)
                result = client.events.send_batch([event])
        except MeteredError as exc:
            raise _fail(exc) from exc
    console.print(f"accepted {result.accepted}, duplicate {result.duplicate}, "
                  f"rejected {result.rejected}")
    for outcome in result.rejections[:10]:
        error = outcome.error
        console.print(f"  #{outcome.index} {outcome.identifier or ''}: "
                      f"{error.code if error else ''} {error.message if error else ''}")
    if result.rejected:
        raise typer.Exit(1)


def _send_file(client: Client, path: Path, batch_size: int) -> BatchResult:
    total = BatchResult()
    size = os.path.getsize(path)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[events]}"
               " events"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as progress, path.open("rb") as fh:
        task = progress.add_task(path.name, total=size or 1, events=0)
        chunk: list[EventIn | dict[str, Any]] = []
        sent = 0

        def flush() -> None:
            nonlocal sent, chunk
            total.extend(client.events.send_batch(chunk), sent)
            sent += len(chunk)
            chunk = []
            progress.update(task, completed=fh.tell(), events=sent)

        for event in _read_ndjson_handle(fh):
            chunk.append(event)
            if len(chunk) >= batch_size:
                flush()
        if chunk:
            flush()
        progress.update(task, completed=size or 1)
    return total


def _read_ndjson_handle(handle: Any) -> Iterator[dict[str, Any]]:
    for number, line in enumerate(iter(handle.readline, b""), start=1):
        if not line.strip():
            continue
        try:
            yield json.loads(line)
        except ValueError as exc:
            raise typer.BadParameter(f"line {number} is not JSON: {exc}",
                                     param_hint="--file") from exc


def _time(value: str | None, default: int) -> int:
    if value is None:
        return default
    if value.lstrip("-").isdigit():
        return int(value)
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def usage(
    meter: Annotated[str, typer.Option(help="Meter id (mtr_...).")],
    customer: Annotated[str | None, typer.Option(help="Customer id; all when absent.")] = None,
    start: Annotated[str | None, typer.Option(help="Unix seconds or ISO date.")] = None,
    end: Annotated[str | None, typer.Option(help="Unix seconds or ISO date.")] = None,
    group_by: Annotated[list[str] | None, typer.Option("--group-by")] = None,
    window: Annotated[str | None, typer.Option(help="hour or day")] = None,
    api_key: ApiKey = None,
    base_url: BaseUrl = DEFAULT_URL,
) -> None:
    """Print usage of a meter as a table (default: this UTC month so far)."""
    now = datetime.now(UTC)
    month_start = int(now.replace(day=1, hour=0, minute=0, second=0, microsecond=0).timestamp())
    next_minute = (int(now.timestamp()) // 60 + 1) * 60
    with _client(api_key, base_url) as client:
        try:
            result = client.meters.usage(
                meter, customer=customer, start_time=_time(start, month_start),
                end_time=_time(end, next_minute), group_by=group_by or (),
                value_grouping_window=window,
            )
        except MeteredError as exc:
            raise _fail(exc) from exc
    table = Table("start (UTC)", "end (UTC)", *result.group_by, f"{result.formula}",
                  title=f"{result.meter} {result.customer or 'all customers'}")
    for row in result.data:
        dims = row.dimensions or {}
        table.add_row(
            datetime.fromtimestamp(row.start_time, UTC).strftime("%Y-%m-%d %H:%M"),
            datetime.fromtimestamp(row.end_time, UTC).strftime("%Y-%m-%d %H:%M"),
            *[str(dims.get(k)) for k in result.group_by], str(row.aggregated_value),
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(meters_app, name="meters")
    app.add_typer(events_app, name="events")
    app.command("usage")(usage)
