"""The test services themselves: a PostgreSQL transaction and a Kafka round trip (idempotent
producer with acks=all, consumer group with manual commits), as the distributed mode uses them."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def test_postgres_transaction_round_trip(postgres_url: str) -> None:
    table = f"services_check_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url) as conn:
        with conn.transaction():
            conn.execute(f"CREATE TABLE {table} (id text PRIMARY KEY, quantity numeric NOT NULL)")
            conn.execute(f"INSERT INTO {table} VALUES (%s, %s), (%s, %s)",
                         ("a", Decimal("0.000000000001"), "b", Decimal("12345678901234.5")))
            rows = conn.execute(f"SELECT id, quantity FROM {table} ORDER BY id").fetchall()
        assert rows == [("a", Decimal("0.000000000001")), ("b", Decimal("12345678901234.5"))]
        with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
            conn.execute(f"INSERT INTO {table} VALUES ('c', 1)")
            conn.execute(f"INSERT INTO {table} VALUES ('a', 1)")
    try:
        with psycopg.connect(postgres_url) as other:  # committed, and the failed one rolled back
            total = other.execute(f"SELECT count(*), sum(quantity) FROM {table}").fetchone()
            assert total == (2, Decimal("12345678901234.500000000001"))
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP TABLE {table}")


def test_kafka_round_trip(kafka_bootstrap: str) -> None:
    topic = f"services-check-{uuid.uuid4().hex[:12]}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(topic, num_partitions=3,
                                                replication_factor=1)]).values():
        future.result(timeout=30)
    try:
        produce_and_consume(kafka_bootstrap, topic)
    finally:
        for future in admin.delete_topics([topic]).values():
            future.result(timeout=30)


def produce_and_consume(bootstrap: str, topic: str) -> None:
    delivered: list[Message] = []

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        assert err is None, err
        delivered.append(msg)

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                         "acks": "all"})
    sent = {f"cus_{i}".encode(): f"event {i}".encode() for i in range(5)}
    for key, value in sent.items():
        producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
    assert producer.flush(30) == 0
    assert len(delivered) == len(sent)

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"{topic}-group",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        received: dict[bytes, bytes] = {}
        deadline = time.monotonic() + 30
        while len(received) < len(sent) and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            received[msg.key()] = msg.value()
            consumer.commit(message=msg, asynchronous=False)
        assert received == sent
        committed = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        expected = {m.partition(): m.offset() + 1 for m in delivered}  # the last of each partition
        assert {tp.partition: tp.offset for tp in committed if tp.offset >= 0} == expected
    finally:
        consumer.close()
