"""Storage of the confirmation service (schema `confirmation`): contacts, requests it confirms, call tasks and
their attempts, and the paper-document ledger. Repositories never commit: the caller's transaction does."""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.confirmation.domain import CallRecord, Paper, PaperState, Task, TaskState
from shared.db import messaging_tables
from shared.timers import timer_table

SCHEMA = "confirmation"
metadata = MetaData(schema=SCHEMA)
inbox, outbox = messaging_tables(metadata)
timers = timer_table(metadata)

ContactRow = Table(
    "contacts", metadata,
    Column("customer_id", Text, primary_key=True),
    Column("phone", Text, nullable=False),  # the number the agent calls; never logged
    Column("as_of", DateTime(timezone=True), nullable=False),
)
LoanRow = Table(
    "loans", metadata,
    Column("loan_id", Text, primary_key=True),
    Column("branch_id", Text, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
)
RequestRow = Table(
    "requests", metadata,
    Column("request_id", Text, primary_key=True),
    Column("loan_id", Text, nullable=False),
    Column("applicant_customer_id", Text, nullable=False),
    Column("deadline", Date, nullable=False),
    Column("open", Boolean, nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("branch_id", Text),  # the loan's, as the request carried it (NULL on rows from before 0004)
    Column("confirmation_attempts", Integer),  # calls allowed per co-borrower (NULL on rows from before 0004)
)
TaskRow = Table(
    "tasks", metadata,
    Column("task_id", Text, primary_key=True),
    Column("request_id", Text, nullable=False),
    Column("loan_id", Text, nullable=False),
    Column("customer_id", Text, nullable=False),
    Column("due_by", Date, nullable=False),
    Column("state", Text, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("held_by", Text),
    Column("lease_until", DateTime(timezone=True)),
    Column("available_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("max_attempts", Integer),  # from the request; NULL on tasks from before 0004 (the setting applies)
    UniqueConstraint("request_id", "customer_id", name="one_task_per_co_borrower"),
    Index("tasks_queue", "due_by", "created_at", postgresql_where=text("state = 'OPEN'")),
)
AttemptRow = Table(
    "attempts", metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    Column("command_id", Text, nullable=False, unique=True),
    Column("task_id", Text, nullable=False, index=True),
    Column("agent_id", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("recording_id", Text),
    Column("called_at", DateTime(timezone=True), nullable=False),
    Column("note", Text),
)
PaperRow = Table(
    "paper", metadata,
    Column("request_id", Text, primary_key=True),
    Column("customer_id", Text, primary_key=True),
    Column("loan_id", Text, nullable=False),
    Column("branch_id", Text, nullable=False),  # the request's (the loan's home branch), where the paper is filed
    Column("reason", Text, nullable=False),  # PHONE_CONFIRMATION | STAFF_SUBMISSION
    Column("state", Text, nullable=False),
    Column("owed_since", DateTime(timezone=True), nullable=False),
    Column("signing_branch_id", Text),
    Column("courier", Text),
    Column("tracking_number", Text),
    Column("signed_at", DateTime(timezone=True)),
    Column("received_at", DateTime(timezone=True)),
    Column("received_by", Text),
    Column("received_branch_id", Text),
    Index("paper_outstanding", "branch_id", "owed_since", postgresql_where=text("state IN ('OWED', 'IN_TRANSIT')")),
)


def _task(row: Any) -> Task:
    return Task(task_id=row.task_id, request_id=row.request_id, loan_id=row.loan_id, customer_id=row.customer_id,
                due_by=row.due_by, state=TaskState(row.state), attempts=row.attempts, held_by=row.held_by,
                lease_until=row.lease_until, available_at=row.available_at, max_attempts=row.max_attempts)


def _paper(row: Any) -> Paper:
    return Paper(request_id=row.request_id, customer_id=row.customer_id, loan_id=row.loan_id, branch_id=row.branch_id,
                 state=PaperState(row.state), received_at=row.received_at, received_by=row.received_by)


class Store:
    """All of the service's tables behind domain questions; one per transaction."""

    def __init__(self, session: AsyncSession) -> None:
        self._s = session

    async def upsert_newest(self, table: Table, key: str, values: dict[str, Any]) -> None:
        stmt = pg_insert(table).values(values)
        await self._s.execute(stmt.on_conflict_do_update(
            index_elements=[table.c[key]], set_={k: stmt.excluded[k] for k in values if k != key},
            where=table.c.as_of < stmt.excluded.as_of))

    async def branch_of(self, loan_id: str) -> str | None:
        return await self._s.scalar(select(LoanRow.c.branch_id).where(LoanRow.c.loan_id == loan_id))

    async def branches_of(self, request_id: str, loan_id: str) -> tuple[str | None, str | None]:
        """The branch the request carried, and the loan projection's (for requests stored before they carried one)."""
        query = select(RequestRow.c.branch_id).where(RequestRow.c.request_id == request_id)
        return await self._s.scalar(query), await self.branch_of(loan_id)

    async def phone_of(self, customer_id: str) -> str | None:
        return await self._s.scalar(select(ContactRow.c.phone).where(ContactRow.c.customer_id == customer_id))

    async def add_request(self, **values: Any) -> bool:
        stmt = pg_insert(RequestRow).values(**values).on_conflict_do_nothing().returning(RequestRow.c.request_id)
        return (await self._s.execute(stmt)).first() is not None

    async def close_request(self, request_id: str, at: datetime) -> list[Task]:
        """Marks the request ended and closes its unfinished tasks; returns the tasks closed."""
        await self._s.execute(update(RequestRow).where(RequestRow.c.request_id == request_id).values(open=False))
        result = await self._s.execute(
            update(TaskRow).where(TaskRow.c.request_id == request_id, TaskRow.c.state == TaskState.OPEN.value)
            .values(state=TaskState.CLOSED.value, held_by=None, lease_until=None, updated_at=at).returning(TaskRow))
        return [_task(r) for r in result.all()]

    async def add_task(self, task: Task, at: datetime) -> bool:
        stmt = pg_insert(TaskRow).values(
            task_id=task.task_id, request_id=task.request_id, loan_id=task.loan_id, customer_id=task.customer_id,
            due_by=task.due_by, state=task.state.value, attempts=task.attempts, held_by=None, lease_until=None,
            available_at=task.available_at, created_at=at, updated_at=at, max_attempts=task.max_attempts,
        ).on_conflict_do_nothing().returning(TaskRow.c.task_id)
        return (await self._s.execute(stmt)).first() is not None

    async def task(self, task_id: str, *, for_update: bool = False) -> Task | None:
        query = select(TaskRow).where(TaskRow.c.task_id == task_id)
        row = (await self._s.execute(query.with_for_update() if for_update else query)).first()
        return _task(row) if row is not None else None

    async def save_task(self, task: Task, at: datetime) -> None:
        await self._s.execute(update(TaskRow).where(TaskRow.c.task_id == task.task_id).values(
            state=task.state.value, attempts=task.attempts, held_by=task.held_by, lease_until=task.lease_until,
            available_at=task.available_at, updated_at=at))

    async def attempt_seen(self, command_id: str) -> bool:
        return (await self._s.scalar(select(AttemptRow.c.id).where(AttemptRow.c.command_id == command_id))) is not None

    async def add_attempt(self, **values: Any) -> None:
        await self._s.execute(AttemptRow.insert().values(**values))

    async def last_attempt(self, task_id: str) -> CallRecord | None:
        query = select(AttemptRow).where(AttemptRow.c.task_id == task_id).order_by(AttemptRow.c.id.desc()).limit(1)
        row = (await self._s.execute(query)).first()
        return None if row is None else CallRecord(command_id=row.command_id, agent_id=row.agent_id,
                                                   outcome=row.outcome, recording_id=row.recording_id,
                                                   called_at=row.called_at)

    async def take_next(self, agent_id: str, now: datetime, lease_until: datetime, due_from: date) -> Task | None:
        """The open task with the earliest deadline, due on `due_from` or later, that nobody holds, now held by
        `agent_id` (SPEC §4)."""
        free = (
            select(TaskRow.c.task_id)
            .where(TaskRow.c.state == TaskState.OPEN.value, TaskRow.c.available_at <= now,
                   TaskRow.c.due_by >= due_from,
                   (TaskRow.c.lease_until.is_(None)) | (TaskRow.c.lease_until < now))
            .order_by(TaskRow.c.due_by, TaskRow.c.created_at).limit(1)
            .with_for_update(skip_locked=True)  # two agents at the same moment never get the same task
            .scalar_subquery()
        )
        result = await self._s.execute(update(TaskRow).where(TaskRow.c.task_id == free)
                                       .values(held_by=agent_id, lease_until=lease_until, updated_at=now)
                                       .returning(TaskRow))
        row = result.first()
        return _task(row) if row is not None else None

    async def renew(self, task_id: str, agent_id: str, now: datetime, lease_until: datetime) -> bool:
        result = await self._s.execute(
            update(TaskRow).where(TaskRow.c.task_id == task_id, TaskRow.c.held_by == agent_id,
                                  TaskRow.c.state == TaskState.OPEN.value, TaskRow.c.lease_until >= now)
            .values(lease_until=lease_until, updated_at=now).returning(TaskRow.c.task_id))
        return result.first() is not None

    async def queue(self, limit: int, after: tuple[date, datetime, str] | None = None) -> list[tuple[Task, datetime]]:
        """Open tasks by deadline with their creation times, from just after the key `after` (due_by, created_at,
        task_id)."""
        key = (TaskRow.c.due_by, TaskRow.c.created_at, TaskRow.c.task_id)
        query = select(TaskRow).where(TaskRow.c.state == TaskState.OPEN.value)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        return [(_task(r), r.created_at) for r in (await self._s.execute(query.order_by(*key).limit(limit))).all()]

    async def counts(self) -> dict[str, int]:
        rows = (await self._s.execute(select(TaskRow.c.state, func.count()).group_by(TaskRow.c.state))).all()
        return {state: count for state, count in rows}

    async def owe(self, **values: Any) -> None:
        await self._s.execute(pg_insert(PaperRow).values(state=PaperState.OWED.value, **values)
                              .on_conflict_do_nothing())

    async def paper(self, request_id: str, customer_id: str) -> Paper | None:
        query = select(PaperRow).where(PaperRow.c.request_id == request_id, PaperRow.c.customer_id == customer_id)
        row = (await self._s.execute(query.with_for_update())).first()
        return _paper(row) if row is not None else None

    async def update_paper(self, request_id: str, customer_id: str, **values: Any) -> None:
        await self._s.execute(update(PaperRow).where(PaperRow.c.request_id == request_id,
                                                     PaperRow.c.customer_id == customer_id).values(**values))

    async def cancel_paper(self, request_id: str) -> None:
        await self._s.execute(update(PaperRow).where(PaperRow.c.request_id == request_id,
                                                     PaperRow.c.state == PaperState.OWED.value)
                              .values(state=PaperState.CANCELLED.value))

    async def paper_of_request(self, request_id: str) -> Sequence[Any]:
        """Every paper record of a request, whatever its state (the ledger's history of that request)."""
        query = select(PaperRow).where(PaperRow.c.request_id == request_id).order_by(PaperRow.c.customer_id)
        return (await self._s.execute(query)).all()

    async def outstanding_paper(self, branch_id: str | None, *, limit: int,
                                after: tuple[str, datetime, str, str] | None = None) -> Sequence[Any]:
        """Paper owed or in transit by branch and age, from just after the key `after` (branch_id, owed_since,
        request_id, customer_id)."""
        key = (PaperRow.c.branch_id, PaperRow.c.owed_since, PaperRow.c.request_id, PaperRow.c.customer_id)
        query = select(PaperRow).where(PaperRow.c.state.in_([PaperState.OWED.value, PaperState.IN_TRANSIT.value]))
        if branch_id:
            query = query.where(PaperRow.c.branch_id == branch_id)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        return (await self._s.execute(query.order_by(*key).limit(limit))).all()
