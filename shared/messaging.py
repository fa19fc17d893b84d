"""The consumer side of reliable messaging: decode at the edge, inbox, one transaction per batch, dead letters.

A batch of records is applied in one database transaction: ids already in the inbox are skipped, each
handler writes state and queues outgoing events, undecodable records are queued for `<topic>.dlq`, and
the transaction commits before the caller commits the Kafka offsets. Transient failures are retried with
back-off; a handler that fails for any other reason sends its message to the dead-letter topic instead.
"""

import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import Table, delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_never,
    wait_exponential_jitter,
)

from shared import outbox, topics
from shared.clock import Clock
from shared.contracts import Command, CommandRejected, Contract
from shared.db import copy_rows, is_transient, sqlstate
from shared.envelope import CloudEvent, ErrorKind, UndecodableMessage, codec, new_event
from shared.outbox import OutgoingRecord

log = structlog.get_logger("postloan.messaging")


class Record(Protocol):
    """What is needed of an aiokafka ConsumerRecord."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass
class MessageContext:
    """What a handler may use: the transaction, 'now', and a way to emit events caused by what it handles.

    `message` is the inbound CloudEvent; a timer firing has none, and carries the chain's correlation id.
    """

    session: AsyncSession
    now: datetime
    source: str
    correlationid: str | None
    causationid: str | None
    message: CloudEvent[Any] | None = None
    emitted: list[OutgoingRecord] = field(default_factory=list)

    @classmethod
    def of_message(cls, session: AsyncSession, now: datetime, source: str, message: CloudEvent[Any]) -> "MessageContext":
        return cls(session, now, source, message.correlationid or message.id, message.id, message)

    def reject_command(self, topic: str, reason_code: str, reason: str, *, facts: Mapping[str, str] | None = None,
                       subject: str | None = None, **named: str | None) -> None:
        """Answers the command being handled with `CommandRejected` on `topic` (keyed by `subject`, by default the
        command's own): a refused command is never met with silence, and changes nothing.

        `named` carries the `request_id` / `booking_id` / `task_id` / `customer_id` the command named.
        """
        assert self.message is not None, "only a message has a command to reject"
        command_id = getattr(self.message.data, "command_id", self.message.id)
        self.emit(topic, CommandRejected(command_id=command_id, command_type=self.message.type,
                                         reason_code=reason_code, reason=reason, facts=dict(facts or {}),
                                         rejected_at=self.now, **named),
                  subject=subject or self.message.subject or self.message.id)
        log.info("command_rejected", command_id=command_id, reason_code=reason_code)

    def emit(self, topic: str, data: Contract, *, subject: str) -> CloudEvent[Any]:
        event = new_event(
            data, source=self.source, subject=subject, time=self.now,
            correlationid=self.correlationid, causationid=self.causationid,
        )
        self.emitted.append(OutgoingRecord.of_event(topic, event))
        return event


Handler = Callable[[MessageContext, Any], Awaitable[None]]


class BatchHooks(Protocol):
    """Optional per-service batching: load what a batch needs in a few queries, write its rows in a few more.

    `prepare` runs after the inbox claim with the batch's fresh messages, `flush` before the outbox insert.
    Both run only on the optimistic path; when a batch is redone message by message they are skipped and
    handlers must work without them. Raising `RedoIsolated` from either sends the batch down that path.
    """

    async def prepare(self, session: AsyncSession, messages: Sequence[tuple[str, CloudEvent[Any]]]) -> None: ...

    async def flush(self, session: AsyncSession) -> None: ...


class RedoIsolated(Exception):
    """The optimistic batch path cannot hold (e.g. a concurrent writer); redo the batch message by message."""


@dataclass(frozen=True)
class Tables:
    inbox: Table
    outbox: Table
    schema: str
    commands: Table | None = None  # answered commands (shared.db.command_table); None for a service without any


class BatchConsumer:
    """Applies records of a service's topics; `handlers` maps topic -> CloudEvent type -> handler.

    Contract types without a handler are acknowledged and ignored (a service reads only what concerns it).
    """

    def __init__(
        self,
        *,
        service: str,
        handlers: Mapping[str, Mapping[str, Handler]],
        sessions: async_sessionmaker[AsyncSession],
        tables: Tables,
        clock: Clock,
        hooks: BatchHooks | None = None,
    ) -> None:
        self.service = service
        self._hooks = hooks
        self.handlers = {topic: dict(by_type) for topic, by_type in handlers.items()}
        self.codecs = {topic: codec(topic) for topic in self.handlers}
        for topic, by_type in self.handlers.items():
            unknown = set(by_type) - set(self.codecs[topic].models)
            if unknown:
                raise ValueError(f"{topic} carries no type {sorted(unknown)}")
        self._sessions = sessions
        self._tables = tables
        self._clock = clock
        self._source = f"postloan/{service}"
        self.stopping = False
        self.applied = 0  # messages whose effects this copy committed (the scaling tests read it)
        self.transient_retries = 0  # batches retried after a transient failure (tests wait on it, not on sleeps)

    async def process(self, records: Sequence[Record]) -> None:
        """Applies `records` exactly once each; returns only when their effects are committed.

        Logs one INFO line per batch (per-message decisions are DEBUG; the audit trail is in the database).
        """
        started = time.perf_counter()
        decoded: list[tuple[Record, CloudEvent[Any]]] = []
        dead: list[OutgoingRecord] = []
        for record in records:
            try:
                decoded.append((record, self.codecs[record.topic].decode(record.value)))
            except UndecodableMessage as exc:
                log.warning("message_dead_lettered", kind=exc.kind, error=exc.detail, **_coords(record))
                dead.append(dead_letter(record, exc.kind, exc.detail))
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(lambda e: is_transient(e) and not self.stopping),
            wait=wait_exponential_jitter(multiplier=0.2, max=10, jitter=0.2),
            stop=stop_never,
            before_sleep=self._retrying,
            reraise=True,
        ):
            with attempt:
                try:
                    await self._apply(decoded, dead, isolate=False)
                except (_HandlerFailed, RedoIsolated):
                    # Rare path: redo the batch with a savepoint per message so only the culprit is dead-lettered.
                    await self._apply(decoded, dead, isolate=True)
        log.info("batch_applied", records=len(records), dead_lettered=len(dead),
                 types=dict(Counter(event.type for _, event in decoded)),
                 ms=round((time.perf_counter() - started) * 1000, 1))

    def _retrying(self, state: Any) -> None:
        self.transient_retries += 1
        log.warning("transient_failure_retrying", attempt=state.attempt_number,
                    error=repr(state.outcome and state.outcome.exception()))

    async def _apply(
        self, decoded: Sequence[tuple[Record, CloudEvent[Any]]], dead: Sequence[OutgoingRecord], *, isolate: bool
    ) -> None:
        out: list[OutgoingRecord] = list(dead)
        async with self._sessions.begin() as session:
            claimed = await self._claim(session, [(record.topic, event.id) for record, event in decoded])
            todo = []
            for record, event in decoded:
                if event.id not in claimed:
                    log.info("duplicate_skipped", event_id=event.id, **_coords(record))
                    continue
                claimed.discard(event.id)  # a second copy inside the same batch is a duplicate too
                handler = self.handlers[record.topic].get(event.type)
                if handler is not None:
                    todo.append((record, event, handler))
            answers = _Answers(self._tables.commands)
            await answers.load(session, [event for _, event, _ in todo])
            if self._hooks is not None and not isolate:
                await self._hooks.prepare(session, [(record.topic, event) for record, event, _ in todo
                                                    if not answers.replays(event)])
            for record, event, handler in todo:
                if (previous := answers.previous(event)) is not None:
                    log.info("command_replayed", command_id=event.data.command_id, **_coords(record))
                    out.extend(previous)
                    continue
                emitted, applied = await self._handle(session, handler, record, event, isolate=isolate, answers=answers)
                out.extend(emitted)
                if applied and not isolate:
                    answers.remember(event, emitted)
            if self._hooks is not None and not isolate:
                await self._hooks.flush(session)
            await answers.store(session)
            await outbox.add(session, self._tables.outbox, out)
        self.applied += len(decoded)

    async def _handle(
        self, session: AsyncSession, handler: Handler, record: Record, event: CloudEvent[Any], *, isolate: bool,
        answers: "_Answers",
    ) -> tuple[list[OutgoingRecord], bool]:
        """Runs one handler; returns what it emitted and whether it applied (False: dead-lettered)."""
        ctx = MessageContext.of_message(session, self._clock.now(), self._source, event)
        with structlog.contextvars.bound_contextvars(
            event_id=event.id, event_type=event.type, correlation_id=event.correlationid,
            causation_id=event.causationid, **_coords(record),
        ):
            if not isolate:
                try:
                    await handler(ctx, event.data)
                except RedoIsolated:
                    raise
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    raise _HandlerFailed from exc
                return ctx.emitted, True
            try:
                async with session.begin_nested():
                    await handler(ctx, event.data)
                    if not await answers.store_one(session, event, ctx.emitted):
                        raise _AnsweredMeanwhile
            except _AnsweredMeanwhile:
                # Another copy answered the same command (under another envelope id) while we decided: theirs stands.
                previous = await answers.fetch(session, event.data.command_id)
                log.info("command_replayed", command_id=event.data.command_id)
                return previous, True
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.error("handler_failed_dead_lettered", error=repr(exc), exc_info=exc)
                await session.execute(delete(self._tables.inbox).where(self._tables.inbox.c.message_id == event.id))
                return [dead_letter(record, ErrorKind.PROCESSING_FAILED, repr(exc)[:900])], False
            return ctx.emitted, True

    async def _claim(self, session: AsyncSession, ids: Sequence[tuple[str, str]]) -> set[str]:
        """Records the (topic, id) pairs in the inbox; returns the ids seen for the first time."""
        if not ids:
            return set()
        unique = {message_id: topic for topic, message_id in ids}
        # Two array parameters whatever the batch size: one round trip, one cached statement.
        stmt = text(
            f'INSERT INTO "{self._tables.schema}".inbox (message_id, topic) '
            "SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:topics AS text[])) "
            "ON CONFLICT (message_id) DO NOTHING RETURNING message_id"
        )
        result = await session.execute(stmt, {"ids": list(unique), "topics": list(unique.values())})
        return set(result.scalars())


class _HandlerFailed(Exception):
    """A handler raised a non-transient error; the batch is redone message by message."""


class _AnsweredMeanwhile(Exception):
    """A concurrent copy stored an answer for the same command first; this handling is rolled back."""


def _command_id(event: CloudEvent[Any]) -> str | None:
    return event.data.command_id if isinstance(event.data, Command) else None


class _Answers:
    """SPEC §10: every command is idempotent by `command_id`, refusals included. The first handling's records
    are stored with the command; a replay (any envelope id) is answered with those same records, so consumers,
    who de-duplicate on the event id, see no second effect and send no second notification."""

    def __init__(self, table: Table | None) -> None:
        self._table = table
        self._stored: dict[str, list[OutgoingRecord]] = {}
        self._new: dict[str, tuple[str, list[OutgoingRecord]]] = {}

    async def load(self, session: AsyncSession, events: Sequence[CloudEvent[Any]]) -> None:
        ids = sorted({cid for e in events if (cid := _command_id(e)) is not None})
        if self._table is None or not ids:
            return
        # One array parameter whatever the batch size: one round trip, one cached statement.
        rows = await session.execute(text(
            f'SELECT command_id, answer FROM "{self._table.schema}".commands '
            "WHERE command_id = ANY(CAST(:ids AS text[]))"), {"ids": ids})
        self._stored = {command_id: outbox.unpack(answer) for command_id, answer in rows.all()}

    def replays(self, event: CloudEvent[Any]) -> bool:
        return (cid := _command_id(event)) is not None and cid in self._stored

    def previous(self, event: CloudEvent[Any]) -> list[OutgoingRecord] | None:
        cid = _command_id(event)
        if cid is None or self._table is None:
            return None
        if cid in self._stored:
            return self._stored[cid]
        return self._new[cid][1] if cid in self._new else None

    def remember(self, event: CloudEvent[Any], emitted: list[OutgoingRecord]) -> None:
        if (cid := _command_id(event)) is not None and self._table is not None:
            self._new[cid] = (event.type, list(emitted))

    async def store(self, session: AsyncSession) -> None:
        """Writes the batch's new answers with one COPY; a conflict means a concurrent copy answered one of the
        commands meanwhile: the batch is redone in isolation, where that command gets the other copy's answer."""
        if self._table is None or not self._new:
            return
        rows = [{"command_id": cid, "command_type": kind, "answer": outbox.pack(records)}
                for cid, (kind, records) in self._new.items()]
        try:  # the whole transaction is redone on a conflict, so no savepoint is needed here
            await copy_rows(session, self._table, rows)
        except Exception as exc:
            if sqlstate(exc) == "23505":
                raise RedoIsolated("a command was answered by a concurrent copy") from exc
            raise

    async def store_one(self, session: AsyncSession, event: CloudEvent[Any], emitted: list[OutgoingRecord]) -> bool:
        if self._table is None or (cid := _command_id(event)) is None:
            return True
        self._new[cid] = (event.type, list(emitted))
        return await self._insert(session, [cid], [event.type], [emitted]) == 1

    async def fetch(self, session: AsyncSession, command_id: str) -> list[OutgoingRecord]:
        assert self._table is not None
        answer = await session.scalar(select(self._table.c.answer).where(self._table.c.command_id == command_id))
        records = outbox.unpack(answer or b"")
        self._stored[command_id] = records
        return records

    async def _insert(self, session: AsyncSession, ids: list[str], types: list[str],
                      answers: list[list[OutgoingRecord]]) -> int:
        assert self._table is not None
        stmt = text(
            f'INSERT INTO "{self._table.schema}".commands (command_id, command_type, answer) '
            "SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:types AS text[]), CAST(:answers AS bytea[])) "
            "ON CONFLICT (command_id) DO NOTHING RETURNING command_id"
        )
        params = {"ids": ids, "types": types, "answers": [outbox.pack(a) for a in answers]}
        return len((await session.execute(stmt, params)).all())



def dead_letter(record: Record, kind: ErrorKind, error: str) -> OutgoingRecord:
    """The record, byte for byte, addressed to its dead-letter topic with headers saying why."""
    original = tuple((k, v.decode("utf-8", "backslashreplace")) for k, v in record.headers or ())
    reason = (
        ("x-error-kind", str(kind)),
        ("x-error", error),
        ("x-original-topic", record.topic),
        ("x-original-partition", str(record.partition)),
        ("x-original-offset", str(record.offset)),
    )
    return OutgoingRecord(topics.dlq(record.topic), record.key, record.value or b"", original + reason)


def _coords(record: Record) -> dict[str, Any]:
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}

