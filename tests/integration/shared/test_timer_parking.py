"""A timer that keeps failing is retried with back-off, then parked; the other due timers fire in the same rounds
(real PostgreSQL; the rounds are driven one by one on a fixed clock)."""

import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import MetaData, Table, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from harness.infra import Infra
from shared.clock import FixedClock
from shared.db import create_engine, messaging_tables
from shared.messaging import MessageContext, Tables
from shared.timers import TimerRunner, parked_count, schedule, timer_table
from shared.unit_of_work import UnitOfWork

T0 = datetime(2020, 2, 3, 1, 0, tzinfo=UTC)


@pytest.fixture
async def schema(migrated: Infra) -> AsyncIterator[tuple[AsyncEngine, Tables, Table]]:
    name = f"timers_{uuid.uuid4().hex[:8]}"
    engine = create_engine(migrated.database_url, pool_size=2)
    metadata = MetaData(schema=name)
    inbox, outbox = messaging_tables(metadata)
    timers = timer_table(metadata)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{name}"'))
        await conn.run_sync(metadata.create_all)
    yield engine, Tables(inbox=inbox, outbox=outbox, schema=name), timers
    async with engine.begin() as conn:
        await conn.execute(text(f'DROP SCHEMA "{name}" CASCADE'))
    await engine.dispose()


class Handlers:
    """Timer handlers that record what fired; `broken` raises, as a handler with a bug would."""

    def __init__(self) -> None:
        self.fired: list[str] = []
        self.transient = False

    async def good(self, ctx: MessageContext, key: str, payload: Mapping[str, Any]) -> None:
        if self.transient:
            raise ConnectionResetError("database connection lost")
        self.fired.append(key)

    async def broken(self, ctx: MessageContext, key: str, payload: Mapping[str, Any]) -> None:
        raise ValueError(f"cannot handle {key}")


async def test_a_failing_timer_is_retried_with_back_off_then_parked_while_the_others_fire(
    schema: tuple[AsyncEngine, Tables, Table]
) -> None:
    engine, tables, timers = schema
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    clock, handlers = FixedClock(T0), Handlers()
    runner = TimerRunner(service="tests", sessions=sessions, table=timers, tables=tables, clock=clock,
                         handlers={"good": handlers.good, "broken": handlers.broken}, max_attempts=3, retry_base_s=10)
    async with sessions.begin() as session:
        await schedule(UnitOfWork(session), timers, "broken", "B", T0)
    for attempt, wait in enumerate((10, 20), start=1):
        await _schedule(sessions, timers, f"G{attempt}", clock.now())
        await runner.fire_due()
        broken = await _timer(engine, timers, "B")
        assert handlers.fired[-1] == f"G{attempt}"  # fired in the round where B failed
        assert (broken.attempts, broken.parked_at) == (attempt, None)
        assert broken.due_at == clock.now() + timedelta(seconds=wait)  # back-off: 10 s, then doubled
        assert broken.last_error == "ValueError: cannot handle B"
        # Not due again before its back-off: a round that fires another timer leaves it alone.
        await _schedule(sessions, timers, f"G{attempt}-early", clock.now())
        await runner.fire_due()
        assert handlers.fired[-1] == f"G{attempt}-early" and (await _timer(engine, timers, "B")).attempts == attempt
        clock.advance(timedelta(seconds=wait))

    await _schedule(sessions, timers, "G3", clock.now())
    await runner.fire_due()  # the third failure parks it
    broken = await _timer(engine, timers, "B")
    assert handlers.fired[-1] == "G3"
    assert broken.attempts == 3 and broken.parked_at == clock.now()
    async with engine.connect() as conn:
        assert await parked_count(conn, timers) == 1

    clock.advance(timedelta(days=1))  # long past any back-off: a parked timer is never claimed again
    await _schedule(sessions, timers, "G4", clock.now())
    await runner.fire_due()
    assert handlers.fired[-1] == "G4" and (await _timer(engine, timers, "B")).attempts == 3
    assert runner.failed == 3 and runner.parked == 1 and runner.fired == 6


async def test_a_transient_failure_ends_the_round_and_the_timers_fire_later(
    schema: tuple[AsyncEngine, Tables, Table]
) -> None:
    engine, tables, timers = schema
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    clock, handlers = FixedClock(T0), Handlers()
    runner = TimerRunner(service="tests", sessions=sessions, table=timers, tables=tables, clock=clock,
                         handlers={"good": handlers.good}, max_attempts=1)
    await _schedule(sessions, timers, "G1", T0)
    handlers.transient = True
    with pytest.raises(ConnectionResetError):
        await runner.fire_due()
    survivor = await _timer(engine, timers, "G1")
    assert (survivor.attempts, survivor.parked_at) == (0, None)  # not counted: a transient failure is no attempt
    handlers.transient = False
    await runner.fire_due()
    assert handlers.fired == ["G1"] and await _timer(engine, timers, "G1") is None


async def _schedule(sessions: async_sessionmaker[Any], timers: Table, key: str, due: datetime) -> None:
    async with sessions.begin() as session:
        await schedule(UnitOfWork(session), timers, "good", key, due)


async def _timer(engine: AsyncEngine, timers: Table, key: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(timers).where(timers.c.key == key))).one_or_none()
