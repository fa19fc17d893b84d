"""Live changes of the read models: announced by the handlers' transactions (PostgreSQL NOTIFY, delivered only on
commit), heard by one listener per console copy, fanned out in-process to every browser's subscription.

A subscription is bounded by construction: it holds a set of changed areas, not a queue of events, so a slow
browser coalesces what it missed into one refresh per area. After the listener reconnects (notifications sent
while it was away are lost) every subscriber is told to refresh all areas.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from enum import StrEnum
from typing import Any

import asyncpg
from fastapi import FastAPI
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.logging import Logger
from shared.unit_of_work import UnitOfWork

log = Logger("postloan.console.live")
CHANNEL = "console_changed"


class Area(StrEnum):
    REQUESTS = "requests"
    CONFIRMATION = "confirmation"
    PAPER = "paper"
    APPOINTMENTS = "appointments"
    POLICY = "policy"
    DEAD_LETTERS = "dead_letters"


_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', :area)")
_ANNOUNCED = "console.announced"  # the unit of work's cache space of areas this transaction has announced


async def notify(conn: AsyncConnection | AsyncSession, *areas: Area) -> None:
    """Announces `areas` when the transaction of `conn` commits."""
    for area in areas:
        await conn.execute(_NOTIFY, {"area": area.value})


async def announce(uow: UnitOfWork, *areas: Area) -> None:
    """Tells every console copy, once the transaction commits, that `areas` changed: once per area per
    transaction (a rolled-back transaction announces nothing; PostgreSQL also folds identical notifications)."""
    known = await uow.load(_ANNOUNCED, areas, _nothing_yet)  # a cached "announced" for each done before
    fresh = [a for a, done in known.items() if not done]
    await notify(uow.session, *fresh)
    for area in fresh:
        uow.keep(_ANNOUNCED, area, True)


async def _nothing_yet(_areas: list[Area]) -> dict[Area, bool]:
    return {}


class Subscription:
    """One client's pending changes: a set, so it never grows past the number of areas."""

    def __init__(self, hub: "Hub") -> None:
        self._hub = hub
        self._pending: set[Area] = set()
        self._ready = asyncio.Event()

    def _push(self, areas: set[Area]) -> None:
        self._pending |= areas
        self._ready.set()

    async def next(self) -> list[Area]:
        """Waits for changes, then returns every area changed since the last call (sorted, each once)."""
        await self._ready.wait()
        self._ready.clear()
        areas, self._pending = sorted(self._pending), set()
        return areas

    def __aiter__(self) -> AsyncIterator[list[Area]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[list[Area]]:
        while True:
            yield await self.next()

    def close(self) -> None:
        self._hub._subscriptions.discard(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class Hub:
    """The in-process fan-out: `with hub.subscribe() as changes: async for areas in changes: ...`."""

    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        subscription = Subscription(self)
        self._subscriptions.add(subscription)
        return subscription

    @property
    def subscribers(self) -> int:
        return len(self._subscriptions)

    def publish(self, *areas: Area) -> None:
        for subscription in self._subscriptions:
            subscription._push(set(areas))

    def publish_all(self) -> None:
        """Everything may have changed (the listener was away): every client refreshes every area."""
        self.publish(*Area)


def area_of(payload: str) -> Area | None:
    try:
        return Area(payload)
    except ValueError:
        return None  # some other writer's payload on the channel: not ours to act on


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Waits `seconds`, or less when `stop` is set (a worker's sleep that stopping cuts short)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class Listener:
    """A runtime worker: LISTEN on a dedicated asyncpg connection, feeding the hub; reconnects with back-off
    (0.5 s doubling to 10 s) when the connection drops, then has every subscriber refresh everything."""

    def __init__(self, database_url: str, hub: Hub, *, max_backoff_s: float = 10.0) -> None:
        # asyncpg's own DSN (no "+asyncpg" driver part): the listener is a connection of its own, outside the pool
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self.hub = hub
        self._max_backoff_s = max_backoff_s
        self._stop = asyncio.Event()
        self.connected = asyncio.Event()  # set while listening (tests and /ready may wait on it)
        self.connections = 0  # how many times it has (re)connected

    async def run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            try:
                await self._listen()
                backoff = 0.5
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("live_listener_disconnected", error=repr(exc)[:300], retry_in_s=backoff)
                self.connected.clear()
                await pause(self._stop, backoff)
                backoff = min(backoff * 2, self._max_backoff_s)

    async def _listen(self) -> None:
        lost = asyncio.Event()
        conn = await asyncpg.connect(self._dsn)
        try:
            conn.add_termination_listener(lambda _c: lost.set())
            await conn.add_listener(CHANNEL, self._heard)
            self.connections += 1
            if self.connections > 1:
                self.hub.publish_all()  # what was announced while we were away is lost: refresh everything
            self.connected.set()
            log.info("live_listener_connected", connections=self.connections)
            stopping = asyncio.create_task(self._stop.wait())
            dropped = asyncio.create_task(lost.wait())
            await asyncio.wait({stopping, dropped}, return_when=asyncio.FIRST_COMPLETED)
            for task in (stopping, dropped):
                task.cancel()
            if lost.is_set() and not self._stop.is_set():
                raise ConnectionResetError("the listening connection was closed")
        finally:
            self.connected.clear()
            if not conn.is_closed():
                await conn.close(timeout=5)

    def _heard(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if (area := area_of(payload)) is not None:
            self.hub.publish(area)

    def stop(self) -> None:
        self._stop.set()


def expose(app: FastAPI, hub: Hub) -> None:
    app.state.console_hub = hub


def hub_of(app: FastAPI) -> Hub:
    """The hub of the console copy serving `app` (`hub_of(request.app).subscribe()` in an SSE route)."""
    hub: Hub = app.state.console_hub
    return hub
