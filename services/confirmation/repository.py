"""Storage of the confirmation service (schema `confirmation`): contacts, requests it confirms, call tasks and
their attempts, and the paper-document ledger.

Repositories read and write through the transaction's unit of work (shared.unit_of_work): reads are cached per
key (and preloaded for a whole batch by `prepare`), writes are buffered until the flush. They return domain
objects and never commit: the caller's transaction does.
"""

import json
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

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
    bindparam,
    func,
    select,
    text,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import distinct_on

from services.confirmation.domain import (
    FINISHED,
    CallRecord,
    CallReport,
    Contact,
    Loan,
    Paper,
    PaperState,
    Request,
    Task,
    TaskState,
)
from shared import ids, tracing
from shared.contracts import confirmation as contract
from shared.contracts import loans as loan_contract
from shared.contracts import requests as req
from shared.db import among, messaging_tables
from shared.envelope import CloudEvent
from shared.timers import timer_table
from shared.unit_of_work import UnitOfWork

SCHEMA = "confirmation"
metadata = MetaData(schema=SCHEMA)
inbox, outbox = messaging_tables(metadata)
timers = timer_table(metadata)
ALERT = "deadline-alert"  # the timer kind of a task's deadline alert (SPEC §7)
_TASK_NS = uuid.UUID("8f3c1e0a-6a2d-4f55-9d1b-3c7e2a9b4d10")

ContactRow = Table(
    "contacts", metadata,
    Column("customer_id", Text, primary_key=True),
    Column("phone", Text, nullable=False),  # the number the agent calls; never logged
    Column("as_of", DateTime(timezone=True), nullable=False),
    Column("name", Text),  # whom the agent asks for; never logged (NULL on rows from before 0008)
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
    Column("lease_until", DateTime(timezone=True)),  # set exactly while `held_by` is
    Column("available_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("max_attempts", Integer),  # from the request; NULL on tasks from before 0004 (the setting applies)
    Column("traceparent", Text),  # the request's trace context (W3C), continued by the outcome; NULL before 0009
    UniqueConstraint("request_id", "customer_id", name="one_task_per_co_borrower"),
    Index("tasks_queue", "due_by", "created_at", postgresql_where=text("state = 'OPEN'")),
    # Next-task (0007): the open tasks nobody holds, by deadline; the held ones by lease end (expired ones first).
    Index("tasks_free", "due_by", "created_at", postgresql_where=text("state = 'OPEN' AND lease_until IS NULL")),
    Index("tasks_leased", "lease_until", postgresql_where=text("state = 'OPEN' AND lease_until IS NOT NULL")),
    Index("tasks_held", "held_by", postgresql_where=text("state = 'OPEN' AND lease_until IS NOT NULL")),  # 0008
)
AttemptRow = Table(
    "attempts", metadata,
    Column("id", BigInteger, Identity(always=False), primary_key=True),
    # Unique: an attempt is never counted twice, even by two writers at once (a buffered insert that meets it
    # raises UniqueConflict at the flush, and the message is redone alone, where `AttemptRepository.seen` reads it).
    Column("command_id", Text, nullable=False, unique=True),
    Column("task_id", Text, nullable=False, index=True),
    Column("agent_id", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("recording_id", Text),
    Column("called_at", DateTime(timezone=True), nullable=False),
    Column("note", Text),
    Index("attempts_by_agent", "agent_id", "called_at"),  # an agent's calls of a day (0008)
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


def task_id_for(request_id: str, customer_id: str) -> str:
    """The task of a co-borrower in a request: the same id however often the request is announced."""
    return f"T-{ids.uuid5(_TASK_NS, f'{request_id}|{customer_id}')}"




async def _nothing(_keys: list[Any]) -> dict[Any, Any]:
    """A fetch that finds nothing: `uow.load(space, keys, _nothing)` takes the keys not already known as absent."""
    return {}


def _task(row: Any) -> Task:
    return Task(row.task_id, row.request_id, row.loan_id, row.customer_id, row.due_by, TaskState(row.state),
                row.attempts, row.held_by, row.lease_until, row.available_at, row.max_attempts, row.created_at)


def _call(row: Any) -> CallRecord:
    return CallRecord(row.command_id, row.agent_id, row.outcome, row.recording_id, row.called_at)


def _paper(row: Any) -> Paper:
    return Paper(row.request_id, row.customer_id, row.loan_id, row.branch_id, PaperState(row.state), row.reason,
                 row.owed_since, row.received_at, row.received_by, row.received_branch_id, row.signing_branch_id,
                 row.courier, row.tracking_number, row.signed_at)


def _request(row: Any) -> Request:
    return Request(row.request_id, row.loan_id, row.applicant_customer_id, row.deadline, row.open, row.submitted_at,
                   row.branch_id, row.confirmation_attempts)


# Whom to call on a task: its co-borrower's number and name (one subquery each, to go with a task row).
_CALLEE = tuple(select(ContactRow.c[k]).where(ContactRow.c.customer_id == TaskRow.c.customer_id).scalar_subquery()
                .label(k) for k in ("phone", "name"))


@dataclass(frozen=True)
class Held:
    """A task an agent holds and whom to call on it (personal data: for that agent only, never logged); None
    where no loan snapshot gave a number or a name yet."""

    task: Task
    phone: str | None
    name: str | None


def _held(row: Any) -> Held:
    return Held(_task(row), row.phone, row.name)


def _take_next() -> Any:
    """POST /tasks/next in one statement, built once. Two candidates, each from its own index and locked with SKIP
    LOCKED (two agents at the same moment never get the same task): the first task nobody holds (`tasks_free`,
    which a task leaves when taken) and the first whose lease ended (`tasks_leased`, read from the oldest lease
    end up to now); the earlier of the two is taken. Neither search passes over the tasks held now. Whom to call
    comes back with it."""
    now = bindparam("now", type_=DateTime(timezone=True))

    def first(condition: Any) -> Any:
        return (select(TaskRow.c.task_id, TaskRow.c.due_by, TaskRow.c.created_at)
                .where(TaskRow.c.state == TaskState.OPEN.value, condition,
                       TaskRow.c.due_by >= bindparam("due_from", type_=Date), TaskRow.c.available_at <= now)
                .order_by(TaskRow.c.due_by, TaskRow.c.created_at).limit(1).with_for_update(skip_locked=True))

    free = first(TaskRow.c.lease_until.is_(None)).cte("free")
    lapsed = first(TaskRow.c.lease_until.is_not(None) & (TaskRow.c.lease_until < now)).cte("lapsed")
    both = union_all(select(free), select(lapsed)).subquery("candidates")
    chosen = select(both.c.task_id).order_by(both.c.due_by, both.c.created_at).limit(1).scalar_subquery()
    return (update(TaskRow).where(TaskRow.c.task_id == chosen)
            .values(held_by=bindparam("agent_id", type_=Text),
                    lease_until=bindparam("lease_until", type_=DateTime(timezone=True)), updated_at=now)
            .returning(TaskRow, *_CALLEE))


_TAKE_NEXT = _take_next()


class TaskRepository:
    """Call tasks. Read for update: an outcome decides on the task as no agent can change it meanwhile."""

    SPACE = "task"
    TRACE = "task.trace"  # the trace context kept with each task, read with the task

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def _fetch(self, ids: list[str]) -> dict[str, Task]:
        query = select(TaskRow).where(among(TaskRow.c.task_id, ids)).order_by(TaskRow.c.task_id).with_for_update()
        rows = (await self._uow.execute(query)).all()
        for r in rows:
            self._uow.keep(self.TRACE, r.task_id, r.traceparent)
        return {r.task_id: _task(r) for r in rows}

    async def _fetch_traces(self, ids: list[str]) -> dict[str, str | None]:
        query = select(TaskRow.c.task_id, TaskRow.c.traceparent).where(among(TaskRow.c.task_id, ids))
        return {r.task_id: r.traceparent for r in (await self._uow.execute(query)).all()}

    async def trace_of(self, task_id: str) -> str | None:
        """The trace context of the request that created the task (shared.tracing), or None."""
        return await self._uow.load_one(self.TRACE, task_id, self._fetch_traces)

    async def load(self, task_ids: Iterable[str]) -> dict[str, Task | None]:
        return await self._uow.load(self.SPACE, task_ids, self._fetch)

    async def get(self, task_id: str) -> Task | None:
        return await self._uow.load_one(self.SPACE, task_id, self._fetch)

    async def peek(self, task_id: str) -> Task | None:
        """The task as stored, neither locked nor cached. For a reader that changes nothing: a deadline alert,
        which fires holding its timer row, must not wait on a task a batch holds while that batch waits to delete
        the same timer (the batch would deadlock with it)."""
        row = (await self._uow.execute(select(TaskRow).where(TaskRow.c.task_id == task_id))).first()
        return _task(row) if row is not None else None

    async def assume_new(self, task_ids: Iterable[str]) -> None:
        """Takes these tasks as not stored yet, without a read (see `prepare`)."""
        await self._uow.load(self.SPACE, task_ids, _nothing)

    def add(self, task: Task, traceparent: str | None = None) -> None:
        """A new task; `traceparent` is the trace context its outcome continues (the request's)."""
        assert task.created_at is not None
        self._uow.add(TaskRow, {
            "task_id": task.task_id, "request_id": task.request_id, "loan_id": task.loan_id,
            "customer_id": task.customer_id, "due_by": task.due_by, "state": task.state.value,
            "attempts": task.attempts, "held_by": task.held_by, "lease_until": task.lease_until,
            "available_at": task.available_at, "created_at": task.created_at, "updated_at": task.created_at,
            "max_attempts": task.max_attempts, "traceparent": traceparent})
        self._uow.keep(self.SPACE, task.task_id, task)
        self._uow.keep(self.TRACE, task.task_id, traceparent)

    def save(self, task: Task, at: datetime) -> None:
        self._uow.update(TaskRow, {"task_id": task.task_id}, {
            "state": task.state.value, "attempts": task.attempts, "held_by": task.held_by,
            "lease_until": task.lease_until, "available_at": task.available_at, "updated_at": at})
        self._uow.keep(self.SPACE, task.task_id, task)

    async def close_open_of(self, request_id: str, at: datetime) -> list[Task]:
        """Closes the request's unfinished tasks (SPEC §4); returns them."""
        result = await self._uow.execute(
            update(TaskRow).where(TaskRow.c.request_id == request_id, TaskRow.c.state == TaskState.OPEN.value)
            .values(state=TaskState.CLOSED.value, held_by=None, lease_until=None, updated_at=at).returning(TaskRow))
        closed = [_task(r) for r in result.all()]
        for task in closed:
            self._uow.keep(self.SPACE, task.task_id, task)
        return closed

    # --- dispatch (the HTTP API) -------------------------------------------------------------------------------

    async def take_next(self, agent_id: str, now: datetime, lease_until: datetime, due_from: date) -> Held | None:
        """The open task with the earliest deadline, due on `due_from` or later, that nobody holds (or whose lease
        ran out), now held by `agent_id` (SPEC §4), with whom to call. One statement, atomic by itself: it needs
        no transaction around it."""
        result = await self._uow.execute(_TAKE_NEXT, {"agent_id": agent_id, "now": now, "lease_until": lease_until,
                                                      "due_from": due_from})
        row = result.first()
        return _held(row) if row is not None else None

    async def held_by(self, agent_id: str, now: datetime, task_id: str | None = None) -> list[Held]:
        """The tasks `agent_id` holds a live lease on now (only `task_id`, if given), by deadline, with whom to
        call on each."""
        query = select(TaskRow, *_CALLEE).where(
            TaskRow.c.held_by == agent_id, TaskRow.c.state == TaskState.OPEN.value,
            TaskRow.c.lease_until.is_not(None), TaskRow.c.lease_until > now)
        if task_id is not None:
            query = query.where(TaskRow.c.task_id == task_id)
        query = query.order_by(TaskRow.c.due_by, TaskRow.c.created_at, TaskRow.c.task_id)
        return [_held(r) for r in (await self._uow.execute(query)).all()]

    async def renew(self, task_id: str, agent_id: str, now: datetime, lease_until: datetime) -> bool:
        result = await self._uow.execute(
            update(TaskRow).where(TaskRow.c.task_id == task_id, TaskRow.c.held_by == agent_id,
                                  TaskRow.c.state == TaskState.OPEN.value, TaskRow.c.lease_until >= now)
            .values(lease_until=lease_until, updated_at=now).returning(TaskRow.c.task_id))
        return result.first() is not None

    async def queue(self, limit: int, after: tuple[date, datetime, str] | None = None) -> list[Task]:
        """Open tasks by deadline, from just after the key `after` (due_by, created_at, task_id)."""
        key = (TaskRow.c.due_by, TaskRow.c.created_at, TaskRow.c.task_id)
        query = select(TaskRow).where(TaskRow.c.state == TaskState.OPEN.value)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        return [_task(r) for r in (await self._uow.execute(query.order_by(*key).limit(limit))).all()]

    async def counts(self) -> dict[str, int]:
        query = select(TaskRow.c.state, func.count().label("n")).group_by(TaskRow.c.state)
        return {row.state: row.n for row in (await self._uow.execute(query)).all()}


class AttemptRepository:
    """The calls recorded on tasks, one per RecordCallOutcome command."""

    SEEN, LAST = "attempt_seen", "last_call"

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def _fetch_seen(self, command_ids: list[str]) -> dict[str, bool]:
        query = select(AttemptRow.c.command_id).where(among(AttemptRow.c.command_id, command_ids))
        return dict.fromkeys((await self._uow.execute(query)).scalars(), True)

    async def _fetch_last(self, task_ids: list[str]) -> dict[str, CallRecord]:
        query = (select(AttemptRow).where(among(AttemptRow.c.task_id, task_ids)).ext(distinct_on(AttemptRow.c.task_id))
                 .order_by(AttemptRow.c.task_id, AttemptRow.c.id.desc()))
        return {r.task_id: _call(r) for r in (await self._uow.execute(query)).all()}

    async def assume_new(self, command_ids: Iterable[str]) -> None:
        """Takes these commands as never counted, without a read (see `prepare`): the unique key on `command_id`
        proves it at the flush."""
        await self._uow.load(self.SEEN, command_ids, _nothing)

    async def seen(self, command_id: str) -> bool:
        return bool(await self._uow.load_one(self.SEEN, command_id, self._fetch_seen))

    async def load_last(self, task_ids: Iterable[str]) -> None:
        await self._uow.load(self.LAST, task_ids, self._fetch_last)

    async def last_of(self, task_id: str) -> CallRecord | None:
        return await self._uow.load_one(self.LAST, task_id, self._fetch_last)

    async def of_tasks(self, task_ids: Sequence[str]) -> dict[str, list[CallRecord]]:
        """Every call recorded on these tasks, oldest first (what an agent sees before calling again)."""
        query = select(AttemptRow).where(among(AttemptRow.c.task_id, task_ids)).order_by(AttemptRow.c.id)
        found: dict[str, list[CallRecord]] = {t: [] for t in task_ids}
        for r in (await self._uow.execute(query)).all():
            found[r.task_id].append(_call(r))
        return found

    async def by_agent(self, agent_id: str, start: datetime, end: datetime) -> list[tuple[Task, CallRecord]]:
        """Every call `agent_id` recorded with `start <= called_at < end`, in that order, with its task as it
        stands now (a call is recorded only on a known task)."""
        query = (select(TaskRow, AttemptRow.c.command_id, AttemptRow.c.agent_id, AttemptRow.c.outcome,
                        AttemptRow.c.recording_id, AttemptRow.c.called_at)
                 .join(TaskRow, TaskRow.c.task_id == AttemptRow.c.task_id)
                 .where(AttemptRow.c.agent_id == agent_id, AttemptRow.c.called_at >= start,
                        AttemptRow.c.called_at < end)
                 .order_by(AttemptRow.c.called_at, AttemptRow.c.id))
        return [(_task(r), _call(r)) for r in (await self._uow.execute(query)).all()]

    def add(self, call: CallReport) -> None:
        self._uow.add(AttemptRow, {
            "command_id": call.command_id, "task_id": call.task_id, "agent_id": call.agent_id,
            "outcome": call.outcome, "recording_id": call.recording_id, "called_at": call.called_at,
            "note": call.note})
        self._uow.keep(self.SEEN, call.command_id, True)
        self._uow.keep(self.LAST, call.task_id,
                       CallRecord(call.command_id, call.agent_id, call.outcome, call.recording_id, call.called_at))


class RequestRepository:
    SPACE = "request"

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def _fetch(self, ids: list[str]) -> dict[str, Request]:
        query = select(RequestRow).where(among(RequestRow.c.request_id, ids))
        return {r.request_id: _request(r) for r in (await self._uow.execute(query)).all()}

    async def load(self, request_ids: Iterable[str]) -> dict[str, Request | None]:
        return await self._uow.load(self.SPACE, request_ids, self._fetch)

    async def assume_new(self, request_ids: Iterable[str]) -> None:
        """Takes these requests as not stored yet, without a read (see `prepare`)."""
        await self._uow.load(self.SPACE, request_ids, _nothing)

    async def get(self, request_id: str) -> Request | None:
        return await self._uow.load_one(self.SPACE, request_id, self._fetch)

    def add(self, request: Request) -> None:
        self._uow.add(RequestRow, {name: getattr(request, name) for name in Request.__dataclass_fields__})
        self._uow.keep(self.SPACE, request.request_id, request)

    def save(self, request: Request) -> None:
        self._uow.update(RequestRow, {"request_id": request.request_id}, {"open": request.open})
        self._uow.keep(self.SPACE, request.request_id, request)


P = TypeVar("P")


class _Projection(ABC, Generic[P]):
    """A projection kept from snapshots (the newest wins): one row per key, inserted or replaced."""

    SPACE: str
    TABLE: Table
    KEY: str

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    @abstractmethod
    def _of(self, row: Any) -> P:
        """The domain object a row holds."""

    async def _fetch(self, keys: list[str]) -> dict[str, P]:
        query = select(self.TABLE).where(among(self.TABLE.c[self.KEY], keys))
        return {getattr(r, self.KEY): self._of(r) for r in (await self._uow.execute(query)).all()}

    async def load(self, keys: Iterable[str]) -> None:
        await self._uow.load(self.SPACE, keys, self._fetch)

    async def _get(self, key: str) -> P | None:
        return await self._uow.load_one(self.SPACE, key, self._fetch)

    async def _put(self, key: str, value: P, values: Mapping[str, Any]) -> None:
        if await self._get(key) is None:
            self._uow.add(self.TABLE, {self.KEY: key, **values})
        else:
            self._uow.update(self.TABLE, {self.KEY: key}, values)
        self._uow.keep(self.SPACE, key, value)


class LoanRepository(_Projection[Loan]):
    SPACE, TABLE, KEY = "loan", LoanRow, "loan_id"

    def _of(self, row: Any) -> Loan:
        return Loan(row.loan_id, row.branch_id, row.as_of)

    async def get(self, loan_id: str) -> Loan | None:
        return await self._get(loan_id)

    async def put(self, loan: Loan) -> None:
        await self._put(loan.loan_id, loan, {"branch_id": loan.branch_id, "as_of": loan.as_of})


class ContactRepository(_Projection[Contact]):
    SPACE, TABLE, KEY = "contact", ContactRow, "customer_id"

    def _of(self, row: Any) -> Contact:
        return Contact(row.customer_id, row.phone, row.as_of, row.name)

    async def get(self, customer_id: str) -> Contact | None:
        return await self._get(customer_id)

    async def put(self, contact: Contact) -> None:
        await self._put(contact.customer_id, contact, {"phone": contact.phone, "as_of": contact.as_of,
                                                       "name": contact.name})


class PaperRepository:
    """The paper-document ledger, keyed by (request_id, customer_id). Read for update."""

    SPACE = "paper"
    _MUTABLE = ("state", "signing_branch_id", "courier", "tracking_number", "signed_at", "received_at",
                "received_by", "received_branch_id")

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def _fetch(self, keys: list[tuple[str, str]]) -> dict[tuple[str, str], Paper]:
        query = (select(PaperRow).where(among(PaperRow.c.request_id, [r for r, _ in keys]),
                                        among(PaperRow.c.customer_id, [c for _, c in keys]))
                 .order_by(PaperRow.c.request_id, PaperRow.c.customer_id).with_for_update())
        return {(r.request_id, r.customer_id): _paper(r) for r in (await self._uow.execute(query)).all()}

    async def load(self, keys: Iterable[tuple[str, str]]) -> None:
        await self._uow.load(self.SPACE, keys, self._fetch)

    async def assume_new(self, keys: Iterable[tuple[str, str]]) -> None:
        """Takes these signatures as not in the ledger yet, without a read (see `prepare`)."""
        await self._uow.load(self.SPACE, keys, _nothing)

    async def get(self, request_id: str, customer_id: str) -> Paper | None:
        return await self._uow.load_one(self.SPACE, (request_id, customer_id), self._fetch)

    def owe(self, paper: Paper) -> None:
        self._uow.add(PaperRow, {name: getattr(paper, name) for name in Paper.__dataclass_fields__})
        self._uow.keep(self.SPACE, (paper.request_id, paper.customer_id), paper)

    def save(self, paper: Paper) -> None:
        key = {"request_id": paper.request_id, "customer_id": paper.customer_id}
        self._uow.update(PaperRow, key, {name: getattr(paper, name) for name in self._MUTABLE})
        self._uow.keep(self.SPACE, (paper.request_id, paper.customer_id), paper)

    async def cancel_owed_of(self, request_id: str) -> None:
        result = await self._uow.execute(
            update(PaperRow).where(PaperRow.c.request_id == request_id, PaperRow.c.state == PaperState.OWED.value)
            .values(state=PaperState.CANCELLED.value).returning(PaperRow))
        for paper in map(_paper, result.all()):
            self._uow.keep(self.SPACE, (paper.request_id, paper.customer_id), paper)

    # --- the ledger's reports (the HTTP API) -------------------------------------------------------------------

    async def of_request(self, request_id: str) -> list[Paper]:
        """Every paper record of a request, whatever its state (the ledger's history of that request)."""
        query = select(PaperRow).where(PaperRow.c.request_id == request_id).order_by(PaperRow.c.customer_id)
        return [_paper(r) for r in (await self._uow.execute(query)).all()]

    async def outstanding(self, branch_id: str | None, *, limit: int,
                          after: tuple[str, datetime, str, str] | None = None) -> list[Paper]:
        """Paper owed or in transit by branch and age, from just after the key `after` (branch_id, owed_since,
        request_id, customer_id)."""
        key = (PaperRow.c.branch_id, PaperRow.c.owed_since, PaperRow.c.request_id, PaperRow.c.customer_id)
        query = select(PaperRow).where(PaperRow.c.state.in_([PaperState.OWED.value, PaperState.IN_TRANSIT.value]))
        if branch_id:
            query = query.where(PaperRow.c.branch_id == branch_id)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        return [_paper(r) for r in (await self._uow.execute(query.order_by(*key).limit(limit))).all()]


class AlertRepository:
    """SPEC §7: each open task's deadline alert, a durable timer (shared.timers) keyed by the task."""

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def add(self, task_id: str, at: datetime, correlationid: str | None) -> None:
        """The alert of a task just created (so none exists yet: a plain insert, buffered, not an upsert)."""
        self._uow.add(timers, {"kind": ALERT, "key": task_id, "due_at": at,
                               # COPY takes jsonb as text; the alert continues the request's trace (shared.timers)
                               "payload": json.dumps({"correlationid": correlationid, **tracing.carrier()})})

    def cancel(self, task_id: str) -> None:
        self._uow.delete(timers, {"kind": ALERT, "key": task_id})


_ENDINGS = (req.RequestRejected, req.RequestWithdrawn, req.RequestExpired)  # a request that ended


async def prepare(uow: UnitOfWork, messages: Sequence[tuple[str, CloudEvent[Any]]]) -> None:
    """Preloads, in a few queries, what the batch's handlers read: the tasks its outcomes name (locked), the
    earlier call of those already settled, the requests confirmations file their paper under (and the loans, for
    requests stored before they carried a branch) and those that ended, the paper its paper commands name and
    the rows its snapshots may replace.

    What a handler only checks for absence before inserting it under a unique key is taken as absent without a
    read (`assume_new`): the commands' attempts (a command is counted once: answers are stored since migration
    0003, so only an older one can have an attempt already), the requests and tasks a submission creates, the paper
    a confirmation or a staff submission owes. Should one exist after all, the insert meets its key at the flush
    (`UniqueConflict`) and the consumer redoes the batch message by message, without this preload: there the
    handler reads the row, and decides on it (a counted command is not counted again)."""
    data = [event.data for _, event in messages]
    calls = [d for d in data if isinstance(d, contract.RecordCallOutcome)]
    submitted = [d for d in data if isinstance(d, req.RequestSubmitted)]
    snapshots = [d for d in data if isinstance(d, loan_contract.LoanSnapshot)]
    tasks = await TaskRepository(uow).load(c.task_id for c in calls)
    await AttemptRepository(uow).assume_new(c.command_id for c in calls)
    called = [t for c in calls if (t := tasks.get(c.task_id)) is not None]
    await AttemptRepository(uow).load_last(t.task_id for t in called if t.state in FINISHED)
    confirmed = [t for c in calls if c.outcome is contract.CallOutcome.CONFIRMED
                 and (t := tasks.get(c.task_id)) is not None and t.state is TaskState.OPEN]
    ended = [rid for d in data if isinstance(d, _ENDINGS) and (rid := d.request_id)]
    requests = await RequestRepository(uow).load([t.request_id for t in confirmed] + ended)
    branchless = [t.loan_id for t in confirmed if not ((r := requests.get(t.request_id)) and r.branch_id)]
    await LoanRepository(uow).load(branchless + [s.loan_id for s in snapshots])
    await ContactRepository(uow).load(b.customer_id for s in snapshots for b in s.borrowers)
    await PaperRepository(uow).load((d.request_id, d.customer_id) for d in data
                                    if isinstance(d, contract.RecordPaperSignature | contract.RecordRemoteSigning))
    await PaperRepository(uow).assume_new([(t.request_id, t.customer_id) for t in confirmed]
                                          + [(s.request_id, s.applicant_customer_id) for s in submitted])
    await RequestRepository(uow).assume_new(s.request_id for s in submitted)
    await TaskRepository(uow).assume_new(task_id_for(s.request_id, b.customer_id) for s in submitted
                                         for b in s.co_borrowers)
