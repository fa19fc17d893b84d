"""The unit of work against the real PostgreSQL: cached reads, buffered writes, autoflush, conflicts; and the batch
consumer built on it, redoing a batch message by message when a concurrent writer took a unique key meanwhile."""

import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from harness.builders import ACCOUNT_DAY, a_debit_day_change, a_loan
from harness.infra import Infra
from shared import topics
from shared.clock import FixedClock
from shared.contracts import requests as R
from shared.db import command_table, create_engine, messaging_tables
from shared.envelope import CloudEvent, encode, new_event
from shared.messaging import BatchConsumer, MessageContext, Tables
from shared.unit_of_work import UniqueConflict, UnitOfWork
from tests.support.kafka import source_of


@dataclass
class Schema:
    engine: AsyncEngine
    name: str
    things: Table
    tables: Tables


@pytest.fixture
async def schema(infra: Infra) -> AsyncIterator[Schema]:
    name = f"uow_{uuid.uuid4().hex[:8]}"
    engine = create_engine(infra.database_url, pool_size=3)
    metadata = MetaData(schema=name)
    things = Table("things", metadata, Column("key", Text, primary_key=True), Column("value", Integer, nullable=False),
                   Column("note", Text))
    inbox, outbox = messaging_tables(metadata)
    commands = command_table(metadata)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        await conn.run_sync(metadata.create_all)
    yield Schema(engine, name, things, Tables(inbox=inbox, outbox=outbox, schema=name, commands=commands))
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    await engine.dispose()


async def stored(s: Schema) -> dict[str, tuple[int, str | None]]:
    async with s.engine.connect() as conn:
        rows = (await conn.execute(select(s.things))).all()
    return {r.key: (r.value, r.note) for r in rows}


async def test_buffered_rows_are_written_before_any_statement_that_reads_their_table(schema: Schema) -> None:
    sessions = async_sessionmaker(schema.engine, expire_on_commit=False)
    other = Table("pg_class", MetaData(schema="pg_catalog"), Column("oid", Integer))  # a table the rows are not in
    async with sessions.begin() as session:
        uow = UnitOfWork(session)
        uow.add_all(schema.things, [{"key": "a", "value": 1}, {"key": "b", "value": 2}])
        assert uow.pending == 2
        await uow.execute(select(other.c.oid).limit(1))
        assert uow.pending == 2, "a statement on another table leaves the buffer alone"
        count = await uow.scalar(select(schema.things.c.key).where(schema.things.c.value == 2))
        assert count == "b" and uow.pending == 0, "reading the table flushed it first"
    assert await stored(schema) == {"a": (1, None), "b": (2, None)}


async def test_a_row_inserted_then_changed_in_one_batch_is_written_in_that_order(schema: Schema) -> None:
    sessions = async_sessionmaker(schema.engine, expire_on_commit=False)
    async with sessions.begin() as session:
        await session.execute(schema.things.insert().values(key="old", value=0))
    async with sessions.begin() as session:
        uow = UnitOfWork(session)
        uow.update(schema.things, {"key": "old"}, {"value": 10})
        uow.add(schema.things, {"key": "new", "value": 1})
        uow.update(schema.things, {"key": "new"}, {"value": 2})
        uow.update(schema.things, {"key": "new"}, {"note": "twice"})
        uow.add(schema.things, {"key": "gone", "value": 5})
        uow.delete(schema.things, {"key": "gone"})
        await uow.flush()
    assert await stored(schema) == {"old": (10, None), "new": (2, "twice")}


async def test_a_row_closed_then_a_new_one_opened_under_the_same_unique_key_is_not_a_conflict(schema: Schema) -> None:
    """Writes of a table are applied in the order made: the new open row goes in after the old one was closed,
    as a partial unique index on open rows (the one open request per loan) requires."""
    async with schema.engine.begin() as conn:
        await conn.execute(text(f'CREATE UNIQUE INDEX one_open ON "{schema.name}".things (value) '
                                "WHERE note IS NULL"))
        await conn.execute(schema.things.insert().values(key="first", value=1))
    sessions = async_sessionmaker(schema.engine, expire_on_commit=False)
    async with sessions.begin() as session:
        uow = UnitOfWork(session)
        uow.add(schema.things, {"key": "other", "value": 2})
        uow.update(schema.things, {"key": "first"}, {"note": "closed"})
        uow.add(schema.things, {"key": "second", "value": 1})
        await uow.flush()
    assert await stored(schema) == {"first": (1, "closed"), "other": (2, None), "second": (1, None)}


async def test_reads_are_cached_and_an_absent_key_is_remembered(schema: Schema) -> None:
    sessions = async_sessionmaker(schema.engine, expire_on_commit=False)
    calls: list[list[str]] = []

    async with sessions.begin() as session:
        uow = UnitOfWork(session)

        async def fetch(keys: list[str]) -> Mapping[str, int]:
            calls.append(keys)
            rows = await uow.execute(select(schema.things).where(schema.things.c.key.in_(keys)))
            return {r.key: r.value for r in rows}

        uow.add(schema.things, {"key": "x", "value": 7})
        assert await uow.load("thing", ["x", "y"], fetch) == {"x": 7, "y": None}
        assert await uow.load_one("thing", "y", fetch) is None
        assert await uow.load_one("thing", "x", fetch) == 7
        assert calls == [["x", "y"]], "one fetch for both keys, none after"
        uow.keep("thing", "y", 3)
        assert await uow.load_one("thing", "y", fetch) == 3


@pytest.mark.parametrize("behind", [False, True])
async def test_a_unique_key_taken_meanwhile_fails_the_flush_as_a_conflict(schema: Schema, behind: bool) -> None:
    """Written behind, the conflict surfaces at the unit of work's next statement (here the last flush)."""
    sessions = async_sessionmaker(schema.engine, expire_on_commit=False)
    async with sessions.begin() as session:
        await session.execute(schema.things.insert().values(key="taken", value=1))
    with pytest.raises(UniqueConflict):
        async with sessions.begin() as session:
            uow = UnitOfWork(session)
            uow.add_all(schema.things, [{"key": "free", "value": 1}, {"key": "taken", "value": 2}])
            if behind:
                uow.flush_behind()
                uow.add(schema.things, {"key": "after", "value": 3})
            await uow.flush()
    assert await stored(schema) == {"taken": (1, None)}


async def test_rows_written_behind_keep_their_order_and_every_later_statement_waits_for_them(schema: Schema) -> None:
    """`flush_behind` starts a write and returns; what the unit of work does next (a read of the table, more writes
    of the same rows, the final flush) comes after it, as if it had been written in place."""
    sessions = async_sessionmaker(schema.engine, expire_on_commit=False)
    async with sessions.begin() as session:
        uow = UnitOfWork(session)
        uow.add_all(schema.things, [{"key": f"k{i}", "value": i} for i in range(300)])
        uow.flush_behind()
        assert uow.writing_behind and uow.pending == 0
        uow.flush_behind()  # one write behind at a time: a second call while it runs starts nothing
        uow.update(schema.things, {"key": "k1"}, {"note": "changed after"})
        uow.delete(schema.things, {"key": "k2"})
        uow.add(schema.things, {"key": "late", "value": -1})
        count = await uow.scalar(select(func.count()).select_from(schema.things))
        assert count == 300, "the read waited for the write behind, then flushed the table's buffer"
        assert not uow.writing_behind and uow.pending == 0
        uow.add(schema.things, {"key": "last", "value": -2})
        uow.flush_behind()
        await uow.flush()
    rows = await stored(schema)
    assert len(rows) == 301 and rows["k1"] == (1, "changed after") and "k2" not in rows
    assert rows["late"] == (-1, None) and rows["last"] == (-2, None)


async def test_an_abandoned_write_behind_is_waited_for_and_leaves_its_connection_clean(schema: Schema) -> None:
    sessions = async_sessionmaker(schema.engine, expire_on_commit=False)
    async with sessions.begin() as session:
        uow = UnitOfWork(session)
        uow.add(schema.things, {"key": "again", "value": 4})
        uow.flush_behind()
        await uow.abandon()
        assert not uow.writing_behind
        assert await session.scalar(select(func.count()).select_from(schema.things)) == 1
    assert await stored(schema) == {"again": (4, None)}


@dataclass
class FakeRecord:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


def records_of(commands: Sequence[R.SubmitDebitDayChange]) -> list[FakeRecord]:
    events: list[CloudEvent[Any]] = [new_event(c, source=source_of(topics.REQUESTS_COMMANDS), subject=c.loan_id,
                                               time=ACCOUNT_DAY) for c in commands]
    return [FakeRecord(topics.REQUESTS_COMMANDS, 0, i, c.loan_id.encode(), encode(e))
            for i, (c, e) in enumerate(zip(commands, events, strict=True))]


@pytest.mark.parametrize("write_behind", [0, 1])
async def test_a_batch_whose_key_a_concurrent_writer_took_is_redone_and_each_message_decides_on_what_is_there(
    schema: Schema, write_behind: int
) -> None:
    """The batch reads (prepare), a concurrent writer then commits a row under one of the batch's keys, and the
    batch's flush conflicts: the consumer redoes it message by message; the one message finds the other writer's
    row and decides on it; the others are applied; nothing is dead-lettered. With rows written behind after every
    message, the conflict surfaces at a later message's read instead of the batch's end: the same outcome."""
    loans = [a_loan() for _ in range(3)]
    taken = loans[1].loan_id
    decisions: dict[str, str] = {}

    async def claim(uow: UnitOfWork, loan_id: str) -> str:
        async def fetch(keys: list[str]) -> Mapping[str, int]:
            rows = await uow.execute(select(schema.things).where(schema.things.c.key.in_(keys)))
            return {r.key: r.value for r in rows}

        if await uow.load_one("thing", loan_id, fetch) is not None:
            return "found the other writer's row"
        uow.add(schema.things, {"key": loan_id, "value": 1})
        return "claimed"

    async def prepare(uow: UnitOfWork, messages: Sequence[tuple[str, CloudEvent[Any]]]) -> None:
        ids = [e.data.loan_id for _, e in messages]
        await uow.load("thing", ids, lambda keys: _none(keys))  # the batch's read: nothing there yet
        async with schema.engine.begin() as conn:  # ...and then another copy commits one of the keys
            await conn.execute(schema.things.insert().values(key=taken, value=99))

    async def handle(ctx: MessageContext, cmd: R.SubmitDebitDayChange) -> None:
        decisions[cmd.loan_id] = await claim(ctx.uow, cmd.loan_id)

    consumer = BatchConsumer(service=schema.name, handlers={topics.REQUESTS_COMMANDS: {R.SubmitDebitDayChange: handle}},
                             sessions=async_sessionmaker(schema.engine, expire_on_commit=False), tables=schema.tables,
                             clock=FixedClock(ACCOUNT_DAY), prepare=prepare, write_behind=write_behind)
    await consumer.process(records_of([a_debit_day_change(loan) for loan in loans]))

    assert decisions == {loans[0].loan_id: "claimed", taken: "found the other writer's row",
                         loans[2].loan_id: "claimed"}
    assert await stored(schema) == {loans[0].loan_id: (1, None), taken: (99, None), loans[2].loan_id: (1, None)}
    assert await outbox_topics(schema) == [], "nothing dead-lettered (the handler emits nothing)"


@pytest.mark.parametrize("write_behind", [0, 1])
async def test_a_message_that_conflicts_on_every_try_alone_is_dead_lettered(
    schema: Schema, write_behind: int
) -> None:
    loans = [a_loan() for _ in range(3)]
    async with schema.engine.begin() as conn:
        await conn.execute(schema.things.insert().values(key=loans[1].loan_id, value=99))

    async def handle(ctx: MessageContext, cmd: R.SubmitDebitDayChange) -> None:
        ctx.uow.add(schema.things, {"key": cmd.loan_id, "value": 1})  # blind: never reads what is there

    consumer = BatchConsumer(service=schema.name, handlers={topics.REQUESTS_COMMANDS: {R.SubmitDebitDayChange: handle}},
                             sessions=async_sessionmaker(schema.engine, expire_on_commit=False), tables=schema.tables,
                             clock=FixedClock(ACCOUNT_DAY), write_behind=write_behind)
    await consumer.process(records_of([a_debit_day_change(loan) for loan in loans]))

    assert await stored(schema) == {loans[0].loan_id: (1, None), loans[1].loan_id: (99, None),
                                    loans[2].loan_id: (1, None)}
    assert await outbox_topics(schema) == [topics.dlq(topics.REQUESTS_COMMANDS)]


async def _none(keys: list[str]) -> Mapping[str, int]:
    return {}


async def outbox_topics(s: Schema) -> list[str]:
    async with s.engine.connect() as conn:
        return list((await conn.execute(select(s.tables.outbox.c.topic).order_by(s.tables.outbox.c.id))).scalars())
