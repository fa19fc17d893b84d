"""Drives services through the Kafka contract the way other systems would (qserv-kafka's KafkaTestManager).

Publishes CloudEvents with a plain producer, each topic as its writer (shared/principals.py) unless a test names
another principal; reads output topics as the admin with a plain consumer from offsets taken before the action,
polling with a timeout rather than sleeping.
"""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from harness.infra import Infra
from shared import principals
from shared.contracts import Contract
from shared.envelope import CloudEvent, new_event
from shared.kafka_admin import partitions_of
from shared.kafka_security import KafkaAccess
from shared.outbox import OutgoingRecord, kafka_headers


@dataclass(frozen=True)
class Seen:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: dict[str, str]
    value: bytes
    timestamp_ms: int = 0  # the record's timestamp (CreateTime: when the producer sent it)

    @classmethod
    def of(cls, r: Any) -> "Seen":
        """A consumed record, its header values made text whatever they hold."""
        return cls(r.topic, r.partition, r.offset, r.key,
                   {k: (v or b"").decode("utf-8", "replace") for k, v in r.headers}, r.value or b"", r.timestamp)

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.value)  # type: ignore[no-any-return]

    @property
    def type(self) -> str | None:
        try:
            return self.event.get("type")
        except (ValueError, AttributeError, RecursionError):  # not a JSON object (a dead letter may be anything)
            return None

    @property
    def id(self) -> str | None:
        """The CloudEvent id (consumers de-duplicate on it)."""
        try:
            return self.event.get("id")
        except (ValueError, AttributeError, RecursionError):
            return None

    @property
    def data(self) -> dict[str, Any]:
        return self.event["data"]  # type: ignore[no-any-return]


# A dead letter may carry a record of the broker's maximum size plus headers: read records of any size we allow.
FETCH_BYTES = 4 * 1024 * 1024


class Watch:
    """Everything written to some topics after it was opened."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self.seen: list[Seen] = []
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            batch = await self._consumer.getmany(timeout_ms=100)
            for records in batch.values():
                self.seen.extend(map(Seen.of, records))

    async def wait_for(self, match: Callable[[Seen], bool], count: int = 1, timeout: float = 20.0) -> list[Seen]:
        """The first `count` records that `match`; fails after `timeout` seconds with what was seen."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = [s for s in self.seen if _safe(match, s)]
            if len(found) >= count:
                return found[:count]
            if self._task.done():  # the reader died: say why instead of waiting out the timeout
                raise AssertionError(f"the watch stopped reading: {self._task.exception()!r}")
            if loop.time() > deadline:
                summary = [(s.topic, s.type) for s in self.seen][-20:]
                raise AssertionError(f"expected {count} matching records, got {len(found)}; last seen: {summary}")
            await asyncio.sleep(0.05)

    async def caught_up(self, timeout: float = 20.0) -> None:
        """Returns once every record written to the watched partitions before this call has been seen: the
        positive marker behind a negative check ("nothing else arrived") instead of a sleep."""
        parts = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(parts)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while await _behind(self._consumer, ends):
            if loop.time() > deadline:
                raise AssertionError(f"the watch did not reach the end offsets {ends} within {timeout} s")
            await asyncio.sleep(0.05)
        await asyncio.sleep(0)  # let the reader append what it fetched last

    def matching(self, match: Callable[[Seen], bool]) -> list[Seen]:
        return [s for s in self.seen if _safe(match, s)]

    async def close(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        await self._consumer.stop()


def _safe(match: Callable[[Seen], bool], seen: Seen) -> bool:
    try:
        return match(seen)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return False


def source_of(topic: str) -> str:
    """The CloudEvent source a test writes `topic` with: its writer's, as a test tool."""
    return f"{principals.writer_of(topic).source}/tests"


class KafkaDriver:
    def __init__(self, infra: Infra) -> None:
        self.infra = infra
        self._producers: dict[str, AIOKafkaProducer] = {}

    async def start(self) -> None:
        return None  # producers start on first use, one per principal

    async def stop(self) -> None:
        for producer in self._producers.values():
            await producer.stop()
        self._producers.clear()

    async def producer(self, principal: str) -> AIOKafkaProducer:
        if principal not in self._producers:
            producer = AIOKafkaProducer(**self.infra.kafka_as(principal).client_kwargs(), acks="all",
                                        enable_idempotence=True)
            await producer.start()
            self._producers[principal] = producer
        return self._producers[principal]

    async def publish(self, topic: str, data: Contract, *, subject: str, event_id: str | None = None,
                      source: str | None = None, principal: str | None = None) -> CloudEvent[Any]:
        """`data` on `topic` as `principal` (default: the topic's writer) with `source` (default: the writer's)."""
        event = new_event(data, source=source or source_of(topic), subject=subject, time=datetime.now(UTC),
                          event_id=event_id)
        await self.publish_event(topic, event, principal=principal)
        return event

    async def publish_event(self, topic: str, event: CloudEvent[Any], *, principal: str | None = None) -> None:
        record = OutgoingRecord.of_event(topic, event)
        producer = await self.producer(principal or principals.writer_of(topic).name)
        await producer.send_and_wait(topic, record.value, key=record.key, headers=kafka_headers(record.headers))

    async def publish_raw(self, topic: str, value: bytes, *, key: bytes | None,
                          headers: list[tuple[str, bytes]] | None = None, principal: str | None = None) -> None:
        producer = await self.producer(principal or principals.writer_of(topic).name)
        await producer.send_and_wait(topic, value, key=key, headers=headers or [])

    @contextlib.asynccontextmanager
    async def watch(self, *topics: str) -> AsyncIterator[Watch]:
        """Records everything written to `topics` from now until the block ends."""
        consumer = AIOKafkaConsumer(**self.infra.kafka_as().client_kwargs(), enable_auto_commit=False,
                                    max_partition_fetch_bytes=FETCH_BYTES)
        await consumer.start()
        parts = await partitions_of(consumer, topics)
        assert parts, f"unknown topics {topics}"
        ends = await consumer.end_offsets(parts)
        consumer.assign(parts)
        for tp, offset in ends.items():
            consumer.seek(tp, offset)
        watch = Watch(consumer)
        try:
            yield watch
        finally:
            await watch.close()


async def read_all(access: KafkaAccess, names: tuple[str, ...]) -> list[Seen]:
    """Every record on `names` from the beginning to the end offsets as of the call (no consumer group)."""
    consumer = AIOKafkaConsumer(**access.client_kwargs(), enable_auto_commit=False,
                                max_partition_fetch_bytes=FETCH_BYTES)
    await consumer.start()
    try:
        parts = await partitions_of(consumer, names)
        ends = await consumer.end_offsets(parts)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        seen: list[Seen] = []
        while await _behind(consumer, ends):
            for tp, records in (await consumer.getmany(timeout_ms=500, max_records=5000)).items():
                seen.extend(Seen.of(r) for r in records if r.offset < ends[tp])
        return seen
    finally:
        await consumer.stop()


async def _behind(consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> bool:
    """True while the consumer has not yet read up to `ends` on some partition."""
    for tp, end in ends.items():
        if await consumer.position(tp) < end:
            return True
    return False
