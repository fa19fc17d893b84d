"""Consumer lag, measured from the broker: for each consumer group, each partition's end offset minus the offset
the group committed there (a partition the group never committed counts from its first offset).

Each service measures its own group. The console also measures every postloan service's group, so the lag of a
service whose copies are all stopped still shows (its own /metrics is gone with it): the way a Kafka lag exporter
works, beside the consumers rather than inside them.
"""

import asyncio
import contextlib
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from shared import principals
from shared.kafka_admin import admin_client, partitions_of
from shared.kafka_security import KafkaAccess
from shared.logging import Logger
from shared.metrics import ServiceMetrics

log = Logger("postloan.lag")

Groups = Mapping[str, Sequence[str]]  # consumer group -> the topics it consumes


def every_service_group() -> dict[str, tuple[str, ...]]:
    """The groups of all postloan services with the topics each consumes (CONTRACT's table, shared.principals)."""
    return {p.group: tuple(t for t in p.reads if t not in principals.DEAD_LETTERS)
            for p in principals.PRINCIPALS if p.name.startswith("postloan-") and p.group is not None}


class LagMonitor:
    """Measures the lag of `groups` every `interval_s` into `metrics` (a worker of the service runtime)."""

    def __init__(self, *, kafka: KafkaAccess, groups: Groups, metrics: ServiceMetrics, interval_s: float) -> None:
        self._kafka = kafka
        self._groups = {g: tuple(ts) for g, ts in groups.items() if ts}
        self._metrics = metrics
        self._interval = interval_s
        self._stopping = asyncio.Event()
        self.rounds = 0  # completed measurements (tests wait on it, not on sleeps)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self._measure_until_stopped()
            except Exception as exc:  # broker away, not authorized yet, ...: measured again after a pause
                log.warning("lag_unmeasured", error=repr(exc)[:300])
            await self._pause()

    async def _measure_until_stopped(self) -> None:
        admin = AIOKafkaAdminClient(**self._kafka.client_kwargs())
        # No group: it only reads offsets and metadata, and must not join (or disturb) the groups it measures.
        consumer = AIOKafkaConsumer(**self._kafka.client_kwargs(), enable_auto_commit=False)
        await admin.start()
        try:
            await consumer.start()
            try:
                while not self._stopping.is_set():
                    self._metrics.set_lag(await self.measure(admin, consumer))
                    self.rounds += 1
                    await self._pause()
            finally:
                await consumer.stop()
        finally:
            await admin.close()

    async def measure(self, admin: AIOKafkaAdminClient,
                      consumer: AIOKafkaConsumer) -> dict[tuple[str, str, int], int]:
        partitions = await partitions_of(consumer, sorted({t for ts in self._groups.values() for t in ts}))
        ends = await consumer.end_offsets(partitions)
        firsts = await consumer.beginning_offsets(partitions)
        lags: dict[tuple[str, str, int], int] = {}
        for group, group_topics in self._groups.items():
            committed = await admin.list_consumer_group_offsets(group)
            for tp in partitions:
                if tp.topic in group_topics:
                    done = committed.get(tp)
                    start = done.offset if done is not None and done.offset >= 0 else firsts[tp]
                    lags[(group, tp.topic, tp.partition)] = max(ends[tp] - start, 0)
        return lags

    async def _pause(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)


async def lag_now(kafka: KafkaAccess, groups: Groups) -> int:
    """One measurement of `groups`, summed, with clients of its own: what tests and scripts wait on."""
    monitor = LagMonitor(kafka=kafka, groups=groups, metrics=ServiceMetrics("lag", "once"), interval_s=1)
    consumer = AIOKafkaConsumer(**kafka.client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        async with admin_client(kafka) as admin:
            return sum((await monitor.measure(admin, consumer)).values())
    finally:
        await consumer.stop()
