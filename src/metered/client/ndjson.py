"""NDJSON files of events, read lazily in batches, every line accounted for.

Each line's values stay the exact JSON text of the file (nothing is re-encoded through floats);
a line without an identifier gets a uuid4 as it is read, before any attempt to send it. A line
that is not a JSON object is rejected here, with its line number, like the server's rejections.
Only counts and the first rejections are kept, so a file of any size is sent in constant memory.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

import msgspec

from metered.client.models import BatchResult

RawEvent = dict[str, msgspec.Raw | str]
_line_decoder = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ABSENT = (b"null", b'""')


@dataclass(frozen=True, slots=True)
class LineRejection:
    line: int
    identifier: str | None
    code: str | None
    message: str

    def __str__(self) -> str:
        who = f" (identifier {self.identifier})" if self.identifier else ""
        return f"line {self.line}{who}: {self.code or 'rejected'}: {self.message}"


@dataclass(slots=True)
class LineBatch:
    """Consecutive lines of the file: the events to send, with their line numbers, and the
    lines rejected while reading. `end_offset` is the byte offset after the last line."""

    lines: list[int] = field(default_factory=list)
    events: list[RawEvent] = field(default_factory=list)
    unreadable: list[LineRejection] = field(default_factory=list)
    end_offset: int = 0


@dataclass(slots=True)
class NdjsonResult:
    """Running totals of a file being sent; `first_rejections` in line order."""

    accepted: int = 0
    duplicate: int = 0
    rejected: int = 0
    lines_done: int = 0
    bytes_done: int = 0
    first_rejections: list[LineRejection] = field(default_factory=list)
    keep_rejections: int = 10

    def add(self, batch: LineBatch, answer: BatchResult) -> None:
        """Count a batch sent with `answer` (whose indexes follow `batch.events`)."""
        rejections = list(batch.unreadable)
        for outcome in answer.rejections:
            error = outcome.error
            message = (error.message or "") if error else ""
            if error is not None and error.param:
                message += f" (param {error.param})"
            rejections.append(LineRejection(batch.lines[outcome.index], outcome.identifier,
                                            error.code if error else None, message))
        self.accepted += answer.accepted
        self.duplicate += answer.duplicate
        self.rejected += len(rejections)
        room = max(self.keep_rejections - len(self.first_rejections), 0)
        self.first_rejections += sorted(rejections, key=lambda r: r.line)[:room]
        last_event = batch.lines[-1] if batch.lines else 0
        last_unreadable = batch.unreadable[-1].line if batch.unreadable else 0
        self.lines_done = max(self.lines_done, last_event, last_unreadable)
        self.bytes_done = batch.end_offset


def parse_line(number: int, line: bytes) -> RawEvent | LineRejection:
    """One line as an event with an identifier, or why it is not one."""
    try:
        decoded = _line_decoder.decode(line)
    except msgspec.ValidationError:
        return LineRejection(number, None, "parameter_invalid", "The line is not a JSON object.")
    except msgspec.DecodeError as exc:
        return LineRejection(number, None, "parameter_invalid_json",
                             f"The line is not valid JSON: {exc}.")
    event: RawEvent = dict(decoded)
    identifier = decoded.get("identifier")
    if identifier is None or bytes(identifier).strip() in _ABSENT:
        event["identifier"] = str(uuid.uuid4())
    return event


def read_batches(source: BinaryIO, batch_size: int) -> Iterator[LineBatch]:
    """Batches of up to `batch_size` events from an NDJSON stream; blank lines are skipped."""
    batch = LineBatch()
    offset = 0
    for number, line in enumerate(source, start=1):
        offset += len(line)
        if not line.strip():
            continue
        parsed = parse_line(number, line)
        if isinstance(parsed, LineRejection):
            batch.unreadable.append(parsed)
            continue
        batch.lines.append(number)
        batch.events.append(parsed)
        if len(batch.events) >= batch_size:
            batch.end_offset = offset
            yield batch
            batch = LineBatch()
    batch.end_offset = offset
    if batch.events or batch.unreadable:
        yield batch
