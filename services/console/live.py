"""Placeholder until the read-model slice lands (replaced by its live.py): an in-process hub of changed areas."""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any


class Hub:
    def __init__(self) -> None:
        self._queues: set[asyncio.Queue[str]] = set()

    @contextlib.asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=16)
        self._queues.add(queue)

        async def areas() -> AsyncIterator[str]:
            while True:
                yield await queue.get()

        try:
            yield areas()
        finally:
            self._queues.discard(queue)


def changes_of(app: Any) -> Hub:
    hub: Hub | None = getattr(app.state, "changes", None)
    if hub is None:
        hub = app.state.changes = Hub()
    return hub
