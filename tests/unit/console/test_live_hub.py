"""The in-process hub of live changes: bounded subscriptions that coalesce, and refresh-all after a reconnect."""

import asyncio

from services.console.live import Area, Hub, area_of


async def test_a_slow_subscriber_gets_each_changed_area_once_however_many_changes_it_missed() -> None:
    hub = Hub()
    with hub.subscribe() as changes:
        for _ in range(10_000):
            hub.publish(Area.REQUESTS)
            hub.publish(Area.PAPER, Area.REQUESTS)
        assert await changes.next() == [Area.PAPER, Area.REQUESTS]
        hub.publish(Area.POLICY)
        assert await changes.next() == [Area.POLICY]


async def test_every_subscriber_hears_a_change() -> None:
    hub = Hub()
    with hub.subscribe() as first, hub.subscribe() as second:
        hub.publish(Area.APPOINTMENTS)
        assert await first.next() == await second.next() == [Area.APPOINTMENTS]


async def test_after_a_reconnect_every_subscriber_refreshes_every_area() -> None:
    hub = Hub()
    with hub.subscribe() as changes:
        hub.publish_all()
        assert await changes.next() == sorted(Area)


async def test_a_subscriber_waits_until_something_changes() -> None:
    hub = Hub()
    with hub.subscribe() as changes:
        waiting = asyncio.create_task(changes.next())
        await asyncio.sleep(0)
        assert not waiting.done()
        hub.publish(Area.DEAD_LETTERS)
        assert await asyncio.wait_for(waiting, 1) == [Area.DEAD_LETTERS]


def test_a_closed_subscription_is_forgotten_by_the_hub() -> None:
    hub = Hub()
    with hub.subscribe():
        assert hub.subscribers == 1
    assert hub.subscribers == 0


def test_only_known_areas_are_acted_on() -> None:
    assert area_of("paper") is Area.PAPER
    assert area_of("'; DROP TABLE x; --") is None
