"""The relay's records, put into produce batches here instead of one `producer.send` each.

`AIOKafkaProducer.send` costs a coroutine, a partitioner call (murmur2 in Python), a metadata check and a future
per record: most of the relay's time, and the relay shares the service's event loop. Here each record is appended
to an open batch of its partition (aiokafka's compiled batch builder), a key's partition is worked out once (a
request's events share its key), and a full batch goes with `send_batch`: one future per batch, not per record.

Records are placed by the producer's own default partitioner (murmur2 of the key over the topic's partitions),
so a key lands where `send` would put it, and the order of a partition's records is the order they were added.
A record too large for a batch of its own goes through `send`, which checks its size before it leaves.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner, murmur2

ALONE_BYTES = 64 * 1024  # a record at least this large goes alone through `send` (its size is checked there)


@lru_cache(maxsize=16_384)
def _key_hash(key: bytes) -> int:
    return int(murmur2(key)) & 0x7FFFFFFF  # as the default partitioner (and Java's) work it out


def partition_of(key: bytes | None, partitions: Sequence[int]) -> int:
    """The partition the default partitioner gives `key` among the topic's `partitions` (sorted); a record without
    a key goes to any of them, as with `send`."""
    if key is None:
        return int(DefaultPartitioner()(None, list(partitions), list(partitions)))
    return partitions[_key_hash(key) % len(partitions)]


@dataclass(slots=True)
class Batch:
    """Records of one partition sent together: one outcome for all of them (`future`, once sent), or the failure
    that stopped it from being sent (`failure`)."""

    builder: Any  # aiokafka's BatchBuilder
    future: "asyncio.Future[Any] | None" = None
    failure: BaseException | None = None


@dataclass(slots=True)
class Alone:
    """One record sent with `send`: its delivery, or what `send` raised before it left."""

    future: "asyncio.Future[Any] | None" = None
    failure: BaseException | None = None


@dataclass
class Pipeline:
    """A round's records on their way into produce batches. `add` returns the record's `Batch` (or `Alone`), whose
    outcome is known once `close` has sent what is still open. After a failure nothing more is sent: the open
    batches and every later record carry that failure."""

    producer: AIOKafkaProducer
    _open: dict[tuple[str, int], Batch] = field(default_factory=dict)
    _partitions: dict[str, list[int]] = field(default_factory=dict)
    failure: BaseException | None = None

    async def add(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> Batch | Alone:
        """Puts a record on its way. Raises only what `send` raised for a record too large for a batch (its own
        refusal, or a failure for now: the caller decides, and calls `stop` for a failure)."""
        if self.failure is not None:
            return Alone(failure=self.failure)
        try:
            partition = partition_of(key, await self._partitions_of(topic))
            if len(value) + len(key or b"") < ALONE_BYTES:
                return await self._append(topic, partition, key, value, headers)
            await self._send_open(topic, partition)  # what is before it in its partition goes first
        except Exception as exc:
            self.stop(exc)
            return Alone(failure=exc)
        return Alone(future=await self.producer.send(topic, value, key=key, headers=headers, partition=partition))

    async def _append(self, topic: str, partition: int, key: bytes | None, value: bytes,
                      headers: list[tuple[str, bytes]]) -> Batch:
        batch = self._open.get((topic, partition))
        if batch is None or batch.builder.append(timestamp=None, key=key, value=value, headers=headers) is None:
            if batch is not None:  # full: it goes, and a new one takes the record
                await self._send_open(topic, partition)
            batch = self._open[topic, partition] = Batch(self.producer.create_batch())
            batch.builder.append(timestamp=None, key=key, value=value, headers=headers)  # an empty batch takes any
        return batch

    def stop(self, exc: BaseException) -> None:
        """Nothing more is sent this round: the open batches, and every record added after, carry `exc`."""
        self.failure = exc
        for batch in self._open.values():
            batch.failure = exc
        self._open.clear()

    async def close(self) -> None:
        """Sends every open batch (unless a failure stopped the round: then they carry it)."""
        for topic, partition in list(self._open):
            if self.failure is not None:
                break
            try:
                await self._send_open(topic, partition)
            except Exception as exc:
                self.stop(exc)

    async def _send_open(self, topic: str, partition: int) -> None:
        batch = self._open.pop((topic, partition), None)
        if batch is not None:
            try:
                batch.future = await self.producer.send_batch(batch.builder, topic, partition=partition)
            except Exception as exc:
                batch.failure = exc
                raise

    async def _partitions_of(self, topic: str) -> list[int]:
        """The topic's partitions, looked up once a round (the producer's metadata, refreshed as it refreshes)."""
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = sorted(await self.producer.partitions_for(topic))
        return partitions
