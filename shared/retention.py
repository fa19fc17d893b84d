"""Retention: deletes what a service no longer needs, in small chunks, so no statement holds locks for long.

Sent outbox rows and inbox entries older than their retention are deleted; a service may add pruning of its own
(`PruneHook`, e.g. the notifier clearing delivered message bodies). Never touches unsent or parked outbox rows,
nor timers. Outbox and inbox ages are judged on the database's clock (their timestamps come from it).
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, ColumnElement, Table, and_, literal, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.clock import Clock
from shared.db import is_transient
from shared.logging import Logger

log = Logger("postloan.retention")

PruneHook = Callable[[AsyncConnection, datetime, int], Awaitable[int]]
"""One chunk of a service's own pruning: touches at most `limit` rows, judged on `now` (the service's clock), and
returns how many it touched; it is called again, each time in a transaction of its own, until it touches fewer."""


class Pruner:
    """A background loop of every service: prunes at start, then every `interval_s`."""

    def __init__(self, *, engine: AsyncEngine, outbox: Table, inbox: Table, clock: Clock, outbox_sent_days: float,
                 inbox_days: float, interval_s: float = 3600.0, chunk: int = 5000,
                 hook: PruneHook | None = None) -> None:
        self._engine = engine
        self._clock = clock
        self._interval = interval_s
        self._chunk = chunk
        self._hook = hook
        self._outbox_age = timedelta(days=outbox_sent_days)
        self._inbox_age = timedelta(days=inbox_days)
        # The outbox is walked in id order (the relay sends in that order) from its start, a chunk of ids at a
        # time, up to the first row written after the cutoff: no index on sent_at, which every row the relay
        # marks would have to update.
        self._outbox_chunk = text(
            f"WITH chunk AS (SELECT ctid, id, created_at, sent_at FROM {_name(outbox)} WHERE id > :after "
            "ORDER BY id LIMIT :limit), "
            f"gone AS (DELETE FROM {_name(outbox)} WHERE ctid = ANY(ARRAY(SELECT ctid FROM chunk "
            "WHERE sent_at < now() - CAST(:age AS interval))) RETURNING 1) "
            "SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM chunk), (SELECT max(id) FROM chunk), "
            "(SELECT count(*) FROM chunk WHERE created_at >= now() - CAST(:age AS interval))"
        )
        # Delete by the physical row address of a locked chunk: a TID scan, whatever the table's key.
        self._inbox_chunk = text(
            f"DELETE FROM {_name(inbox)} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {_name(inbox)} "
            "WHERE processed_at < now() - CAST(:age AS interval) LIMIT :limit FOR UPDATE SKIP LOCKED))"
        )
        self._stopping = asyncio.Event()
        self.runs = 0  # completed pruning runs (tests wait on it, not on sleeps)

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.prune_once()
            except Exception as exc:  # waited out: the next run starts where this one stopped
                level = "warning" if is_transient(exc) else "error"
                getattr(log, level)("retention_interrupted", error=repr(exc)[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self._interval)

    async def prune_once(self) -> dict[str, int]:
        """One pruning run; returns the rows touched per kind."""
        counts = {
            "outbox_sent": await self._prune_outbox(),
            "inbox": await self._repeat(lambda conn, _now, limit: _rowcount(conn, self._inbox_chunk,
                                                                            self._inbox_age, limit)),
        }
        if self._hook is not None:
            counts["service"] = await self._repeat(self._hook)
        self.runs += 1
        if any(counts.values()):
            log.info("retention_pruned", **counts)
        return counts

    async def _prune_outbox(self) -> int:
        """Sent rows older than the retention, chunk by chunk in id order; unsent rows stay whatever their age."""
        total, after = 0, 0
        while not self._stopping.is_set():
            async with self._engine.begin() as conn:
                gone, seen, last, newer = (await conn.execute(
                    self._outbox_chunk, {"after": after, "limit": self._chunk, "age": self._outbox_age})).one()
            total += gone
            if seen < self._chunk or newer:  # the end of the table, or of the rows old enough to go
                break
            after = last
        return total

    async def _repeat(self, chunk: PruneHook) -> int:
        total = 0
        while not self._stopping.is_set():
            async with self._engine.begin() as conn:
                touched = await chunk(conn, self._clock.now(), self._chunk)
            total += touched
            if touched < self._chunk:
                break
        return total


def clear_old(column: Column[Any], *, value: Any, older: Column[Any], days: float,
              where: ColumnElement[bool] | None = None) -> PruneHook:
    """A `PruneHook` that sets `column` to `value` on rows whose `older` is more than `days` before the service's
    now (and that match `where`), keeping the rows. The table needs a one-column primary key."""
    table = column.table
    assert isinstance(table, Table)
    (key,) = table.primary_key.columns

    # The value is written into the statement, so a partial index "WHERE column <> value" serves every plan.
    kept = column != literal(value, column.type, literal_execute=True)

    async def prune(conn: AsyncConnection, now: datetime, limit: int) -> int:
        match = and_(older < now - timedelta(days=days), kept, *([where] if where is not None else []))
        chunk = select(key).where(match).limit(limit).with_for_update(skip_locked=True)
        result = await conn.execute(update(table).where(key.in_(chunk)).values({column.name: value}))
        return int(result.rowcount)

    return prune


async def _rowcount(conn: AsyncConnection, statement: Any, age: timedelta, limit: int) -> int:
    return int((await conn.execute(statement, {"age": age, "limit": limit})).rowcount)


def _name(table: Table) -> str:
    return f'"{table.schema}".{table.name}' if table.schema else table.name
