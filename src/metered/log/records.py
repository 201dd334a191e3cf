"""What a Kafka record holds: validated meter events of one (account, customer).

A record is MessagePack (msgspec) of a `LogRecord`: the account and mode, the ingestion time
and the events, each with its dedupe key. The API validates before producing, so a worker never
refuses a record: it only drops the events whose key is already in the seen-set.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import msgspec

from metered.ingest.events import ValidatedEvent

MAX_RECORD_EVENTS = 500  # a record stays far below Kafka's default 1 MB message size


class LogEvent(msgspec.Struct, array_like=True, frozen=True):
    key: bytes  # ingest.events.dedupe_key
    meter_pk: int
    dims: str  # canonical JSON of the dimension values, "" when the meter declares none
    ts: int  # event time, seconds
    identifier: str
    value: str  # canonical decimal (numeric formulas) or the raw value (unique_count)
    payload: str


class LogRecord(msgspec.Struct, array_like=True, frozen=True):
    account_pk: int
    livemode: bool
    customer_pk: int
    ingested_ms: int
    events: list[LogEvent]

    @property
    def kafka_key(self) -> bytes:
        """The partitioning key: a customer's events stay in one partition, in order."""
        return b"%d:%d:%d" % (self.account_pk, self.livemode, self.customer_pk)


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(LogRecord)


def records_of(events: Iterable[ValidatedEvent], ingested_ms: int) -> Iterator[LogRecord]:
    """The events grouped by customer, in their order, cut at MAX_RECORD_EVENTS."""
    groups: dict[tuple[int, bool, int], list[LogEvent]] = {}
    for e in events:
        meter = e.meter
        groups.setdefault((meter.account_pk, meter.livemode, e.customer_pk), []).append(
            LogEvent(e.key, meter.pk, e.dims, e.ts, e.identifier, e.value, e.payload))
    for (account_pk, livemode, customer_pk), group in groups.items():
        for start in range(0, len(group), MAX_RECORD_EVENTS):
            yield LogRecord(account_pk, livemode, customer_pk, ingested_ms,
                            group[start : start + MAX_RECORD_EVENTS])


def encode_records(events: Iterable[ValidatedEvent], ingested_ms: int
                   ) -> list[tuple[bytes, bytes]]:
    """(Kafka key, value) per record."""
    return [(r.kafka_key, _encoder.encode(r)) for r in records_of(events, ingested_ms)]


def decode_record(value: bytes) -> LogRecord:
    return _decoder.decode(value)
