"""The event log of distributed mode: records of validated events, produced to and consumed
from Kafka (log.kafka). Embedded mode has no separate log: its store's commit is the log."""

from metered.log.records import LogEvent, LogRecord, decode_record, encode_records

__all__ = ["LogEvent", "LogRecord", "decode_record", "encode_records"]
