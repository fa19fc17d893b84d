"""Dead letters per topic: a worker counting, every few seconds, what each `<topic>.dlq` holds (end minus
beginning offsets, summed over partitions) into `console.dead_letters`, announcing `dead_letters` when a count
changes. It reads offsets only, as the console's own principal and without a consumer group: no record is read."""

import asyncio
from collections.abc import Mapping
from datetime import datetime

from aiokafka import AIOKafkaConsumer
from sqlalchemy.ext.asyncio import AsyncEngine

from services.console.live import Area, notify, pause
from services.console.merge import merge
from services.console.readmodel import DeadLetterCount
from shared import topics
from shared.clock import Clock
from shared.kafka_admin import partitions_of
from shared.kafka_security import KafkaAccess
from shared.logging import Logger
from shared.metrics import ServiceMetrics

log = Logger("postloan.console.deadletters")
DLQ_TOPICS = tuple(topics.dlq(t) for t in topics.ALL)


def changed(counts: Mapping[str, int], known: Mapping[str, int]) -> dict[str, int]:
    """The counts that differ from what is stored (a topic never seen counts as changed)."""
    return {topic: n for topic, n in counts.items() if known.get(topic) != n}


class DeadLetterCounter:
    """A runtime worker: counts the dead-letter topics every `interval_s` seconds."""

    def __init__(self, kafka: KafkaAccess, engine: AsyncEngine, clock: Clock, *, interval_s: float = 5.0,
                 metrics: ServiceMetrics | None = None) -> None:
        self._metrics = metrics
        self._kafka = kafka
        self._engine = engine
        self._clock = clock
        self._interval_s = interval_s
        self._stop = asyncio.Event()
        self._known: dict[str, int] | None = None
        self.rounds = 0  # completed counting rounds (tests wait on it, not on sleeps)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(**self._kafka.client_kwargs(), group_id=None, enable_auto_commit=False)
        started = False
        while not self._stop.is_set():
            try:
                if not started:
                    await consumer.start()
                    started = True
                await self._round(consumer)
            except Exception as exc:  # broker or database away: counted again next round, never fatal
                log.warning("dead_letter_count_failed", error=repr(exc)[:300])
            await pause(self._stop, self._interval_s)
        if started:
            await consumer.stop()

    async def _round(self, consumer: AIOKafkaConsumer) -> None:
        counts = await count(consumer, DLQ_TOPICS)
        if self._metrics is not None:
            for topic, n in counts.items():
                self._metrics.dead_letter_topic_records.labels(topic).set(n)
        if self._known is None:
            self._known = await self._stored()
        if fresh := changed(counts, self._known):
            await self._store(fresh, self._clock.now())
            self._known.update(fresh)
            log.info("dead_letters_counted", changed=fresh)
        self.rounds += 1

    async def _stored(self) -> dict[str, int]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(DeadLetterCount.select())).all()
        return {topic: n for topic, n, _at in rows}

    async def _store(self, counts: Mapping[str, int], now: datetime) -> None:
        async with self._engine.begin() as conn:
            for topic, n in counts.items():
                await conn.execute(merge(DeadLetterCount, {"topic": topic, "count": n, "updated_at": now}))
            await notify(conn, Area.DEAD_LETTERS)

    def stop(self) -> None:
        self._stop.set()


async def count(consumer: AIOKafkaConsumer, names: tuple[str, ...]) -> dict[str, int]:
    """Records each topic holds now (end minus beginning offsets over its partitions); a topic the broker does not
    show is left out."""
    every = await partitions_of(consumer, names)
    if not every:
        return {}
    partitions = {name: [tp for tp in every if tp.topic == name] for name in names}
    first, end = await consumer.beginning_offsets(every), await consumer.end_offsets(every)
    return {name: sum(end[tp] - first[tp] for tp in tps) for name, tps in partitions.items() if tps}
