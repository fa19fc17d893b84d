"""Durable timers: rows with a due time, claimed with FOR UPDATE SKIP LOCKED and fired in a transaction.

A timer fires once even with several copies running (the claiming transaction deletes it), and survives
restarts (it is a row). "Now" is the service's injected clock, so tests and demos can move time.
"""

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    delete,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import outbox
from shared.clock import Clock
from shared.db import is_transient
from shared.messaging import MessageContext, Tables

log = structlog.get_logger("postloan.timers")

TimerHandler = Callable[[MessageContext, str, Mapping[str, Any]], Awaitable[None]]


def timer_table(metadata: MetaData) -> Table:
    name = f"{metadata.schema}.timers" if metadata.schema else "timers"
    if name in metadata.tables:
        return metadata.tables[name]
    return Table(
        "timers",
        metadata,
        Column("id", BigInteger, Identity(always=False), primary_key=True),
        Column("kind", Text, nullable=False),
        Column("key", Text, nullable=False),
        Column("due_at", DateTime(timezone=True), nullable=False),
        Column("payload", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        UniqueConstraint("kind", "key", name="one_timer_per_kind_and_key"),
        Index("timers_due", "due_at"),
    )


async def schedule(session: AsyncSession, table: Table, kind: str, key: str, due_at: datetime,
                   payload: Mapping[str, Any] | None = None) -> None:
    """Sets (or moves) the timer `kind`/`key` in the caller's transaction."""
    stmt = pg_insert(table).values(kind=kind, key=key, due_at=due_at, payload=dict(payload or {}))
    await session.execute(stmt.on_conflict_do_update(
        constraint="one_timer_per_kind_and_key", set_={"due_at": stmt.excluded.due_at, "payload": stmt.excluded.payload}
    ))


async def cancel(session: AsyncSession, table: Table, kind: str, key: str) -> None:
    await session.execute(delete(table).where(table.c.kind == kind, table.c.key == key))


class TimerRunner:
    def __init__(self, *, service: str, sessions: async_sessionmaker[AsyncSession], table: Table, tables: Tables,
                 handlers: Mapping[str, TimerHandler], clock: Clock, interval: float = 1.0, batch: int = 100) -> None:
        self._service = service
        self._sessions = sessions
        self._table = table
        self._tables = tables
        self._handlers = dict(handlers)
        self._clock = clock
        self._interval = interval
        self._batch = batch
        self._stopping = asyncio.Event()
        self.fired = 0
        self.rounds = 0  # completed looks for due timers (tests wait on it, not on sleeps)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                fired = await self.fire_due()
            except Exception as exc:
                fired = 0
                level = "warning" if is_transient(exc) else "error"
                getattr(log, level)("timers_interrupted", error=repr(exc))
            self.rounds += 1
            if fired < self._batch:
                try:
                    await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)
                except TimeoutError:
                    pass

    async def fire_due(self) -> int:
        """Fires the timers due now; returns how many."""
        now = self._clock.now()
        t = self._table
        async with self._sessions.begin() as session:
            rows = (await session.execute(
                select(t).where(t.c.due_at <= now).order_by(t.c.due_at).limit(self._batch)
                .with_for_update(skip_locked=True)
            )).all()
            out = []
            for row in rows:
                ctx = MessageContext(session, now, f"postloan/{self._service}",
                                     correlationid=row.payload.get("correlationid"), causationid=None)
                handler = self._handlers.get(row.kind)
                if handler is None:
                    log.error("timer_without_handler", kind=row.kind, key=row.key)
                else:
                    with structlog.contextvars.bound_contextvars(timer=row.kind, key=row.key):
                        await handler(ctx, row.key, row.payload)
                out.extend(ctx.emitted)
                await session.execute(delete(t).where(t.c.id == row.id))
            await outbox.add(session, self._tables.outbox, out)
        self.fired += len(rows)
        return len(rows)


def create_timer_table(bind: Any, schema: str) -> None:
    """For a service's migration: its `timers` table as defined above."""
    timer_table(MetaData(schema=schema)).create(bind)
