"""The outbox relay: publishes a service's outbox rows to Kafka in id order and marks them sent.

Exactly one relay per service is active (a PostgreSQL session advisory lock); the others wait and take
over when its connection goes. It wakes on NOTIFY from committing writers, or on a short poll.
Publishing is at-least-once (a crash between publish and mark repeats rows); consumers de-duplicate on
the CloudEvent id. A row the broker refuses for a reason that will not go away (too large for its topic,
topic unknown, not serializable) is parked in `outbox_parked` with its error and the rows behind it go on;
any other failure (broker unreachable, timeouts, no leader, too few replicas) is retried for as long as it lasts.
"""

import asyncio
import contextlib
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidTimestampError,
    InvalidTopicError,
    KafkaConnectionError,
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    RecordTooLargeError,
    UnknownTopicOrPartitionError,
)
from aiokafka.protocol.metadata import MetadataRequest
from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared import outbox, tracing
from shared.db import is_transient, notify_channel, outbox_parked_table
from shared.kafka_admin import DLQ_MAX_MESSAGE_BYTES
from shared.kafka_security import KafkaAccess
from shared.logging import Logger
from shared.metrics import ServiceMetrics
from shared.produce_batches import Alone, Batch, Pipeline

log = Logger("postloan.relay")

# What the broker (or the producer, before sending) says about a record itself: sending it again cannot help.
# Everything else (unreachable broker, timeouts, no leader, too few replicas, authorization) is retried.
_REFUSALS: tuple[tuple[type[BaseException], str], ...] = (
    (MessageSizeTooLargeError, "too_large"),
    (RecordListTooLargeError, "too_large"),
    (RecordTooLargeError, "too_large"),
    (InvalidTopicError, "unknown_topic"),
    (CorruptRecordException, "invalid_record"),
    (InvalidTimestampError, "invalid_record"),
)
TOPIC_RECHECK_S = 1.0  # a topic missing from the metadata is looked for once more after this, then its rows park
_TOPIC_ERRORS = {UnknownTopicOrPartitionError.errno: "no such topic", InvalidTopicError.errno: "not a valid topic name"}


@dataclass(frozen=True, slots=True)
class Refusal:
    """The broker's (or the producer's) permanent no to one record. `certain` when the record alone caused it;
    otherwise it came back for a produce batch, and the record is sent again alone before it is parked."""

    kind: str
    error: str
    certain: bool

    @classmethod
    def of(cls, exc: BaseException, *, certain: bool) -> "Refusal | None":
        kind = next((k for cls_, k in _REFUSALS if isinstance(exc, cls_)), None)
        return None if kind is None else cls(kind, f"{type(exc).__name__}: {exc}", certain)


Outcome = Refusal | BaseException | None  # None: published


class OutboxRelay:
    def __init__(
        self,
        *,
        engine: AsyncEngine,
        table: Table,
        schema: str,
        kafka: KafkaAccess,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        parked: Table | None = None,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._engine = engine
        self._table = table
        self._parked = parked if parked is not None else outbox_parked_table(table.metadata)
        self._schema = schema
        self._kafka = kafka
        self._batch_size = batch_size
        self._poll = poll_interval
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._probe: AIOKafkaProducer | None = None
        self._known_topics: set[str] = set()
        self.active = False
        self.published = 0
        self.parked = 0  # rows this relay moved to outbox_parked
        self.lock_refused = 0  # times this copy found another copy leading (tests wait on it, not on sleeps)
        self.interruptions = 0  # failures waited out (broker or database unreachable, ...): retried, never parked
        self._mark_sent = text(
            f'UPDATE "{table.schema}".{table.name} SET sent_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))'
        )

    async def run(self) -> None:
        """Runs until `stop()`; failures of Kafka or PostgreSQL are waited out, never fatal."""
        backoff = 0.2
        while not self._stopping.is_set():
            try:
                async with self._engine.connect() as conn:
                    await self._lead_if_free(conn)
                backoff = 0.2
            except Exception as exc:
                self.interruptions += 1
                level = "warning" if is_transient(exc) or isinstance(exc, KafkaError) else "error"
                getattr(log, level)("relay_interrupted", error=repr(exc)[:500])
                await self._sleep(backoff)
                backoff = min(backoff * 2, 10)

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def _lead_if_free(self, conn: AsyncConnection) -> None:
        lock = zlib.crc32(f"{self._schema}.outbox-relay".encode())
        got = await conn.scalar(select(func.pg_try_advisory_lock(lock)))
        await conn.commit()
        if not got:
            self.lock_refused += 1
            await self._sleep(self._poll * 2)  # another copy leads; look again later
            return
        raw = (await conn.get_raw_connection()).driver_connection
        if raw is None:  # SQLAlchemy's pool invalidated the connection under us: the next round reconnects
            raise RuntimeError("the relay's connection has no driver connection")
        channel = notify_channel(self._schema)
        try:
            self._producer = await self._started(self._new_producer())
            self._known_topics.clear()
            await raw.add_listener(channel, self._on_notify)
            self.active = True
            log.info("relay_leading", schema=self._schema)
            while not self._stopping.is_set():
                if await self._publish_round(conn) < self._batch_size:
                    await self._sleep(self._poll)
        finally:
            self.active = False
            for producer in (self._producer, self._probe):
                if producer is not None:
                    await producer.stop()
            self._producer = self._probe = None
            if not raw.is_closed():
                await raw.remove_listener(channel, self._on_notify)
                # The connection goes back to the pool: the session lock must not go with it.
                await conn.scalar(select(func.pg_advisory_unlock(lock)))
                await conn.commit()

    def _new_producer(self, *, idempotent: bool = True) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **self._kafka.client_kwargs(), acks="all", enable_idempotence=idempotent, linger_ms=5,
            max_batch_size=256 * 1024,  # fewer, fuller produce requests when a round sends thousands of rows
            max_request_size=DLQ_MAX_MESSAGE_BYTES + 65536,  # a dead letter may carry a record of the broker's limit
        )

    @staticmethod
    async def _started(producer: AIOKafkaProducer) -> AIOKafkaProducer:
        try:
            await producer.start()
        except BaseException:
            await producer.stop()
            raise
        return producer

    async def _publish_round(self, conn: AsyncConnection) -> int:
        """Publishes up to a batch of unsent rows; returns how many left the unsent set (sent or parked), or the
        batch size when the round stopped early and should be followed at once."""
        self._wake.clear()
        rows = await outbox.pending(conn, self._table, self._batch_size)
        await conn.commit()
        if not rows:
            return 0
        missing = await self._missing_topics({r.topic for r in rows})
        outcomes = await self._send_all(rows, missing)
        sent: list[int] = []
        parked: dict[int, Refusal] = {}
        suspects = []
        failure: BaseException | None = None
        for row, outcome in zip(rows, outcomes, strict=False):  # outcomes stop at a failure met while sending
            if outcome is None:
                sent.append(row.id)
            elif isinstance(outcome, Refusal) and outcome.certain:
                parked[row.id] = outcome
            elif isinstance(outcome, Refusal):
                suspects.append(row)
            else:
                failure = outcome  # keep id order: nothing after a row that failed for now is marked sent
                break
        try:
            if suspects:
                await self._resend_alone(suspects, sent, parked)
        finally:
            await self._settle(conn, rows, sent, parked)
        if suspects:
            # A failure behind refused batches is most likely theirs (the partition's next batch is out of
            # sequence): the fresh producer goes again at once, and a failure that stays is raised then.
            return self._batch_size
        if failure is not None:
            raise failure
        return len(sent) + len(parked)

    async def _resend_alone(self, suspects: Sequence[outbox.Pending], sent: list[int],
                            parked: dict[int, Refusal]) -> None:
        """The broker refused produce batches: this producer's sequence numbers for their partitions are spent, so
        it is replaced; each refused record goes again alone, so only the culprit of a batch is parked."""
        await self._replace_producer()
        for row in suspects:
            outcome = await self._send_alone(row)
            if isinstance(outcome, BaseException):
                raise outcome
            if outcome is None:
                sent.append(row.id)
            else:
                parked[row.id] = outcome

    async def _send_all(self, rows: Sequence[outbox.Pending], missing: dict[str, str]) -> list[Outcome]:
        """Sends `rows` in produce batches (shared.produce_batches); the outcome of each, up to a failure that is not
        a refusal (after which nothing more is sent this round). Each record carrying a recorded trace's context has
        a publish span, ended with its outcome; or, when the round is cancelled (a stop that waited 10 s for it),
        with that."""
        spans: dict[int, tracing.Publishing] = {}  # slot index -> its publish span (records carrying a trace context)
        try:
            outcomes = await self._sent(rows, missing, spans)
        except BaseException as exc:
            for started in spans.values():
                tracing.published(started, exc)
            raise
        for at, started in spans.items():
            outcome = outcomes[at]
            tracing.published(started, outcome.kind if isinstance(outcome, Refusal) else outcome)
        return outcomes

    async def _sent(self, rows: Sequence[outbox.Pending], missing: dict[str, str],
                    spans: dict[int, tracing.Publishing]) -> list[Outcome]:
        """`_send_all`'s work: the publish spans it starts go into `spans`, for it to end."""
        assert self._producer is not None
        pipeline = Pipeline(self._producer)
        slots: list[Outcome | Batch | Alone] = []
        for row in rows:
            if row.topic in missing:
                slots.append(Refusal("unknown_topic", f"topic {row.topic!r}: {missing[row.topic]}", certain=True))
                continue
            try:
                headers = outbox.headers_of_text(row.headers)
            except (TypeError, ValueError, AttributeError) as exc:
                slots.append(Refusal("serialization", f"{type(exc).__name__}: {exc}", certain=True))
                continue
            if (started := tracing.publishing(row.topic, headers)) is not None:
                spans[len(slots)] = started
            try:
                slots.append(await pipeline.add(row.topic, row.key, row.value, headers))
            except Exception as exc:  # refused before it left (larger than any request), or a failure for now
                refusal = Refusal.of(exc, certain=True)
                slots.append(refusal or exc)
                if refusal is None:
                    pipeline.stop(exc)
                    break
        await pipeline.close()
        if pipeline.failure is not None:  # a topic deleted meanwhile, say: this round's are looked up again next round
            self._known_topics -= {row.topic for row in rows}
        judged: dict[int, Outcome] = {}  # id of a Batch or Alone -> its outcome, awaited once for all its records
        outcomes: list[Outcome] = []
        for slot in slots:
            if isinstance(slot, Batch | Alone):
                if id(slot) not in judged:
                    judged[id(slot)] = await self._judged(slot)
                slot = judged[id(slot)]
            outcomes.append(slot)
        return outcomes

    @staticmethod
    async def _judged(sending: Batch | Alone) -> Outcome:
        """The outcome of a batch's (or a lone record's) delivery, awaited in turn: the deliveries of a produce
        request end together, so most are done by the time they are looked at."""
        if sending.failure is not None:  # never sent: what stopped the round
            return Refusal.of(sending.failure, certain=False) or sending.failure
        assert sending.future is not None
        try:
            await sending.future
        except asyncio.CancelledError as exc:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise  # this round is being cancelled, not only the delivery
            return exc  # the producer was stopped under it: a failure for now, as any other
        except Exception as exc:
            return Refusal.of(exc, certain=False) or exc
        return None

    async def _send_alone(self, row: outbox.Pending) -> Outcome:
        """One record on a producer without sequence numbers, so a refusal spoils nothing sent after it."""
        if self._probe is None:
            self._probe = await self._started(self._new_producer(idempotent=False))
        try:
            headers = outbox.headers_of_text(row.headers)
            await (await self._probe.send(row.topic, row.value, key=row.key, headers=headers))
        except Exception as exc:
            return Refusal.of(exc, certain=True) or exc
        return None

    async def _replace_producer(self) -> None:
        old, self._producer = self._producer, None
        if old is not None:
            await old.stop()
        self._producer = await self._started(self._new_producer())

    async def _missing_topics(self, names: set[str]) -> dict[str, str]:
        """Topics among `names` the cluster does not have (auto-creation is off: their rows could never go),
        after a second look, with why; raises when no broker answers (then nothing is decided)."""
        unknown = names - self._known_topics
        if not unknown:
            return {}
        missing = await self._absent(unknown)
        if missing:
            await asyncio.sleep(TOPIC_RECHECK_S)  # a topic just created may not be in every broker's metadata yet
            missing = await self._absent(set(missing))
        self._known_topics |= unknown - set(missing)
        return missing

    async def _absent(self, names: set[str]) -> dict[str, str]:
        """The topics among `names` a broker says do not exist or cannot (invalid names), with why. Any other
        answer about a topic (no leader yet, not authorized) decides nothing: its rows are sent and retried."""
        assert self._producer is not None
        client = self._producer.client
        node = client.get_random_node()
        if node is None:
            raise KafkaConnectionError("no broker known to ask for topic metadata")
        # allow_auto_topic_creation=False: asking must never create a topic, whatever the broker's setting.
        response = await client.send(node, MetadataRequest(sorted(names), allow_auto_topic_creation=False))
        return {topic: _TOPIC_ERRORS[code] for code, topic, *_ in response.topics if code in _TOPIC_ERRORS}

    async def _settle(self, conn: AsyncConnection, rows: Sequence[outbox.Pending], sent: list[int],
                      parked: dict[int, Refusal]) -> None:
        """Marks `sent` and moves `parked` to outbox_parked in one transaction, then raises the alerts."""
        if not sent and not parked:
            return
        if sent:
            # One array parameter: the statement stays the same (and cached) whatever the number of rows.
            await conn.execute(self._mark_sent, {"ids": sent})
        moved = await outbox.park(conn, self._table, self._parked,
                                  {i: f"{r.kind}: {r.error}" for i, r in parked.items()})
        await conn.commit()
        self.published += len(sent)
        self.parked += len(moved)
        if self._metrics is not None:
            self._metrics.relay_published.inc(len(sent))
            self._metrics.relay_parked.inc(len(moved))
        topics = {r.id: r.topic for r in rows}
        for row_id in moved:
            log.error("outbox_row_parked", topic=topics[row_id], id=row_id, error_kind=parked[row_id].kind,
                      error=parked[row_id].error[:300])

    def _on_notify(self, *_: Any) -> None:
        self._wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)
