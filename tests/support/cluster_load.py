"""Load for the fault tests on the three-broker cluster, and what they check afterwards.

Commands are debit-day changes on single-borrower loans, built and enveloped as bench/requests_throughput.py does;
every answer the requests service writes to requests.events is counted per command (`AnswerCounter`), and what the
service stored is counted per command in its database (`stored_effects`).
"""

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from types import TracebackType
from typing import Any, Self

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from bench.requests_throughput import envelopes, produce
from harness.builders import a_debit_day_change, a_loan
from harness.infra import Infra
from shared import topics
from shared.contracts.loans import LoanSnapshot
from shared.kafka_admin import partitions_of
from shared.lag import lag_now
from tests.support.wait import eventually

ANSWERS = frozenset({"RequestSubmitted", "RequestRejected"})  # what answers a command (CONTRACT: carries command_id)
GROUP = "postloan.requests"  # the requests service's consumer group (settings.consumer_group)


def unless_unreachable(check: Callable[[], Awaitable[bool]]) -> Callable[[], Awaitable[bool]]:
    """`check`, answering "not yet" while the cluster does not (a client may pick the killed broker to ask)."""
    async def checked() -> bool:
        try:
            return await check()
        except KafkaError:
            return False

    return checked


def admin_dsn(infra: Infra) -> str:
    return infra.database_url.replace("postgresql+asyncpg://", "postgresql://")


async def seeded_loans(infra: Infra, count: int) -> list[LoanSnapshot]:
    """`count` single-borrower loans published as core banking would, returned once the requests service (running)
    has projected every one."""
    loans = [a_loan(loan_id=f"LK-{uuid.uuid4().hex[:12]}", debit_day=25, next_due_date=date(2020, 2, 25))
             for _ in range(count)]
    await produce(infra.kafka_as(), topics.LOANS_SNAPSHOTS,
                  envelopes(topics.LOANS_SNAPSHOTS, [(x, x.loan_id) for x in loans]))
    ids = [x.loan_id for x in loans]
    conn = await asyncpg.connect(admin_dsn(infra))
    try:
        async def projected() -> bool:
            known = await conn.fetchval("SELECT count(*) FROM requests.loans WHERE loan_id = ANY($1)", ids)
            return bool(known == count)

        await eventually(projected, timeout=120, what=f"{count} loans projected")
    finally:
        await conn.close()
    return loans


@dataclass(frozen=True)
class Commands:
    """One SubmitDebitDayChange per loan, as (key, CloudEvent) records, with their command and event ids."""

    records: list[tuple[bytes, bytes]]
    command_ids: list[str]
    event_ids: list[str]

    @classmethod
    def for_loans(cls, loans: list[LoanSnapshot]) -> "Commands":
        commands = [a_debit_day_change(x, 20) for x in loans]
        records = envelopes(topics.REQUESTS_COMMANDS, [(c, c.loan_id) for c in commands])
        return cls(records, [c.command_id for c in commands], [json.loads(v)["id"] for _, v in records])


async def send_paced(infra: Infra, records: list[tuple[bytes, bytes]], per_second: float, chunk: int = 50) -> float:
    """Sends `records` (acks=all, idempotent) at about `per_second`, so that they are still flowing when a broker
    dies; returns the seconds the last acknowledgement took to come."""
    producer = AIOKafkaProducer(**infra.kafka_as().client_kwargs(), acks="all", enable_idempotence=True, linger_ms=5)
    await producer.start()
    started = time.monotonic()
    try:
        pending = []
        for i in range(0, len(records), chunk):
            pending += [await producer.send(topics.REQUESTS_COMMANDS, v, key=k) for k, v in records[i:i + chunk]]
            await asyncio.sleep(max(0.0, started + (i + chunk) / per_second - time.monotonic()))
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.monotonic() - started


@dataclass
class AnswerCounter:
    """Reads requests.events from its end at the start and counts, per command of `command_ids`, the answers
    (RequestSubmitted or RequestRejected carrying its command_id) and, per request so answered, its RequestApproved."""

    infra: Infra
    command_ids: set[str]
    answers: Counter[str] = field(default_factory=Counter)
    approvals: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    event_ids: Counter[str] = field(default_factory=Counter)
    last_answer_at: float = 0.0  # time.monotonic() of the last first answer seen
    positions: dict[TopicPartition, int] = field(default_factory=dict)
    _requests: set[str] = field(default_factory=set)
    _consumer: AIOKafkaConsumer | None = None
    _task: "asyncio.Task[None] | None" = None

    async def __aenter__(self) -> Self:
        self._consumer = AIOKafkaConsumer(**self.infra.kafka_as().client_kwargs(), enable_auto_commit=False,
                                          max_partition_fetch_bytes=8 << 20)
        await self._consumer.start()
        parts = await partitions_of(self._consumer, [topics.REQUESTS_EVENTS])
        self._consumer.assign(parts)
        for tp, offset in (await self._consumer.end_offsets(parts)).items():
            self._consumer.seek(tp, offset)
            self.positions[tp] = offset
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()

    async def _read(self) -> None:
        assert self._consumer is not None
        while True:
            batch = await self._consumer.getmany(timeout_ms=200, max_records=5000)
            for tp, records in batch.items():
                for r in records:
                    self._count(json.loads(r.value))
                    self.positions[tp] = r.offset + 1

    def _count(self, event: dict[str, Any]) -> None:
        data = event.get("data") or {}
        if event["type"] in ANSWERS and data.get("command_id") in self.command_ids:
            if not self.answers[data["command_id"]]:
                self.last_answer_at = time.monotonic()
            self.answers[data["command_id"]] += 1
            self._requests.add(data["request_id"])
        elif event["type"] == "RequestApproved" and data.get("request_id") in self._requests:
            self.approvals[data["request_id"]] += 1
        else:
            return
        self.kinds[event["type"]] += 1
        self.event_ids[event["id"]] += 1

    @property
    def answered(self) -> int:
        return len(self.answers)

    @property
    def duplicates(self) -> int:
        """Records beyond the first of an answer or an approval (the same event again, or a second one)."""
        return sum(n - 1 for n in (*self.answers.values(), *self.approvals.values()))

    async def until_answered(self, count: int, timeout: float) -> None:
        async def enough() -> bool:
            return self.answered >= count

        await eventually(enough, timeout=timeout, what=f"{count} commands answered")

    async def until_read_to_end(self, timeout: float) -> None:
        """Returns once it has read every record requests.events holds now."""
        assert self._consumer is not None
        ends = await self._consumer.end_offsets(list(self.positions))

        async def at_end() -> bool:
            return all(self.positions[tp] >= end for tp, end in ends.items())

        await eventually(at_end, timeout=timeout, what="requests.events read to its end")


async def drained(infra: Infra, timeout: float) -> None:
    """Returns once the requests service has nothing left to do or to say: its group has committed every command
    (lag 0 on requests.commands) and its outbox has nothing unsent. After this no answer can still come."""
    conn = await asyncpg.connect(admin_dsn(infra))
    try:
        async def idle() -> bool:
            unsent = await conn.fetchval("SELECT count(*) FROM requests.outbox WHERE sent_at IS NULL")
            return unsent == 0 and await lag_now(infra.kafka_as(), {GROUP: (topics.REQUESTS_COMMANDS,)}) == 0

        await eventually(unless_unreachable(idle), timeout=timeout,
                         what="the requests service drained (lag 0, outbox sent)")
    finally:
        await conn.close()


@dataclass(frozen=True)
class Effects:
    requests: Counter[str]  # request rows per command id
    inbox: int  # inbox rows of the commands' events
    parked: int  # outbox rows the relay gave up on


async def stored_effects(infra: Infra, commands: Commands) -> Effects:
    conn = await asyncpg.connect(admin_dsn(infra))
    try:
        rows = await conn.fetch("SELECT command_id FROM requests.requests WHERE command_id = ANY($1)",
                                commands.command_ids)
        inbox = await conn.fetchval("SELECT count(*) FROM requests.inbox WHERE message_id = ANY($1)",
                                    commands.event_ids)
        parked = await conn.fetchval("SELECT count(*) FROM requests.outbox_parked")
    finally:
        await conn.close()
    return Effects(Counter(r["command_id"] for r in rows), inbox, parked)
