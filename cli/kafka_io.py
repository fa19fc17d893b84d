"""Publishing contract messages and following topics, for the CLI and the tests' drivers.

Each topic is written as the principal CONTRACT.md names as its writer (shared/principals.py), with that writer's
CloudEvent source; topics are read as `dashboards` (events), `ops` (dead letters) or else the admin."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared import principals
from shared.contracts import Contract
from shared.envelope import CloudEvent, new_event
from shared.kafka_admin import partitions_of
from shared.kafka_security import KafkaAccess, local_access
from shared.outbox import OutgoingRecord, kafka_headers


def envelope(data: Contract, *, topic: str, subject: str, source: str | None = None, time: datetime | None = None,
             correlationid: str | None = None) -> CloudEvent[Any]:
    """`data` as a CloudEvent for `topic`, from its writer's tool (`<writer's source>/cli`) unless `source` says."""
    source = source or f"{principals.writer_of(topic).source}/cli"
    return new_event(data, source=source, subject=subject, time=time or datetime.now(UTC), correlationid=correlationid)


def reader(bootstrap: str, topics: Iterable[str]) -> KafkaAccess:
    """The least principal that may read all of `topics`."""
    names = set(topics)
    for who in (principals.DASHBOARDS, principals.OPS):
        if names <= set(who.reads):
            return local_access(who.name, bootstrap)
    return local_access(principals.ADMIN, bootstrap)


async def publish(bootstrap: str, messages: Iterable[tuple[str, CloudEvent[Any]]]) -> int:
    """Publishes (topic, envelope) pairs the way a contract producer must: key = subject, acks=all, each topic as
    its writer."""
    by_writer: dict[str, list[tuple[str, CloudEvent[Any]]]] = {}
    for topic, event in messages:
        by_writer.setdefault(principals.writer_of(topic).name, []).append((topic, event))
    for writer, some in by_writer.items():
        await _publish_as(local_access(writer, bootstrap), some)
    return sum(map(len, by_writer.values()))


async def _publish_as(access: KafkaAccess, messages: list[tuple[str, CloudEvent[Any]]]) -> None:
    producer = AIOKafkaProducer(**access.client_kwargs(), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for topic, event in messages:
            record = OutgoingRecord.of_event(topic, event)
            await producer.send(topic, record.value, key=record.key, headers=kafka_headers(record.headers))
        await producer.flush()
    finally:
        await producer.stop()


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    topics = list(topics)
    consumer = AIOKafkaConsumer(**reader(bootstrap, topics).client_kwargs())
    await consumer.start()
    try:
        return await consumer.end_offsets(await partitions_of(consumer, topics))  # type: ignore[no-any-return]
    finally:
        await consumer.stop()


async def follow(bootstrap: str, start: dict[TopicPartition, int] | None, topics: Iterable[str],
                 *, from_beginning: bool = False) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Yields (topic, decoded JSON) from `start` offsets (or the end / beginning) onwards, without a group."""
    topics = list(topics)
    consumer = AIOKafkaConsumer(**reader(bootstrap, topics).client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        if start is None:
            parts = await partitions_of(consumer, topics)
            consumer.assign(parts)
            if from_beginning:
                await consumer.seek_to_beginning(*parts)
            else:
                await consumer.seek_to_end(*parts)
        else:
            consumer.assign(list(start))
            for tp, offset in start.items():
                consumer.seek(tp, offset)
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    try:
                        yield r.topic, json.loads(r.value)
                    except (ValueError, TypeError):
                        yield r.topic, {"type": "<not JSON>", "raw": repr(r.value[:80])}
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
