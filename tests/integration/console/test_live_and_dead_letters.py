"""Live changes reach a subscriber only once committed, survive the listener's connection dropping, and the
dead-letter counts move when a record is dead-lettered, all against the real database and broker."""

from sqlalchemy import text

from services.console.deadletters import DeadLetterCounter
from services.console.live import Area, notify
from services.console.readmodel import DeadLetterCount
from shared import topics
from shared.runtime import ServiceRuntime
from tests.integration.console.conftest import hub_of, listener_of, next_change, row, row_when
from tests.support.kafka import KafkaDriver, read_all
from tests.support.wait import eventually


async def test_a_change_is_heard_only_once_its_transaction_commits(console: ServiceRuntime) -> None:
    assert console.engine is not None
    with hub_of(console).subscribe() as changes:
        async with console.engine.connect() as pending, console.engine.connect() as other:
            await notify(pending, Area.PAPER)  # announced inside a transaction still open
            await notify(other, Area.POLICY)
            await other.commit()  # the marker: committed after the paper announcement was made
            assert await next_change(changes) == [Area.POLICY]  # the uncommitted one was not delivered with it
            await pending.commit()
            assert await next_change(changes) == [Area.PAPER]


async def test_a_rolled_back_change_is_never_heard(console: ServiceRuntime) -> None:
    assert console.engine is not None
    with hub_of(console).subscribe() as changes:
        async with console.engine.connect() as conn:
            await notify(conn, Area.APPOINTMENTS)
            await conn.rollback()
            await notify(conn, Area.POLICY)
            await conn.commit()
        assert await next_change(changes) == [Area.POLICY]


async def test_a_slow_subscriber_gets_each_area_once_however_many_changes_it_missed(console: ServiceRuntime) -> None:
    assert console.engine is not None
    with hub_of(console).subscribe() as changes:
        for area in (Area.REQUESTS, Area.PAPER, Area.REQUESTS, Area.REQUESTS):
            async with console.engine.begin() as conn:
                await notify(conn, area)
        marker = Area.DEAD_LETTERS
        async with console.engine.begin() as conn:
            await notify(conn, marker)  # committed last: when it is heard, the others were heard before it
        seen: list[Area] = []
        while marker not in seen:
            seen += await next_change(changes)
        assert sorted(seen) == sorted({Area.REQUESTS, Area.PAPER, marker})


async def test_after_its_connection_drops_the_listener_reconnects_and_everyone_refreshes_everything(
        console: ServiceRuntime) -> None:
    assert console.engine is not None
    listener = listener_of(console)
    connections = listener.connections
    with hub_of(console).subscribe() as changes:
        async with console.engine.begin() as conn:
            killed = await conn.scalar(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE usename = current_user AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()"))
        assert killed == 1
        assert sorted(await next_change(changes)) == sorted(Area)
        assert listener.connections == connections + 1
        await listener.connected.wait()
        async with console.engine.begin() as conn:
            await notify(conn, Area.POLICY)
        assert await next_change(changes) == [Area.POLICY]  # listening again


async def test_a_dead_lettered_record_moves_its_topic_count(console: ServiceRuntime, kafka: KafkaDriver) -> None:
    [counter] = [w for w in console.workers if isinstance(w, DeadLetterCounter)]
    dlq = topics.dlq(topics.CONFIRMATION_EVENTS)
    rounds = counter.rounds
    await eventually(lambda: _past(counter, rounds + 1), what="two counting rounds")  # the count is current
    stored = await row(console, DeadLetterCount, topic=dlq)
    before = stored.count if stored else 0
    with hub_of(console).subscribe() as changes:
        await kafka.publish_raw(topics.CONFIRMATION_EVENTS, b"{not json", key=b"L-hostile")
        moved = await row_when(console, DeadLetterCount, lambda r: r.count > before, topic=dlq)
        # Every reader of the topic dead-letters the record (another service's consumer may be running too), so
        # the count is checked against the dead-letter topic itself: what is on it, counted independently.
        on_topic = len(await read_all(kafka.infra.kafka_as(), (dlq,)))
        await eventually(lambda: _counted(console, dlq, on_topic), what=f"the count to reach {on_topic}")
        assert on_topic >= moved.count > before
        seen: list[Area] = []
        while Area.DEAD_LETTERS not in seen:
            seen += await next_change(changes)


async def _counted(console: ServiceRuntime, dlq: str, count: int) -> bool:
    stored = await row(console, DeadLetterCount, topic=dlq)
    return stored is not None and stored.count == count


async def _past(counter: DeadLetterCounter, rounds: int) -> bool:
    return counter.rounds > rounds
