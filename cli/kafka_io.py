"""Publishing contract messages and following topics, for the CLI and the tests' drivers."""

import asyncio
import json
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from shared.contracts import Contract
from shared.envelope import CloudEvent, new_event
from shared.outbox import OutgoingRecord, kafka_headers


def envelope(data: Contract, *, subject: str, source: str = "postloan/cli", time: datetime | None = None,
             correlationid: str | None = None) -> CloudEvent[Any]:
    return new_event(data, source=source, subject=subject, time=time or datetime.now(UTC), correlationid=correlationid)


async def publish(bootstrap: str, messages: Iterable[tuple[str, CloudEvent[Any]]]) -> int:
    """Publishes (topic, envelope) pairs the way a contract producer must: key = subject, acks=all."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    count = 0
    try:
        for topic, event in messages:
            record = OutgoingRecord.of_event(topic, event)
            await producer.send(topic, record.value, key=record.key, headers=kafka_headers(record.headers))
            count += 1
        await producer.flush()
    finally:
        await producer.stop()
    return count


async def _partitions(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    cluster = await consumer._client.fetch_all_metadata()
    return [TopicPartition(t, p) for t in topics for p in sorted(cluster.partitions_for_topic(t) or ())]


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return await consumer.end_offsets(await _partitions(consumer, topics))  # type: ignore[no-any-return]
    finally:
        await consumer.stop()


async def follow(bootstrap: str, start: dict[TopicPartition, int] | None, topics: Iterable[str],
                 *, from_beginning: bool = False) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Yields (topic, decoded JSON) from `start` offsets (or the end / beginning) onwards, without a group."""
    topics = list(topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        if start is None:
            parts = await _partitions(consumer, topics)
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
