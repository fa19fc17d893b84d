"""The consumer side of reliable messaging: decode at the edge, inbox, one transaction per batch, dead letters.

A batch of records is applied in one database transaction: ids already in the inbox are skipped, each
handler writes state and queues outgoing events, undecodable records are queued for `<topic>.dlq`, and
the transaction commits before the caller commits the Kafka offsets. Transient failures are retried with
back-off; a handler that fails for any other reason sends its message to the dead-letter topic instead.
"""

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Table, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_never,
    wait_exponential_jitter,
)

from shared import outbox, principals, topics, tracing
from shared.clock import Clock
from shared.contracts import Command, CommandRejected, Contract
from shared.contracts._bounds import MAX_VALUE_BYTES
from shared.db import copy_rows, is_transient, sqlstate
from shared.envelope import CloudEvent, ErrorKind, UndecodableMessage, codec, encode_event
from shared.logging import Logger, log_context
from shared.metrics import Decision, Outcome, ServiceMetrics, decision_of, record_timestamp_ms
from shared.outbox import OutgoingRecord
from shared.refusal import Refusal
from shared.unit_of_work import Prepare, UniqueConflict, UnitOfWork

log = Logger("postloan.messaging")

WRITE_BEHIND = 100
"""A consumer's `write_behind` for a service that asks for it (shared.runtime.ServiceSpec): every this many handled
messages, the batch's buffered rows start going to PostgreSQL while the next messages are handled
(`UnitOfWork.flush_behind`), so PostgreSQL inserts them on the other core instead of all at the batch's end while
this loop waits. Off by default: measured as a gain for the requests service, and not for appointments, whose
batches update the same counter rows again and again (bench/README.md, issue 12's seventh pass)."""
YIELD_EVERY = 10
"""While rows are written behind, the loop gets a turn every this many messages (handlers that hit the cache never
yield): enough for the write's few round trips, far fewer than one a message, which cost more than it saved."""


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
    """What a handler may use: the transaction's unit of work, 'now', and a way to emit events caused by what it
    handles.

    `message` is the inbound CloudEvent; a timer firing has none, and carries the chain's correlation id.
    `uow` is the transaction's unit of work (shared.unit_of_work): repositories read and write through it; the
    consumer passes the batch's own, and a context built without one gets a fresh one.
    """

    session: AsyncSession
    now: datetime
    source: str
    correlationid: str | None
    causationid: str | None
    message: CloudEvent[Any] | None = None
    emitted: list[OutgoingRecord] = field(default_factory=list)
    decided: list[Decision] = field(default_factory=list)  # how each event emitted is counted (shared.metrics)
    settings: Any = None  # the service's own settings (each service reads its Settings type from here)
    unit: InitVar["UnitOfWork | None"] = None
    uow: UnitOfWork = field(init=False)

    def __post_init__(self, unit: UnitOfWork | None) -> None:
        self.uow = unit if unit is not None else UnitOfWork(self.session)

    @classmethod
    def of_message(cls, uow: UnitOfWork, now: datetime, source: str, message: CloudEvent[Any],
                   settings: Any = None) -> "MessageContext":
        return cls(uow.session, now, source, message.correlationid or message.id, message.id, message,
                   settings=settings, unit=uow)

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

    def refuse(self, topic: str, refusal: Refusal, *, subject: str | None = None, **named: str | None) -> None:
        """`reject_command` with a domain's `Refusal` (shared.refusal): one refusal vocabulary everywhere."""
        self.reject_command(topic, refusal.code.value, refusal.reason, facts=refusal.facts, subject=subject, **named)

    def emit(self, topic: str, data: Contract, *, subject: str) -> None:
        """Queues an event caused by what is handled. Its `data` was validated against the contract's bounds when
        built; a record larger than the contract allows is refused here (the handler fails, and the message that
        caused it is dead-lettered), never published."""
        value = encode_event(data, source=self.source, subject=subject, time=self.now,
                             correlationid=self.correlationid, causationid=self.causationid)
        record = OutgoingRecord.of_encoded(topic, subject, value, tracing.record_carrier())
        if len(record.value) > MAX_VALUE_BYTES:
            raise ValueError(f"{data.type_name()} would be {len(record.value)} bytes, more than the contract's "
                             f"{MAX_VALUE_BYTES}")
        self.emitted.append(record)
        self.decided.append(decision_of(data))


Handler = Callable[[MessageContext, Any], Awaitable[None]]
Routes = Mapping[str, Mapping["str | type[Contract]", Handler]]
"""topic -> the contract class (or its CloudEvent type name) -> the handler."""


@dataclass(frozen=True)
class Tables:
    inbox: Table
    outbox: Table
    schema: str
    commands: Table | None = None  # answered commands (shared.db.command_table); a consumer needs them


class BatchConsumer:
    """Applies records of a service's topics; `handlers` maps topic -> CloudEvent type -> handler.

    Contract types without a handler are acknowledged and ignored (a service reads only what concerns it).
    """

    def __init__(
        self,
        *,
        service: str,
        handlers: Routes,
        sessions: async_sessionmaker[AsyncSession],
        tables: Tables,
        clock: Clock,
        prepare: Prepare | None = None,
        settings: Any = None,
        metrics: ServiceMetrics | None = None,
        write_behind: int = 0,
    ) -> None:
        self.service = service
        self._write_behind = write_behind  # every this many messages, rows written behind the handlers (0: never)
        self._metrics = metrics
        self._prepare = prepare
        self.handlers = {topic: {route_type(key): handler for key, handler in by_type.items()}
                         for topic, by_type in handlers.items()}
        self._settings = settings
        self.codecs = {topic: codec(topic) for topic in self.handlers}
        for topic, by_type in self.handlers.items():
            unknown = set(by_type) - set(self.codecs[topic].models)
            if unknown:
                raise ValueError(f"{topic} carries no type {sorted(unknown)}")
        self._sessions = sessions
        self._tables = tables
        assert tables.commands is not None, "a consumer stores every command's answer (shared.db.command_table)"
        self._commands = tables.commands
        self._clock = clock
        self._source = f"postloan/{service}"
        self.stopping = False
        self.applied = 0  # messages whose effects this copy committed (the scaling tests read it)
        self.transient_retries = 0  # batches retried after a transient failure (tests wait on it, not on sleeps)

    async def process(self, records: Sequence[Record]) -> None:
        """Applies `records` exactly once each; returns only when their effects are committed.

        Never wedged, never silent: a record that cannot be decoded is dead-lettered (once, however often it is
        redelivered); any failure that is not transient redoes the batch message by message, each in a savepoint,
        so only the culprit is dead-lettered and every valid message of the batch is applied. Only transient
        failures (database or broker unreachable) are retried, with back-off, until they pass.
        Logs one INFO line per batch (per-message decisions are DEBUG; the audit trail is in the database).
        """
        started = time.perf_counter()
        decoded: list[tuple[Record, CloudEvent[Any]]] = []
        dead: list[tuple[Record, ErrorKind, str]] = []
        now = self._clock.now()
        for record in records:
            try:
                event = self.codecs[record.topic].decode(record.value, now=now)
            except UndecodableMessage as exc:
                dead.append((record, exc.kind, exc.detail))
                continue
            except Exception as exc:  # the decoder's promise broken: still this record's problem, not the batch's
                dead.append((record, ErrorKind.INVALID_DATA, type(exc).__name__))
                continue
            if principals.accepts(record.topic, event.source):
                decoded.append((record, event))
            else:  # a writer the contract does not name for this topic: applied by nobody, kept for inspection
                dead.append((record, ErrorKind.FORBIDDEN_SOURCE, _forbidden(record.topic)))
        tally = _Tally()
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(lambda e: is_transient(e) and not self.stopping),
            wait=wait_exponential_jitter(multiplier=0.2, max=10, jitter=0.2),
            stop=stop_never,
            before_sleep=self._retrying,
            reraise=True,
        ):
            with attempt:
                try:
                    tally = await self._apply(decoded, dead, isolate=False)
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    # Rare path: redo the batch with a savepoint per message so only the culprit is dead-lettered.
                    log.warning("batch_redone_message_by_message", error=type(exc).__name__)
                    tally = await self._apply(decoded, dead, isolate=True)
        seconds = time.perf_counter() - started
        if self._metrics is not None:
            tally.report(self._metrics, seconds)
        log.info("batch_applied", records=len(records), dead_lettered=len(dead),
                 types=dict(Counter(event.type for _, event in decoded)), ms=round(seconds * 1000, 1))

    def _retrying(self, state: Any) -> None:
        self.transient_retries += 1
        log.warning("transient_failure_retrying", attempt=state.attempt_number,
                    error=repr(state.outcome and state.outcome.exception())[:300])

    async def _apply(self, decoded: Sequence[tuple[Record, CloudEvent[Any]]],
                     dead: Sequence[tuple[Record, ErrorKind, str]], *, isolate: bool) -> "_Tally":
        """One attempt at the batch; returns what it did, for the metrics (reported only once it has committed)."""
        tally = _Tally()
        async with self._sessions.begin() as session:
            out = await self._dead_letters(session, dead, tally)
            answers = _Answers(self._commands)
            if isolate:
                out += await self._apply_each(session, decoded, answers, tally)
            else:
                out += await self._apply_batch(session, decoded, answers, tally)
            await outbox.add(session, self._tables.outbox, out)
        self.applied += len(decoded)
        return tally

    async def _apply_batch(self, session: AsyncSession, decoded: Sequence[tuple[Record, CloudEvent[Any]]],
                           answers: "_Answers", tally: "_Tally") -> list[OutgoingRecord]:
        """The fast path: one inbox claim, one unit of work (preloaded by the service's `prepare`) shared by every
        handler, the buffered rows written at the end (or behind the handlers every `write_behind` messages), one
        write of the answers."""
        claimed = await self._claim(session, [(record.topic, event.source, event.id) for record, event in decoded])
        todo = []
        for record, event in decoded:
            if (event.source, event.id) not in claimed:
                log.info("duplicate_skipped", event_id=event.id, **_coords(record))
                tally.outcome(record, event, "duplicate")
                continue
            claimed.discard((event.source, event.id))  # a second copy inside the same batch is a duplicate too
            if (handler := self.handlers[record.topic].get(event.type)) is not None:
                todo.append((record, event, handler))
            else:
                tally.outcome(record, event, "ignored")
        await answers.load(session, [event for _, event, _ in todo])
        uow = UnitOfWork(session)
        fresh = [(r.topic, e) for r, e, _ in todo if not answers.replays(e)]
        if self._prepare is not None and fresh:
            await self._prepare(uow, fresh)
        out: list[OutgoingRecord] = []
        try:
            for n, (record, event, handler) in enumerate(todo, 1):
                if (previous := answers.previous(event)) is not None:
                    log.info("command_replayed", command_id=event.data.command_id, **_coords(record))
                    tally.outcome(record, event, "replayed")
                    out.extend(previous)
                    continue
                ctx = await self._handle(uow, handler, record, event)
                tally.applied(record, event, ctx)
                out.extend(ctx.emitted)
                answers.remember(event, ctx.emitted)
                if self._write_behind and n % self._write_behind == 0:
                    await uow.settle()
                    uow.flush_behind()
                if uow.writing_behind and n % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # a turn of the loop: the write behind sends its rows, reads the answer
            await uow.flush()
        except BaseException:
            await uow.abandon()
            raise
        await answers.store(session)
        return out

    async def _apply_each(self, session: AsyncSession, decoded: Sequence[tuple[Record, CloudEvent[Any]]],
                          answers: "_Answers", tally: "_Tally") -> list[OutgoingRecord]:
        """The isolated path: each message's claim, handler and answer in a savepoint (and a unit of work) of its
        own. A message whose rows meet a unique key held by a concurrent writer is redone once: it then reads the
        other writer's row and decides on it."""
        await answers.load(session, [event for _, event in decoded])
        out: list[OutgoingRecord] = []
        for record, event in decoded:
            for attempt in (1, 2):
                try:
                    out += await self._apply_one(session, record, event, answers, tally)
                except UniqueConflict as exc:
                    if attempt == 1:
                        log.info("message_redone_after_conflict", error=str(exc)[:300], **_coords(record))
                        continue
                    out += await self._failed(session, record, exc, event, tally)
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    out += await self._failed(session, record, exc, event, tally)
                break
        return out

    async def _apply_one(self, session: AsyncSession, record: Record, event: CloudEvent[Any],
                         answers: "_Answers", tally: "_Tally") -> list[OutgoingRecord]:
        handler = self.handlers[record.topic].get(event.type)
        try:
            async with session.begin_nested():
                if not await self._claim(session, [(record.topic, event.source, event.id)]):
                    log.info("duplicate_skipped", event_id=event.id, **_coords(record))
                    tally.outcome(record, event, "duplicate")
                    return []
                if (previous := answers.previous(event)) is not None:
                    tally.outcome(record, event, "replayed")
                    return previous
                if handler is None:
                    tally.outcome(record, event, "ignored")
                    return []
                uow = UnitOfWork(session)
                ctx = await self._handle(uow, handler, record, event)
                await uow.flush()
                if not await answers.store_one(session, event, ctx.emitted):
                    raise _AnsweredMeanwhile
                tally.applied(record, event, ctx)
                return ctx.emitted
        except _AnsweredMeanwhile:
            # Another copy answered the same command (under another envelope id) while we decided: theirs stands.
            log.info("command_replayed", command_id=event.data.command_id)
            tally.outcome(record, event, "replayed")
            return await answers.fetch(session, event.data.command_id)

    async def _failed(self, session: AsyncSession, record: Record, exc: Exception, event: CloudEvent[Any],
                      tally: "_Tally") -> list[OutgoingRecord]:
        log.error("handler_failed_dead_lettered", error=repr(exc)[:300], exc_info=exc, **_coords(record))
        return await self._dead_letters(session, [(record, ErrorKind.PROCESSING_FAILED, repr(exc))], tally,
                                        event.type)

    async def _handle(self, uow: UnitOfWork, handler: Handler, record: Record,
                      event: CloudEvent[Any]) -> MessageContext:
        """Runs one handler; returns its context (what it emitted and decided)."""
        ctx = MessageContext.of_message(uow, self._clock.now(), self._source, event, self._settings)
        with log_context(
            event_id=event.id, event_type=event.type, correlation_id=event.correlationid,
            causation_id=event.causationid, **_coords(record),
        ), tracing.consuming(record.topic, record.partition, record.offset, event, record.headers):
            await handler(ctx, event.data)
        return ctx

    async def _dead_letters(self, session: AsyncSession, dead: Sequence[tuple[Record, ErrorKind, str]],
                            tally: "_Tally", type_: str = "") -> list[OutgoingRecord]:
        """Dead-letter copies of `dead`, each recorded in the inbox by its coordinates: a record redelivered
        (the offsets had not been committed) is not dead-lettered a second time. A dead letter put back on its
        topic (`postloan dlq replay`) has new coordinates and is processed afresh."""
        if not dead:
            return []
        fresh = await self._claim(session, [(r.topic, DEAD_LETTER_SOURCE, _coordinates(r)) for r, _, _ in dead])
        out = []
        for record, kind, detail in dead:
            if (DEAD_LETTER_SOURCE, _coordinates(record)) in fresh:
                log.warning("message_dead_lettered", kind=str(kind), error=detail[:300], **_coords(record))
                out.append(dead_letter(record, kind, detail))
                tally.dead_lettered(record.topic, type_, kind)
            else:
                tally.counts[(record.topic, type_, "duplicate")] += 1
        return out

    async def _claim(self, session: AsyncSession, ids: Sequence[tuple[str, str, str]]) -> set[tuple[str, str]]:
        """Records the (topic, source, id) triples in the inbox; returns the (source, id) pairs seen for the first
        time (CloudEvents: source and id together identify a message)."""
        if not ids:
            return set()
        unique = {(source, message_id): topic for topic, source, message_id in ids}
        # Three array parameters whatever the batch size: one round trip, one cached statement.
        stmt = text(
            f'INSERT INTO "{self._tables.schema}".inbox (source, message_id, topic) '
            "SELECT * FROM unnest(CAST(:sources AS text[]), CAST(:ids AS text[]), CAST(:topics AS text[])) "
            "ON CONFLICT (source, message_id) DO NOTHING RETURNING source, message_id"
        )
        result = await session.execute(stmt, {"sources": [s for s, _ in unique], "ids": [i for _, i in unique],
                                               "topics": list(unique.values())})
        return {(source, message_id) for source, message_id in result.all()}


def route_type(key: "str | type[Contract]") -> str:
    """A route's key as its CloudEvent type: routes name contract classes (or, for old callers, type names)."""
    return key if isinstance(key, str) else key.type_name()


def _forbidden(topic: str) -> str:
    # The header names the rule, never the value that broke it (as for every dead letter); the record has it.
    return f"the source is not one of the writers of {topic} ({', '.join(principals.sources(topic))})"


DEAD_LETTER_SOURCE = "dead-letter"  # the inbox's source for records dead-lettered by their coordinates


def _coordinates(record: Record) -> str:
    return f"{record.topic}/{record.partition}/{record.offset}"


class _Tally:
    """What one attempt at a batch did, for the metrics: added to them only once that attempt has committed (a
    batch redone after a failure is counted once). An undecodable record's type is "" (never the stranger's
    text); a decoded record's type is one of its topic's contract types."""

    def __init__(self) -> None:
        self.counts: Counter[Outcome] = Counter()
        self.dead: Counter[tuple[str, str]] = Counter()
        self.decided: list[Decision] = []
        self.commands: list[tuple[str, int]] = []

    def outcome(self, record: Record, event: CloudEvent[Any], outcome: str) -> None:
        self.counts[(record.topic, event.type, outcome)] += 1

    def applied(self, record: Record, event: CloudEvent[Any], ctx: MessageContext) -> None:
        self.counts[(record.topic, event.type, "applied")] += 1
        self.decided += ctx.decided
        if isinstance(event.data, Command) and (at_ms := record_timestamp_ms(record)) is not None:
            self.commands.append((event.type, at_ms))

    def dead_lettered(self, topic: str, type_: str, kind: ErrorKind) -> None:
        self.counts[(topic, type_, "dead_lettered")] += 1
        self.dead[(topic, str(kind))] += 1

    def report(self, metrics: ServiceMetrics, seconds: float) -> None:
        metrics.count_consumed(self.counts)
        for (topic, kind), n in self.dead.items():
            metrics.dead_letters.labels(topic, kind).inc(n)
        metrics.count_decided(self.decided)
        metrics.observe_commands(self.commands)
        metrics.batch_duration.observe(seconds)


class _AnsweredMeanwhile(Exception):
    """A concurrent copy stored an answer for the same command first; this handling is rolled back."""


def _command_id(event: CloudEvent[Any]) -> str | None:
    return event.data.command_id if isinstance(event.data, Command) else None


class _Answers:
    """SPEC §10: every command is idempotent by `command_id`, refusals included. The first handling's records
    are stored with the command; a replay (any envelope id) is answered with those same records, so consumers,
    who de-duplicate on the event id, see no second effect and send no second notification."""

    def __init__(self, table: Table) -> None:
        self._table = table
        self._stored: dict[str, list[OutgoingRecord]] = {}
        self._new: dict[str, tuple[str, list[OutgoingRecord]]] = {}

    async def load(self, session: AsyncSession, events: Sequence[CloudEvent[Any]]) -> None:
        ids = sorted({cid for e in events if (cid := _command_id(e)) is not None})
        if not ids:
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
        if cid is None:
            return None
        if cid in self._stored:
            return self._stored[cid]
        return self._new[cid][1] if cid in self._new else None

    def remember(self, event: CloudEvent[Any], emitted: list[OutgoingRecord]) -> None:
        if (cid := _command_id(event)) is not None:
            self._new[cid] = (event.type, list(emitted))

    async def store(self, session: AsyncSession) -> None:
        """Writes the batch's new answers with one COPY; a conflict means a concurrent copy answered one of the
        commands meanwhile: the batch is redone in isolation, where that command gets the other copy's answer."""
        if not self._new:
            return
        rows = [{"command_id": cid, "command_type": kind, "answer": outbox.pack(records)}
                for cid, (kind, records) in self._new.items()]
        try:  # the whole transaction is redone on a conflict, so no savepoint is needed here
            await copy_rows(session, self._table, rows)
        except Exception as exc:
            if sqlstate(exc) == "23505":
                raise UniqueConflict("a command was answered by a concurrent copy") from exc
            raise

    async def store_one(self, session: AsyncSession, event: CloudEvent[Any], emitted: list[OutgoingRecord]) -> bool:
        if (cid := _command_id(event)) is None:
            return True
        self._new[cid] = (event.type, list(emitted))
        return await self._insert(session, [cid], [event.type], [emitted]) == 1

    async def fetch(self, session: AsyncSession, command_id: str) -> list[OutgoingRecord]:
        answer = await session.scalar(select(self._table.c.answer).where(self._table.c.command_id == command_id))
        records = outbox.unpack(answer or b"")
        self._stored[command_id] = records
        return records

    async def _insert(self, session: AsyncSession, ids: list[str], types: list[str],
                      answers: list[list[OutgoingRecord]]) -> int:
        stmt = text(
            f'INSERT INTO "{self._table.schema}".commands (command_id, command_type, answer) '
            "SELECT * FROM unnest(CAST(:ids AS text[]), CAST(:types AS text[]), CAST(:answers AS bytea[])) "
            "ON CONFLICT (command_id) DO NOTHING RETURNING command_id"
        )
        params = {"ids": ids, "types": types, "answers": [outbox.pack(a) for a in answers]}
        return len((await session.execute(stmt, params)).all())



def dead_letter(record: Record, kind: ErrorKind, error: str) -> OutgoingRecord:
    """The record's key and value, byte for byte, addressed to its dead-letter topic with headers saying why.

    The original headers come along as text (at most 32, each value cut to 1,000 characters, NUL and undecodable
    bytes escaped) and the error is cut to 500 characters: a dead letter never carries a hostile header whole."""
    original = tuple((_header_text(k)[:128], _header_text(v)[:1000]) for k, v in list(record.headers or ())[:32])
    reason = (
        ("x-error-kind", str(kind)),
        ("x-error", _header_text(error)[:500]),
        ("x-original-topic", record.topic),
        ("x-original-partition", str(record.partition)),
        ("x-original-offset", str(record.offset)),
    )
    return OutgoingRecord(topics.dlq(record.topic), record.key, record.value or b"", original + reason)


def _header_text(value: str | bytes | None) -> str:
    text_ = value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else (value or "")
    return text_.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


def _coords(record: Record) -> dict[str, Any]:
    return {"topic": record.topic, "partition": record.partition, "offset": record.offset}

