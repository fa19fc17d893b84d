"""The relay's produce batches (shared.produce_batches) against the real broker: each record lands on the partition
the producer's own partitioner gives its key, in the order of its rows, whether it went in a batch or alone; a
record the broker refuses inside a batch is parked alone and its batch's other records still go."""

import asyncio
import uuid

from aiokafka.admin import NewTopic
from aiokafka.partitioner import DefaultPartitioner
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.infra import Infra
from shared import outbox, topics
from shared.kafka_admin import admin_client
from shared.produce_batches import ALONE_BYTES
from shared.relay import OutboxRelay
from tests.integration.shared.test_relay_parking import _settled, a_record, schema  # noqa: F401 - the fixture
from tests.support.kafka import KafkaDriver
from tests.support.wait import eventually


async def _run_until(relay: OutboxRelay, engine: AsyncEngine, table: Table, watch_done: "asyncio.Future[object]"
                     ) -> None:
    task = asyncio.create_task(relay.run())
    try:
        await watch_done
        await eventually(lambda: _settled(engine, table), timeout=30, what="every row sent or parked")
    finally:
        relay.stop()
        await asyncio.gather(task, return_exceptions=True)


async def test_records_land_where_the_producers_partitioner_puts_their_keys_in_row_order(
    migrated: Infra, kafka: KafkaDriver, schema: tuple[AsyncEngine, str, Table, Table]  # noqa: F811
) -> None:
    engine, name, table, parked = schema
    keys = [f"K-{uuid.uuid4().hex[:8]}" for _ in range(40)]
    # 400 rows over 40 keys, interleaved; every 37th is too large for a batch and goes alone, between batched ones.
    records = [a_record(keys[n % len(keys)], n, pad=ALONE_BYTES if n % 37 == 5 else 0) for n in range(400)]
    async with engine.begin() as conn:
        await outbox.add(conn, table, records)
    relay = OutboxRelay(engine=engine, table=table, schema=name, kafka=migrated.kafka_as(), poll_interval=0.2,
                        parked=parked, batch_size=150)  # rounds of 150: batches end mid-key too
    wanted = {k.encode() for k in keys}
    async with kafka.watch(topics.REQUESTS_EVENTS) as watch:
        done = asyncio.ensure_future(watch.wait_for(lambda s: s.key in wanted, count=len(records), timeout=60))
        await _run_until(relay, engine, table, done)
    seen = watch.matching(lambda s: s.key in wanted)
    assert sorted(s.event["n"] for s in seen) == list(range(400)) and relay.parked == 0
    partitions = await _partitions(migrated, topics.REQUESTS_EVENTS)
    for key in keys:
        mine = [s for s in seen if s.key == key.encode()]
        assert [s.event["n"] for s in mine] == sorted(s.event["n"] for s in mine), key  # row order kept
        assert {s.partition for s in mine} == {DefaultPartitioner()(key.encode(), partitions, partitions)}, key


async def _partitions(infra: Infra, topic: str) -> list[int]:
    async with admin_client(infra.kafka_as()) as admin:
        (described,) = await admin.describe_topics([topic])
    return sorted(p["partition"] for p in described["partitions"])


async def test_a_record_the_broker_refuses_inside_a_batch_is_parked_alone_and_its_batch_still_goes(
    migrated: Infra, kafka: KafkaDriver, schema: tuple[AsyncEngine, str, Table, Table]  # noqa: F811
) -> None:
    engine, name, table, parked = schema
    small = f"postloan.test-small-{uuid.uuid4().hex[:8]}"  # a topic of its own that takes records of 4 KiB at most
    async with admin_client(migrated.kafka_as()) as admin:
        await admin.create_topics([NewTopic(small, 1, 1, topic_configs={"max.message.bytes": "4096"})])
    key = f"K-{uuid.uuid4().hex[:8]}"
    refused = 3  # 8 KiB: well under ALONE_BYTES, so it is in a batch with the others, and over the topic's limit
    records = [a_record(key, n, topic=small, pad=8192 if n == refused else 10) for n in range(8)]
    async with engine.begin() as conn:
        await outbox.add(conn, table, records)
    relay = OutboxRelay(engine=engine, table=table, schema=name, kafka=migrated.kafka_as(), poll_interval=0.2,
                        parked=parked)
    async with kafka.watch(small) as watch:
        done = asyncio.ensure_future(watch.wait_for(lambda s: s.key == key.encode(), count=7, timeout=60))
        await _run_until(relay, engine, table, done)
    assert [s.event["n"] for s in watch.matching(lambda s: s.key == key.encode())] == [0, 1, 2, 4, 5, 6, 7]
    async with engine.connect() as conn:
        errors = (await conn.execute(select(parked.c.topic, parked.c.error))).all()
    assert len(errors) == 1 and errors[0].topic == small and errors[0].error.startswith("too_large"), errors
