"""Kafka through confluent-kafka (librdkafka): the producer of the API processes, the
consumers of `metered worker`, and the topic they share.

`kafka://host:port[,host:port...]/topic[?partitions=N]`. The producer is idempotent with
`acks=all`: a delivery report without error means every in-sync replica has the record, and a
retried send inside the producer cannot duplicate it. The API answers only after the report
(ARCHITECTURE.md, invariant 1).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic

log = logging.getLogger("metered.log")
DEFAULT_PARTITIONS = 8


@dataclass(frozen=True)
class LogAddress:
    bootstrap: str
    topic: str
    partitions: int = DEFAULT_PARTITIONS

    @classmethod
    def parse(cls, url: str) -> LogAddress:
        parts = urlsplit(url)
        topic = parts.path.strip("/")
        if parts.scheme != "kafka" or not parts.netloc or not topic or "/" in topic:
            raise ValueError(f"not a log address: {url!r} (kafka://host:port/topic)")
        query = parse_qs(parts.query)
        partitions = int(query.get("partitions", [DEFAULT_PARTITIONS])[0])
        if not 1 <= partitions <= 10_000:
            raise ValueError(f"partitions must be 1..10000, not {partitions}")
        return cls(parts.netloc, topic, partitions)


def ensure_topic(address: LogAddress, timeout: float = 30.0) -> int:
    """Create the topic if it does not exist; return its number of partitions."""
    admin = AdminClient({"bootstrap.servers": address.bootstrap})
    metadata = admin.list_topics(timeout=timeout)
    topic = metadata.topics.get(address.topic)
    if topic is not None and topic.error is None:
        return len(topic.partitions)
    futures = admin.create_topics([NewTopic(address.topic, address.partitions, 1,
                                            config={"min.insync.replicas": "1"})])
    try:
        futures[address.topic].result(timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    return address.partitions


Offsets = dict[int, int]  # partition -> the offset after the last record produced there


class LogProducer:
    """Produces records and reports each send's outcome on the caller's event loop."""

    def __init__(self, address: LogAddress, **config: Any):
        self.address = address
        self._producer = Producer({
            "bootstrap.servers": address.bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "compression.type": "lz4",
            "queue.buffering.max.kbytes": 262_144,
            "message.timeout.ms": 30_000,
            **config,
        })
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="metered-log-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def send(self, records: list[tuple[bytes, bytes]],
             done: Callable[[Offsets | BaseException], None]) -> None:
        """Produce `records`; `done` gets the offsets once all are acknowledged, or the first
        error (some may then be in the log: the client's retry with the same identifiers
        counts them once). Called on the poller thread. Raises BufferError when the local
        queue is full (the caller answers 503: back off)."""
        pending = len(records)
        offsets: Offsets = {}
        lock = threading.Lock()
        failed: list[BaseException] = []

        def delivered(err: KafkaError | None, msg: Any) -> None:
            nonlocal pending
            with lock:
                pending -= 1
                if err is not None:
                    failed.append(KafkaException(err))
                else:
                    part = msg.partition()
                    offsets[part] = max(offsets.get(part, 0), msg.offset() + 1)
                last = pending == 0
            if last:
                done(failed[0] if failed else offsets)

        if not records:
            done(offsets)
            return
        for key, value in records:
            self._producer.produce(self.address.topic, value, key, on_delivery=delivered)

    async def send_async(self, records: list[tuple[bytes, bytes]]) -> Offsets:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Offsets] = loop.create_future()

        def done(result: Offsets | BaseException) -> None:
            loop.call_soon_threadsafe(_settle, future, result)

        self.send(records, done)
        return await future

    def check(self, timeout: float = 2.0) -> str:
        """"ok" if a broker answers with the topic's metadata, else what went wrong."""
        try:
            meta = self._producer.list_topics(self.address.topic, timeout=timeout)
        except KafkaException as exc:
            return f"failed: {exc}"
        topic = meta.topics.get(self.address.topic)
        if topic is None or topic.error is not None:
            return f"failed: topic {self.address.topic}: {topic.error if topic else 'missing'}"
        return "ok"

    def flush(self, timeout: float = 30.0) -> int:
        return self._producer.flush(timeout)

    def close(self) -> None:
        self.flush()
        self._stop.set()
        self._poller.join(timeout=5)

    def high_watermarks(self, timeout: float = 5.0) -> Offsets:
        """The end of every partition of the topic, as the broker knows it now."""
        from confluent_kafka import Consumer, TopicPartition  # noqa: PLC0415

        consumer = Consumer({"bootstrap.servers": self.address.bootstrap,
                             "group.id": "metered-watermarks", "enable.auto.commit": False})
        try:
            meta = consumer.list_topics(self.address.topic, timeout=timeout)
            ends = {}
            for part in meta.topics[self.address.topic].partitions:
                _, high = consumer.get_watermark_offsets(
                    TopicPartition(self.address.topic, part), timeout=timeout)
                ends[part] = high
            return ends
        finally:
            consumer.close()


def _settle(future: asyncio.Future[Offsets], result: Offsets | BaseException) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
