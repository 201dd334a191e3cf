"""Meter event errors, gathered for Stripe's asynchronous error reports.

Every rejection is also answered synchronously, per event; the reports are for the
integrations that listen to Stripe's `v1.billing.meter.error_report_triggered` (an event of a
known meter refused: bad value, unknown customer, timestamp out of range...) and
`v1.billing.meter.no_meter_found` (no active meter has the event's name). Rejections are
counted in memory by (account, mode, event name, code), with a few samples each, and the
billing scheduler turns them into events every few seconds (workers.billing_scheduler). The
counts are bounded; a crash loses the counts of the last seconds, never an event.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

MAX_GROUPS = 10_000
MAX_SAMPLES = 3
NO_METER = ("no_meter", "archived_meter")


@dataclass(slots=True)
class ErrorGroup:
    account_pk: int
    livemode: bool
    event_name: str | None
    first: int
    last: int
    counts: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[tuple[str, str | None, str]]] = field(default_factory=dict)

    @property
    def no_meter(self) -> bool:
        return all(code in NO_METER for code in self.counts)


class ErrorReports:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: dict[tuple[int, bool, str | None], ErrorGroup] = {}
        self.dropped = 0  # rejections not counted because the table was full
        self._totals: dict[str, int] = {}  # every rejection since start, by code (metrics)

    def add(self, account_pk: int, livemode: bool, event_name: object, code: str | None,
            message: str, identifier: object, request_id: str, at: int) -> None:
        name = event_name if isinstance(event_name, str) and event_name else None
        key = (account_pk, livemode, name[:100] if name else None)
        code = code or "invalid_request"
        with self._lock:
            self._totals[code] = self._totals.get(code, 0) + 1
            group = self._groups.get(key)
            if group is None:
                if len(self._groups) >= MAX_GROUPS:
                    self.dropped += 1
                    return
                group = self._groups[key] = ErrorGroup(account_pk, livemode, key[2], at, at)
            group.last = max(group.last, at)
            group.counts[code] = group.counts.get(code, 0) + 1
            samples = group.samples.setdefault(code, [])
            if len(samples) < MAX_SAMPLES:
                samples.append((message[:500], identifier if isinstance(identifier, str)
                                else None, request_id))

    def totals(self) -> dict[str, int]:
        with self._lock:
            return dict(self._totals)

    def drain(self) -> list[ErrorGroup]:
        with self._lock:
            groups, self._groups = list(self._groups.values()), {}
        return groups


def _iso(seconds: int) -> str:
    from datetime import UTC, datetime  # noqa: PLC0415

    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def report_object(group: ErrorGroup, meter_id: str | None) -> dict[str, object]:
    """The event's object: Stripe's error report, with its meter (when one has the name)."""
    total = sum(group.counts.values())
    return {
        "object": "billing.meter_error_report",
        "meter": meter_id,
        "event_name": group.event_name,
        "developer_message_summary": f"{total} meter event(s) were refused"
                                     + (f" for '{group.event_name}'" if group.event_name else ""),
        "reason": {
            "error_count": total,
            "error_types": [
                {"code": code, "error_count": count, "sample_errors": [
                    {"error_message": message,
                     "request": {"id": request_id or None, "identifier": identifier}}
                    for message, identifier, request_id in group.samples.get(code, [])]}
                for code, count in sorted(group.counts.items())],
        },
        "validation_start": _iso(group.first),
        "validation_end": _iso(group.last),
    }
