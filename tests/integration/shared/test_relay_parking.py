"""The relay never stalls: a row the broker refuses for good is parked with its error and the rows behind it go
on, in order (real Kafka, whose contract topics take records of at most ~1 MiB, and real PostgreSQL)."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import MetaData, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from harness.infra import Infra
from shared import outbox, topics
from shared.db import create_engine, messaging_tables, outbox_parked_table
from shared.kafka_security import KafkaAccess
from shared.outbox import OutgoingRecord
from shared.relay import OutboxRelay
from tests.support.kafka import KafkaDriver
from tests.support.wait import eventually

TOO_LARGE = 1536 * 1024  # above the broker's default max.message.bytes (1 MiB), below the producer's request limit


@pytest.fixture
async def schema(migrated: Infra) -> AsyncIterator[tuple[AsyncEngine, str, Table, Table]]:
    """A schema of its own with the live outbox and outbox_parked definitions."""
    name = f"parking_{uuid.uuid4().hex[:8]}"
    engine = create_engine(migrated.database_url, pool_size=2)
    metadata = MetaData(schema=name)
    _, table = messaging_tables(metadata)
    parked = outbox_parked_table(metadata)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        await conn.run_sync(metadata.create_all)
    yield engine, name, table, parked
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    await engine.dispose()


def a_record(key: str, n: int, *, topic: str = topics.REQUESTS_EVENTS, pad: int = 0,
             headers: tuple[tuple[str, str], ...] = ()) -> OutgoingRecord:
    value = json.dumps({"n": n, "pad": "x" * pad}).encode()  # JSON objects: what the end-of-run audits read
    return OutgoingRecord(topic, key.encode(), value, headers)


async def test_rows_the_broker_refuses_for_good_are_parked_and_the_rows_behind_them_are_published_in_order(
    migrated: Infra, kafka: KafkaDriver, schema: tuple[AsyncEngine, str, Table, Table]
) -> None:
    engine, name, table, parked = schema
    key = f"K-{uuid.uuid4().hex[:8]}"  # one key: one partition, where order matters
    missing_topic = f"postloan.missing-{uuid.uuid4().hex[:8]}"
    records = [
        a_record(key, 1),
        a_record(key, 0, pad=TOO_LARGE),  # too large for the topic: the broker refuses its batch
        a_record(key, 2),
        a_record(key, 0, topic=missing_topic),  # no such topic (auto-creation is off)
        a_record(key, 3),
        a_record(key, 0, topic="postloan/not a topic"),  # a name no topic can have
        a_record(key, 0, headers=((1, 2),)),  # type: ignore[arg-type]  # headers that are not text
        a_record(key, 4),
    ]
    async with engine.begin() as conn:
        await outbox.add(conn, table, records)
    # As the admin: the broker tells only a principal that may describe any topic that one is missing; a service's
    # own principal hears "not authorized" for a topic outside its ACLs, existing or not.
    relay = OutboxRelay(engine=engine, table=table, schema=name, kafka=migrated.kafka_as(),
                        poll_interval=0.2, parked=parked)
    async with kafka.watch(topics.REQUESTS_EVENTS) as watch:
        task = asyncio.create_task(relay.run())
        try:
            published = await watch.wait_for(lambda s: s.key == key.encode(), count=4, timeout=60)
            assert [s.event["n"] for s in published] == [1, 2, 3, 4]
            await eventually(lambda: _settled(engine, table), timeout=30, what="every row sent or parked")
            # Put back by hand while its topic is still missing: parked again, and the row behind it goes.
            async with engine.begin() as conn:
                await conn.execute(text(f'INSERT INTO "{name}".outbox (id, topic, key, value) '
                                        f'SELECT id, topic, key, value FROM "{name}".outbox_parked WHERE topic = :t'),
                                   {"t": missing_topic})
                await outbox.add(conn, table, [a_record(key, 5)])
            await watch.wait_for(lambda s: s.key == key.encode() and s.event["n"] == 5, timeout=30)
            await eventually(lambda: _settled(engine, table), timeout=30, what="every row sent or parked")
            await watch.caught_up()  # the positive marker behind "nothing else was published"
        finally:
            relay.stop()
            await asyncio.gather(task, return_exceptions=True)
    assert sorted(s.event["n"] for s in watch.matching(lambda s: s.key == key.encode())) == [1, 2, 3, 4, 5]
    async with engine.connect() as conn:
        rows = (await conn.execute(select(parked).order_by(parked.c.id))).all()
        left = await conn.scalar(select(func.count()).select_from(table))
    assert [(r.topic, r.error.split(":")[0]) for r in rows] == [
        (topics.REQUESTS_EVENTS, "too_large"), (missing_topic, "unknown_topic"),
        ("postloan/not a topic", "unknown_topic"), (topics.REQUESTS_EVENTS, "serialization"),
    ]
    assert "MessageSizeTooLarge" in rows[0].error and "no such topic" in rows[1].error
    assert "not a valid topic name" in rows[2].error
    assert len(rows[0].value) > TOO_LARGE and rows[0].key == key.encode()  # parked whole, for inspection
    assert all(len(r.error) <= outbox.ERROR_CHARS for r in rows)
    assert left == 5 and relay.parked == 5  # moved out of the outbox, not left to be retried


async def test_a_parked_record_does_not_hold_back_the_other_keys_of_its_round(
    migrated: Infra, kafka: KafkaDriver, schema: tuple[AsyncEngine, str, Table, Table]
) -> None:
    engine, name, table, parked = schema
    keys = [f"K-{uuid.uuid4().hex[:8]}" for _ in range(300)]
    bad = f"K-{uuid.uuid4().hex[:8]}"
    records = [a_record(k, i) for i, k in enumerate(keys[:150])] + [a_record(bad, 0, pad=TOO_LARGE)]
    records += [a_record(k, i) for i, k in enumerate(keys[150:], start=150)]
    async with engine.begin() as conn:
        await outbox.add(conn, table, records)
    relay = OutboxRelay(engine=engine, table=table, schema=name, kafka=migrated.kafka_as(),
                        poll_interval=0.2, parked=parked)
    wanted = {k.encode() for k in keys}
    async with kafka.watch(topics.REQUESTS_EVENTS) as watch:
        task = asyncio.create_task(relay.run())
        try:
            await watch.wait_for(lambda s: s.key in wanted, count=len(keys), timeout=60)
            await eventually(lambda: _settled(engine, table), timeout=30, what="every row sent or parked")
        finally:
            relay.stop()
            await asyncio.gather(task, return_exceptions=True)
    assert {s.key for s in watch.matching(lambda s: s.key in wanted)} == wanted
    async with engine.connect() as conn:
        assert (await conn.scalar(select(parked.c.topic).where(parked.c.key == bad.encode()))) == topics.REQUESTS_EVENTS


async def test_a_broker_out_of_reach_is_waited_out_and_nothing_is_parked(
    migrated: Infra, schema: tuple[AsyncEngine, str, Table, Table]
) -> None:
    engine, name, table, parked = schema
    async with engine.begin() as conn:
        await outbox.add(conn, table, [a_record("K-1", 1), a_record("K-1", 0, topic="postloan.no-such-topic")])
    relay = OutboxRelay(engine=engine, table=table, schema=name, kafka=KafkaAccess("127.0.0.1:9"), poll_interval=0.2,
                        parked=parked)  # nothing listens there: no metadata can say a topic is missing
    task = asyncio.create_task(relay.run())
    try:
        await eventually(lambda: _interrupted(relay, 3), timeout=60, what="three failed attempts to reach the broker")
    finally:
        relay.stop()
        await asyncio.gather(task, return_exceptions=True)
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(parked)) == 0
        assert await conn.scalar(select(func.count()).select_from(table).where(table.c.sent_at.is_(None))) == 2
    assert relay.parked == 0


async def _interrupted(relay: OutboxRelay, at_least: int) -> bool:
    return relay.interruptions >= at_least


async def _settled(engine: AsyncEngine, table: Table) -> bool:
    async with engine.connect() as conn:
        return (await conn.scalar(select(func.count()).select_from(table).where(table.c.sent_at.is_(None)))) == 0
