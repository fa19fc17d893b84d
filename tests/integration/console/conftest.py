"""The console running in-process on the real broker and database, and a way to wait on its read models."""

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from sqlalchemy import Table, select

from harness.infra import Infra
from services.console.live import Area, Hub, Listener, Subscription
from shared.runtime import ServiceRuntime
from tests.support.services import running
from tests.support.wait import eventually


@pytest.fixture(scope="module")
async def console(migrated: Infra) -> AsyncIterator[ServiceRuntime]:
    async with running("console", migrated, dead_letter_poll_s=0.2) as runtime:
        await asyncio.wait_for(listener_of(runtime).connected.wait(), 30)
        yield runtime


def listener_of(runtime: ServiceRuntime) -> Listener:
    [listener] = [w for w in runtime.workers if isinstance(w, Listener)]
    return listener


def hub_of(runtime: ServiceRuntime) -> Hub:
    return listener_of(runtime).hub


async def row(runtime: ServiceRuntime, table: Table, **key: Any) -> Any:
    """The read model's row of `key`, or None."""
    assert runtime.engine is not None
    async with runtime.engine.connect() as conn:
        query = select(table).where(*(table.c[k] == v for k, v in key.items()))
        return (await conn.execute(query)).one_or_none()


async def row_when(runtime: ServiceRuntime, table: Table, match: Callable[[Any], bool], **key: Any) -> Any:
    """Waits until the row of `key` exists and satisfies `match` (the console catching up), then returns it."""
    found: list[Any] = [None]

    async def ready() -> bool:
        found[0] = await row(runtime, table, **key)
        return found[0] is not None and match(found[0])

    await eventually(ready, timeout=30, what=f"{table.name} {key}")
    return found[0]




async def next_change(changes: Subscription, timeout: float = 15.0) -> list[Area]:
    """The subscription's next areas, failing after `timeout` seconds instead of waiting for ever."""
    return await asyncio.wait_for(changes.next(), timeout)


def in_state(state: str) -> Callable[[Any], bool]:
    return lambda found: bool(found.state == state)
