"""Durable timers: rows with a due time, claimed with FOR UPDATE SKIP LOCKED and fired in a transaction.

A timer fires once even with several copies running (the claiming transaction deletes it), and survives
restarts (it is a row). "Now" is the service's injected clock, so tests and demos can move time.
Each timer fires in a savepoint of its own: one whose handler fails (for a reason that is not transient) is
kept, retried with back-off and, after a number of attempts, parked (never claimed again) with its error,
while the other due timers fire in the same round. Transient failures end the round; it is retried later.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from shared import outbox, tracing
from shared.clock import Clock
from shared.db import is_transient
from shared.logging import Logger, log_context
from shared.messaging import MessageContext, Tables
from shared.metrics import Decision, ServiceMetrics
from shared.unit_of_work import UnitOfWork

log = Logger("postloan.timers")

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
        Column("attempts", Integer, nullable=False, server_default=text("0")),  # failed firings so far
        Column("last_error", Text),  # the last failure, cut to 1,000 characters
        Column("parked_at", DateTime(timezone=True)),  # set after too many failures: never claimed again
        UniqueConstraint("kind", "key", name="one_timer_per_kind_and_key"),
        Index("timers_due", "due_at", postgresql_where=text("parked_at IS NULL")),
        Index("timers_parked", "parked_at", postgresql_where=text("parked_at IS NOT NULL")),
    )


async def schedule(uow: UnitOfWork, table: Table, kind: str, key: str, due_at: datetime,
                   payload: Mapping[str, Any] | None = None) -> None:
    """Sets (or moves) the timer `kind`/`key` in the caller's transaction, through its unit of work (so timer
    rows it buffered are written first); a new schedule starts its attempts afresh (a parked timer set again is
    live again)."""
    # The trace context of what set the timer rides in its payload: the firing continues that trace.
    stmt = pg_insert(table).values(kind=kind, key=key, due_at=due_at, payload={**(payload or {}), **tracing.carrier()})
    await uow.execute(stmt.on_conflict_do_update(
        constraint="one_timer_per_kind_and_key",
        set_={"due_at": stmt.excluded.due_at, "payload": stmt.excluded.payload, "attempts": 0, "last_error": None,
              "parked_at": None},
    ))


def _parked(table: Table) -> Any:
    return select(func.count()).select_from(table).where(table.c.parked_at.is_not(None))


async def parked_count(session: AsyncSession | AsyncConnection, table: Table) -> int:
    """Timers parked after too many failures (a partial index keeps this cheap)."""
    return int(await session.scalar(_parked(table)) or 0)


async def figures(session: AsyncSession | AsyncConnection, table: Table, now: datetime) -> tuple[int, int]:
    """(parked, due by `now` and not parked) in one round trip, each count from its own index: what /ready and
    /metrics show (a growing due figure means the rounds lag)."""
    parked = _parked(table).scalar_subquery()
    due = (select(func.count()).select_from(table)
           .where(table.c.due_at <= now, table.c.parked_at.is_(None)).scalar_subquery())
    row = (await session.execute(select(parked, due))).one()
    return int(row[0]), int(row[1])


async def cancel(uow: UnitOfWork, table: Table, kind: str, key: str) -> None:
    await uow.execute(delete(table).where(table.c.kind == kind, table.c.key == key))


RETRY_CAP_S = 3600.0  # the longest wait between two attempts of a failing timer


class TimerRunner:
    def __init__(self, *, service: str, sessions: async_sessionmaker[AsyncSession], table: Table, tables: Tables,
                 handlers: Mapping[str, TimerHandler], clock: Clock, interval: float = 1.0, batch: int = 100,
                 max_attempts: int = 5, retry_base_s: float = 30.0, settings: Any = None,
                 metrics: ServiceMetrics | None = None) -> None:
        self._settings = settings
        self._metrics = metrics
        self._service = service
        self._sessions = sessions
        self._table = table
        self._tables = tables
        self._handlers = dict(handlers)
        self._clock = clock
        self._interval = interval
        self._batch = batch
        self._max_attempts = max_attempts
        self._retry_base_s = retry_base_s
        self._stopping = asyncio.Event()
        self.fired = 0
        self.failed = 0  # firings whose handler failed (the timer was kept for a retry, or parked)
        self.parked = 0
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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)

    async def fire_due(self) -> int:
        """Fires the timers due now, each in a savepoint; returns how many were claimed (fired or failed)."""
        now = self._clock.now()
        t = self._table
        fired = failed = parked = 0
        decided: list[Decision] = []
        async with self._sessions.begin() as session:
            rows = (await session.execute(
                select(t).where(t.c.due_at <= now, t.c.parked_at.is_(None)).order_by(t.c.due_at).limit(self._batch)
                .with_for_update(skip_locked=True)
            )).all()
            out = []
            for row in rows:
                ctx = MessageContext(session, now, f"postloan/{self._service}",
                                     correlationid=row.payload.get("correlationid"), causationid=None,
                                     settings=self._settings)
                try:
                    async with session.begin_nested():
                        await self._fire(ctx, row)
                        await ctx.uow.flush()
                        await session.execute(delete(t).where(t.c.id == row.id))
                except Exception as exc:
                    if is_transient(exc):
                        raise  # the whole round is rolled back and comes again
                    failed += 1
                    parked += await self._failed(session, row, exc, now)
                    continue
                fired += 1
                out.extend(ctx.emitted)
                decided += ctx.decided
            await outbox.add(session, self._tables.outbox, out)
        self.fired += fired
        self.failed += failed
        self.parked += parked
        if self._metrics is not None:
            self._metrics.timers_fired.inc(fired)
            self._metrics.timers_failed.inc(failed)
            self._metrics.count_decided(decided)
        return len(rows)

    async def _fire(self, ctx: MessageContext, row: Any) -> None:
        handler = self._handlers.get(row.kind)
        if handler is None:  # e.g. a copy running older code: kept and retried, so a newer copy can fire it
            raise LookupError(f"no handler for timers of kind {row.kind!r}")
        with log_context(timer=row.kind, key=row.key), \
                tracing.resumed(row.payload.get(tracing.TRACEPARENT), f"fire {row.kind}", or_new=True):
            await handler(ctx, row.key, row.payload)

    async def _failed(self, session: AsyncSession, row: Any, exc: Exception, now: datetime) -> int:
        """Keeps a timer whose firing failed: due again after a back-off, or parked after `max_attempts`.
        Returns 1 when it was parked."""
        attempts = row.attempts + 1
        error = f"{type(exc).__name__}: {exc}"[:1000]
        values: dict[str, Any] = {"attempts": attempts, "last_error": error}
        if attempts >= self._max_attempts:
            values["parked_at"] = now
            log.error("timer_parked", kind=row.kind, key=row.key, attempts=attempts, error=error[:300], exc_info=exc)
        else:
            delay = min(self._retry_base_s * 2 ** (attempts - 1), RETRY_CAP_S)
            values["due_at"] = now + timedelta(seconds=delay)
            log.warning("timer_failed_retrying", kind=row.kind, key=row.key, attempts=attempts, retry_in_s=delay,
                        error=error[:300])
        await session.execute(update(self._table).where(self._table.c.id == row.id).values(**values))
        return 1 if attempts >= self._max_attempts else 0
