"""One unit of work per transaction: what a transaction has read, and the rows it will insert, in one place.

The batch consumer (and the timer runner, and an HTTP write) builds a `UnitOfWork` around its session and
hands it to the services through the message context. Repositories go through it, never round it:

- **reads look in its cache first** (`load`): a key read once, or preloaded for a whole batch by a service's
  `prepare(uow, messages)`, is not read again; an absent row is remembered as `None`;
- **writes are buffered**: inserts (`add`) are written with one COPY per table at `flush`, plain updates and
  deletes by key (`update`, `delete`) with one executemany per run of alike writes, a table's writes in the
  order made;
- **any statement that touches a table with buffered rows flushes that table first** (`execute`), like
  SQLAlchemy's autoflush, so a handler can never read around what an earlier handler of the batch wrote;
- **writes can go behind** (`flush_behind`): a batch consumer that asks for it (the requests service's) starts
  writing what is buffered every hundred messages and goes on handling while PostgreSQL inserts it; every later
  statement of the unit of work waits for that write first, so order and reads are as if written in place;
- **a unique-key conflict** at a flush raises `UniqueConflict`: the consumer redoes the batch message by
  message, and there a message that meets one is redone once (it then reads the other writer's committed row).

So every handler has one code path, batched or not; a handler that needs no batch state simply has none.
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, delete, update
from sqlalchemy.engine import Result
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import visitors
from sqlalchemy.sql.base import Executable

from shared.db import copy_rows, sqlstate

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


_Shape = tuple[tuple[str, ...], ...]  # the column names a write names: one COPY or executemany per shape


class UniqueConflict(Exception):
    """A buffered insert met a unique key another writer (or an earlier message) holds: redo message by message."""


class UnitOfWork:
    """The cache and the insert buffer of one transaction (or of one message's savepoint when isolated)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self._cache: dict[tuple[str, Hashable], Any] = {}
        self._staged: dict[Table, list[_Segment]] = {}  # in the order tables were first written
        self._behind: asyncio.Future[None] | None = None  # a write started by `flush_behind`, not yet settled

    # --- reads -------------------------------------------------------------------------------------------------

    async def load(self, space: str, keys: Iterable[K],
                   fetch: Callable[[list[K]], Awaitable[Mapping[K, V]]]) -> dict[K, V | None]:
        """The values of `keys` in `space`: cached ones from the cache, the rest with one call of `fetch` (which
        returns what it found; a key it did not return is remembered as absent)."""
        wanted = list(dict.fromkeys(keys))
        missing = [k for k in wanted if (space, k) not in self._cache]
        if missing:
            found = await fetch(missing)
            for key in missing:
                self._cache[(space, key)] = found.get(key)
        return {k: self._cache[(space, k)] for k in wanted}

    async def load_one(self, space: str, key: K, fetch: Callable[[list[K]], Awaitable[Mapping[K, V]]]) -> V | None:
        try:  # a handler's read of what the batch's prepare loaded: the cache alone, without `load`'s lists
            return cast("V | None", self._cache[(space, key)])
        except KeyError:
            return (await self.load(space, [key], fetch))[key]

    def keep(self, space: str, key: Hashable, value: Any) -> None:
        """Records what the transaction now knows `key` to be (after a write, or `None` once it is gone)."""
        self._cache[(space, key)] = value

    def forget(self, space: str, key: Hashable | None = None) -> None:
        """Drops one cached key, or the whole space (when a write changes rows the cache cannot follow)."""
        if key is not None:
            self._cache.pop((space, key), None)
        else:
            for cached in [c for c in self._cache if c[0] == space]:
                del self._cache[cached]

    # --- writes ------------------------------------------------------------------------------------------------

    def add(self, table: Table, row: Mapping[str, Any]) -> None:
        """Buffers an insert into `table`; written (COPY) at the next flush touching `table`, or the final one."""
        row = dict(row)
        self._buffer(table, "insert", _primary_key(table, row), (tuple(row),), row)

    def add_all(self, table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
        for row in rows:
            self.add(table, row)

    def update(self, table: Table, key: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        """Buffers `UPDATE table SET values WHERE key` (unconditional; a row changed twice keeps the last values).
        Written with one executemany per shape at flush, after any earlier buffered write of the same row."""
        self._buffer(table, "update", tuple(key.items()), (tuple(key), tuple(values)), {**key, **values})

    def delete(self, table: Table, key: Mapping[str, Any]) -> None:
        """Buffers `DELETE FROM table WHERE key`."""
        self._buffer(table, "delete", tuple(key.items()), (tuple(key),), dict(key))

    def _buffer(self, table: Table, kind: str, key: Hashable | None, shape: _Shape, row: dict[str, Any]) -> None:
        """Adds the write to the table's latest segment when it is of the same kind and shape, else starts a new
        one: a table's writes are applied in the order they were made (a row inserted after another was closed
        must not be inserted first: unique keys other than the primary one depend on it), and runs of alike
        writes — a batch of submissions, a batch of outcomes — still go as one statement."""
        segments = self._staged.setdefault(table, [])
        if segments and segments[-1].kind == kind and segments[-1].shape == shape:
            segments[-1].put(key, row)
        else:
            segments.append(_Segment(kind, shape, key, row))

    async def execute(self, statement: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None
                      ) -> Result[Any]:
        """Runs `statement` in the transaction after flushing the buffered writes of every table it names (all
        of them when it names none that can be told, e.g. textual SQL)."""
        await self.settle()
        if self._staged:  # (finding the tables walks the statement: not worth it with nothing to flush)
            await self.flush(*_tables_of(statement))
        return await self.session.execute(statement, params)

    async def scalar(self, statement: Executable, params: Mapping[str, Any] | None = None) -> Any:
        return (await self.execute(statement, params)).scalar()

    async def flush(self, *tables: Table) -> None:
        """Writes the buffered rows (of `tables`, or of all) table by table in first-written order: inserts with
        COPY, updates and deletes with one executemany per shape."""
        await self.settle()
        chosen = [t for t in self._staged if not tables or t in tables]  # listed first: popping changes the dict
        await self._write({t: self._staged.pop(t) for t in chosen})

    async def _write(self, staged: Mapping[Table, list["_Segment"]]) -> None:
        for table, segments in staged.items():
            for segment in segments:
                await segment.write(self.session, table)

    def flush_behind(self) -> None:
        """Starts writing every buffered row while the caller goes on (a batch consumer with `write_behind`, every
        hundred messages): PostgreSQL inserts them on its own core while this process handles the next messages,
        instead of all at the end of the batch. The caller must give the event loop a turn now and then
        (`writing_behind`) for the write to go on. Every later statement of this unit of work waits for it first
        (`settle`, called by `execute` and `flush`), so writes keep their order and reads see them; its error
        surfaces there."""
        if self._behind is None and self._staged:
            staged, self._staged = self._staged, {}
            self._behind = asyncio.ensure_future(self._write(staged))

    @property
    def writing_behind(self) -> bool:
        return self._behind is not None

    async def settle(self) -> None:
        """Waits for the write `flush_behind` started, raising its error (a unique conflict, say)."""
        if (behind := self._behind) is not None:
            self._behind = None
            await behind

    async def abandon(self) -> None:
        """Waits for a write started behind without raising its error: the transaction is failing anyway, and its
        connection must be idle before it is rolled back."""
        if (behind := self._behind) is not None:
            self._behind = None
            await asyncio.gather(behind, return_exceptions=True)

    def discard(self) -> None:
        """Forgets everything: the savepoint this unit of work followed was rolled back."""
        self._cache.clear()
        self._staged.clear()

    @property
    def pending(self) -> int:
        return sum(len(segment.rows) for segments in self._staged.values() for segment in segments)


class _Segment:
    """Buffered writes of one kind and shape to one table, keyed by row (inserts without a key are kept apart)."""

    def __init__(self, kind: str, shape: _Shape, key: Hashable | None, row: dict[str, Any]) -> None:
        self.kind = kind
        self.shape = shape
        self.rows: dict[Hashable, dict[str, Any]] = {}
        self._serial = 0
        self.put(key, row)

    def put(self, key: Hashable | None, row: dict[str, Any]) -> None:
        if key is None:
            self._serial += 1
            key = ("#", self._serial)
        if key in self.rows:
            if self.kind == "insert":  # the same primary key twice in one batch: what the flush would meet
                raise UniqueConflict(f"a row with primary key {key!r} was already added")
            if self.kind == "update":
                row = {**self.rows[key], **row}
        self.rows[key] = row

    async def write(self, session: AsyncSession, table: Table) -> None:
        rows = list(self.rows.values())
        if self.kind == "insert":
            try:
                await copy_rows(session, table, rows)
            except Exception as exc:
                if sqlstate(exc) == "23505":
                    raise UniqueConflict(f"{table.fullname}: a unique key is held by another row") from exc
                raise
            return
        key_columns = self.shape[0]
        value_columns = self.shape[1] if self.kind == "update" else ()
        where = [table.c[c] == bindparam(f"k_{c}") for c in key_columns]
        params = [{(f"k_{c}" if c in key_columns else f"v_{c}"): v for c, v in row.items()} for row in rows]
        if self.kind == "update":
            values: dict[str, Any] = {c: bindparam(f"v_{c}") for c in value_columns}
            await session.execute(update(table).where(*where).values(values), params)
        else:
            await session.execute(delete(table).where(*where), params)


_PRIMARY_KEYS: dict[Table, tuple[str, ...]] = {}  # iterating a table's key columns per row showed in profiles


def _primary_key(table: Table, row: Mapping[str, Any]) -> Hashable | None:
    columns = _PRIMARY_KEYS.get(table)
    if columns is None:
        columns = _PRIMARY_KEYS[table] = tuple(c.name for c in table.primary_key.columns)
    if not columns or any(c not in row for c in columns):
        return None
    return tuple((c, row[c]) for c in columns)


def _tables_of(statement: Executable) -> set[Table]:
    return {element for element in visitors.iterate(statement) if isinstance(element, Table)}  # type: ignore[arg-type]


Prepare = Callable[[UnitOfWork, Sequence[tuple[str, Any]]], Awaitable[None]]
"""A service's batch preload: given the unit of work and the batch's fresh (topic, CloudEvent) messages, it loads
what their handlers will read, in a few queries, into the repositories' cache (`UnitOfWork.load`)."""
