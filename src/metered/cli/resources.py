"""`metered meters`, `metered events send` and `metered usage`: the API through metered.client.

Each command takes --api-key ($METERED_API_KEY) and --base-url ($METERED_BASE_URL). Results go
to stdout, progress and errors to stderr. Exit codes: 0 ok, 1 some events were rejected, 2 the
command failed (bad arguments, or an API error after retries).
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, BinaryIO, cast

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column, Table

from metered.client import Client, EventIn, EventOutcome, MeteredError
from metered.client.ndjson import NdjsonResult
from metered.client.resources.meters import Formula, Status, Window

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
meters_app = typer.Typer(no_args_is_help=True, help="Billing meters.")
events_app = typer.Typer(no_args_is_help=True, help="Meter events.")

ApiKey = Annotated[str | None, typer.Option(
    "--api-key", envvar="METERED_API_KEY", show_default=False,
    help="Secret key (sk_test_... or sk_live_...); default $METERED_API_KEY.")]
BaseUrl = Annotated[str | None, typer.Option(
    "--base-url", envvar="METERED_BASE_URL", show_default=False,
    help="Address of the server; default $METERED_BASE_URL, else http://127.0.0.1:8080.")]


class FormulaChoice(StrEnum):
    sum = "sum"
    count = "count"
    last = "last"
    max = "max"
    unique_count = "unique_count"


class StatusChoice(StrEnum):
    active = "active"
    inactive = "inactive"


class WindowChoice(StrEnum):
    hour = "hour"
    day = "day"


@contextmanager
def connected(api_key: str | None, base_url: str | None) -> Iterator[Client]:
    """A Client; an API error ends the command with its message and exit code 2."""
    try:
        with Client(api_key=api_key, base_url=base_url) as client:
            yield client
    except MeteredError as exc:
        err.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from exc


# --- meters ----------------------------------------------------------------------------------

@meters_app.command("create")
def meters_create(
    display_name: Annotated[str, typer.Option("--display-name", help="Name shown to people.")],
    event_name: Annotated[str, typer.Option("--event-name", help="Events it aggregates.")],
    formula: Annotated[FormulaChoice, typer.Option(help="How values add up.")
                       ] = FormulaChoice.sum,
    customer_key: Annotated[str, typer.Option(
        "--customer-key", help="Payload key holding the customer id.")] = "stripe_customer_id",
    value_key: Annotated[str, typer.Option(
        "--value-key", help="Payload key holding the value.")] = "value",
    dimension: Annotated[list[str] | None, typer.Option(
        "--dimension", help="A payload key usage can be grouped by (repeatable).")] = None,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Create a meter; its id is the last line printed."""
    with connected(api_key, base_url) as client:
        meter = client.meters.create(
            display_name=display_name, event_name=event_name, formula=cast(Formula, formula.value),
            customer_key=customer_key, value_key=value_key, dimensions=dimension or (),
        )
    out.print(meter.id)


@meters_app.command("list")
def meters_list(
    status: Annotated[StatusChoice | None, typer.Option(
        help="Only these; all when absent.")] = None,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """List the meters, newest first, as a table."""
    with connected(api_key, base_url) as client:
        meters = list(client.meters.list_all(status=cast(Status | None, status and status.value)))
    id_width = max((len(m.id) for m in meters), default=2)  # ids are never cut short
    table = Table(Column("id", no_wrap=True, min_width=id_width), "display name", "event name",
                  "formula", "dimensions", "status")
    for m in meters:
        table.add_row(m.id, escape(m.display_name), escape(m.event_name), m.formula,
                      escape(", ".join(m.dimension_payload_keys)), m.status)
    out.print(table)


# --- events ----------------------------------------------------------------------------------

@events_app.command("send")
def events_send(
    event_name: Annotated[str | None, typer.Option("--event-name")] = None,
    customer: Annotated[str | None, typer.Option(help="Customer id (cus_...).")] = None,
    value: Annotated[str | None, typer.Option(help="The value (omit for count meters).")] = None,
    payload: Annotated[list[str] | None, typer.Option(
        help="Another payload entry KEY=VALUE (repeatable).")] = None,
    identifier: Annotated[str | None, typer.Option(
        help="Dedupe key; a uuid4 when absent.")] = None,
    timestamp: Annotated[int | None, typer.Option(help="Unix seconds; now when absent.")] = None,
    customer_key: Annotated[str, typer.Option(
        "--customer-key", help="Payload key for --customer.")] = "stripe_customer_id",
    value_key: Annotated[str, typer.Option("--value-key", help="Payload key for --value.")
                         ] = "value",
    file: Annotated[Path | None, typer.Option(
        "--file", dir_okay=False, help="NDJSON file of events, one JSON object a line (- for"
        " stdin); sent in batches instead of one event.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000, help="Events per request.")
                          ] = 1000,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Send one event, or an NDJSON file in batches; exit code 1 if any event was rejected."""
    if file is not None:
        if event_name or customer or value or payload or identifier or timestamp is not None:
            raise typer.BadParameter("--file sends the events of the file: give no --event-name,"
                                     " --customer, --value, --payload, --identifier or"
                                     " --timestamp with it.", param_hint="--file")
        with connected(api_key, base_url) as client:
            result = send_file(client, file, batch_size)
        report_file(result)
        raise typer.Exit(1 if result.rejected else 0)
    if not event_name or not customer:
        raise typer.BadParameter("give --event-name and --customer (or --file).")
    body: dict[str, str] = {customer_key: customer, **payload_entries(payload)}
    if value is not None:
        body[value_key] = value
    event = EventIn(event_name=event_name, payload=body, identifier=identifier,
                    timestamp=timestamp)
    with connected(api_key, base_url) as client:
        outcome = client.events.send_batch([event]).results[0]
    out.print(f"{outcome.status} {escape(outcome.identifier or '')}")
    if outcome.error is not None:
        out.print(escape(_reason(outcome)))
    raise typer.Exit(1 if outcome.status == "rejected" else 0)


def payload_entries(pairs: list[str] | None) -> dict[str, str]:
    entries: dict[str, str] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE.", param_hint="--payload")
        entries[key] = value
    return entries


def send_file(client: Client, path: Path, batch_size: int) -> NdjsonResult:
    """Stream an NDJSON file through the batch endpoint with a progress bar on stderr."""
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TextColumn("{task.fields[lines]} lines"), TimeElapsedColumn())
    with _open(path) as handle, Progress(*columns, console=err) as progress:
        info = os.fstat(handle.fileno())
        size = info.st_size if stat.S_ISREG(info.st_mode) else None  # None: a pipe
        task = progress.add_task(path.name if str(path) != "-" else "stdin", total=size,
                                 lines=0)
        done = NdjsonResult()

        def advance(result: NdjsonResult) -> None:
            nonlocal done
            done = result
            progress.update(task, completed=result.bytes_done, lines=result.lines_done)

        try:
            return client.events.send_ndjson(handle, batch_size=batch_size, on_batch=advance)
        except MeteredError:
            err.print(f"stopped after line {done.lines_done}: up to it, accepted {done.accepted},"
                      f" duplicate {done.duplicate}, rejected {done.rejected}. Resending the file"
                      " is safe for the lines that carry an identifier.")
            raise


def report_file(result: NdjsonResult) -> None:
    out.print(f"accepted {result.accepted}, duplicate {result.duplicate}, "
              f"rejected {result.rejected}")
    for rejection in result.first_rejections:
        out.print(escape(f"  {rejection}"))
    if result.rejected > len(result.first_rejections):
        out.print(f"  ... and {result.rejected - len(result.first_rejections)} more rejected")


def _reason(outcome: EventOutcome) -> str:
    error = outcome.error
    if error is None:
        return outcome.status
    param = f" (param {error.param})" if error.param else ""
    return f"{error.code}: {error.message}{param}"


@contextmanager
def _open(path: Path) -> Iterator[BinaryIO]:
    if str(path) == "-":
        yield sys.stdin.buffer
        return
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise typer.BadParameter(str(exc), param_hint="--file") from exc
    with handle:
        yield handle


# --- usage -----------------------------------------------------------------------------------

WINDOW_SECONDS = {None: 60, "hour": 3600, "day": 86400}


def usage(
    meter: Annotated[str, typer.Option(help="Meter id (mtr_...).")],
    customer: Annotated[str | None, typer.Option(help="Customer id; all customers when absent.")
                        ] = None,
    start: Annotated[str | None, typer.Option(
        help="Unix seconds or ISO date/time (UTC unless it says); default: start of this UTC"
        " month.")] = None,
    end: Annotated[str | None, typer.Option(
        help="Unix seconds or ISO date/time, excluded; default: the next minute.")] = None,
    group_by: Annotated[list[str] | None, typer.Option(
        "--group-by", help="A dimension of the meter to group by (repeatable).")] = None,
    window: Annotated[WindowChoice | None, typer.Option(help="One row per hour or day.")
                      ] = None,
    api_key: ApiKey = None,
    base_url: BaseUrl = None,
) -> None:
    """Print a meter's usage as a table. The range is widened to whole minutes (or windows)."""
    window_name = window.value if window else None
    unit = WINDOW_SECONDS[window_name]
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start_time = _floor(parse_time(start, "--start") if start else int(month_start.timestamp()),
                        unit)
    end_time = _ceil(parse_time(end, "--end") if end else int(now.timestamp()) + 1, unit)
    with connected(api_key, base_url) as client:
        result = client.meters.usage(
            meter, customer=customer, start_time=start_time, end_time=end_time,
            group_by=group_by or (), value_grouping_window=cast(Window | None, window_name),
        )
    title = f"{result.meter}, {result.customer or 'all customers'}, {result.formula}"
    table = Table("from (UTC)", "to (UTC)", *map(escape, result.group_by), "value", title=title)
    for row in result.data:
        dims = row.dimensions or {}
        table.add_row(_when(row.start_time), _when(row.end_time),
                      *[escape(str(dims.get(k) or "")) for k in result.group_by],
                      _plain(row.aggregated_value))
    if result.formula in ("sum", "count"):  # the only formulas whose rows add up
        total = sum((row.aggregated_value for row in result.data), Decimal(0))
        table.caption = f"total {_plain(total)}"
    out.print(table)


def parse_time(text: str, param: str) -> int:
    """Unix seconds, or an ISO 8601 date or date-time (UTC when it names no offset)."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is neither Unix seconds nor an ISO date.",
                                 param_hint=param) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp())


def _floor(ts: int, unit: int) -> int:
    return ts // unit * unit


def _ceil(ts: int, unit: int) -> int:
    return -(-ts // unit) * unit


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def _plain(value: Decimal) -> str:
    """Without an exponent: 0.000000000001, not 1E-12."""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def register(app: typer.Typer) -> None:
    app.add_typer(meters_app, name="meters")
    app.add_typer(events_app, name="events")
    app.command("usage")(usage)
