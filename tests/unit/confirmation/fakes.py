"""In-memory stand-ins of the confirmation repositories (cosmicpython's FakeRepository): the service layer runs
against them with no database, and a test reads what it stored."""

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from services.confirmation.domain import (
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
from services.confirmation.service import ConfirmationService, Repositories
from services.confirmation.settings import Settings
from shared.contracts import Contract
from shared.envelope import new_event
from shared.messaging import MessageContext


class FakeTasks:
    def __init__(self, *tasks: Task) -> None:
        self.rows = {t.task_id: t for t in tasks}
        self.traces: dict[str, str | None] = {}

    async def get(self, task_id: str) -> Task | None:
        return self.rows.get(task_id)

    peek = get

    def add(self, task: Task, traceparent: str | None = None) -> None:
        assert task.task_id not in self.rows, "a task is inserted once"
        self.rows[task.task_id] = task
        self.traces[task.task_id] = traceparent

    async def trace_of(self, task_id: str) -> str | None:
        return self.traces.get(task_id)

    def save(self, task: Task, at: datetime) -> None:
        self.rows[task.task_id] = task

    async def close_open_of(self, request_id: str, at: datetime) -> list[Task]:
        closed = [replace(t, state=TaskState.CLOSED, held_by=None, lease_until=None) for t in self.rows.values()
                  if t.request_id == request_id and t.state is TaskState.OPEN]
        self.rows |= {t.task_id: t for t in closed}
        return closed


class FakeAttempts:
    def __init__(self, *calls: CallReport) -> None:
        self.calls = list(calls)

    async def seen(self, command_id: str) -> bool:
        return any(c.command_id == command_id for c in self.calls)

    async def last_of(self, task_id: str) -> CallRecord | None:
        mine = [c for c in self.calls if c.task_id == task_id]
        return CallRecord(mine[-1].command_id, mine[-1].agent_id, mine[-1].outcome, mine[-1].recording_id,
                          mine[-1].called_at) if mine else None

    def add(self, call: CallReport) -> None:
        self.calls.append(call)


class FakeRows:
    """Requests, loans or contacts by their key."""

    def __init__(self, key: str, *rows: Any) -> None:
        self._key = key
        self.rows = {getattr(r, key): r for r in rows}

    async def get(self, key: str) -> Any:
        return self.rows.get(key)

    def add(self, row: Any) -> None:
        self.rows[getattr(row, self._key)] = row

    save = add

    async def put(self, row: Any) -> None:
        self.add(row)


class FakePaper:
    def __init__(self, *papers: Paper) -> None:
        self.rows = {(p.request_id, p.customer_id): p for p in papers}

    async def get(self, request_id: str, customer_id: str) -> Paper | None:
        return self.rows.get((request_id, customer_id))

    def owe(self, paper: Paper) -> None:
        assert (paper.request_id, paper.customer_id) not in self.rows, "the ledger holds one record per signature"
        self.rows[(paper.request_id, paper.customer_id)] = paper

    def save(self, paper: Paper) -> None:
        self.rows[(paper.request_id, paper.customer_id)] = paper

    async def cancel_owed_of(self, request_id: str) -> None:
        for key, paper in list(self.rows.items()):
            if paper.request_id == request_id and paper.state is PaperState.OWED:
                self.rows[key] = replace(paper, state=PaperState.CANCELLED)


class FakeAlerts:
    def __init__(self) -> None:
        self.due: dict[str, datetime] = {}

    def add(self, task_id: str, at: datetime, correlationid: str | None) -> None:
        assert task_id not in self.due, "a task's alert is added once"
        self.due[task_id] = at

    def cancel(self, task_id: str) -> None:
        self.due.pop(task_id, None)


@dataclass
class World:
    """The repositories in memory, and what the service emitted."""

    tasks: FakeTasks = field(default_factory=FakeTasks)
    attempts: FakeAttempts = field(default_factory=FakeAttempts)
    requests: FakeRows = field(default_factory=lambda: FakeRows("request_id"))
    loans: FakeRows = field(default_factory=lambda: FakeRows("loan_id"))
    contacts: FakeRows = field(default_factory=lambda: FakeRows("customer_id"))
    paper: FakePaper = field(default_factory=FakePaper)
    alerts: FakeAlerts = field(default_factory=FakeAlerts)
    emitted: list[dict[str, Any]] = field(default_factory=list)
    settings: Settings = field(default_factory=lambda: Settings(retry_pause_s=1800, max_attempts=3))
    _contexts: list[MessageContext] = field(default_factory=list)

    def service(self, now: datetime, command: Contract | None = None, subject: str = "L-1") -> ConfirmationService:
        """The service handling `command` (an event needs none: it is never refused) at `now`."""
        event = new_event(command, source="tests", subject=subject, time=now) if command is not None else None
        ctx = MessageContext(None, now, "postloan/confirmation", "corr-1", event.id if event else None,  # type: ignore[arg-type]
                             event, settings=self.settings)
        self._contexts.append(ctx)
        repos = Repositories(self.tasks, self.attempts, self.requests, self.loans,  # type: ignore[arg-type]
                             self.contacts, self.paper, self.alerts)
        return ConfirmationService(ctx, repos)

    def events(self) -> list[dict[str, Any]]:
        """Every event the services emitted so far, decoded: {"type": ..., "data": {...}, "subject": ...}."""
        return [json.loads(record.value) for ctx in self._contexts for record in ctx.emitted]


def a_request(request_id: str = "R-1", **over: Any) -> Request:
    return replace(Request(request_id, "L-1", "C-1", datetime(2020, 2, 25).date(), True,
                           datetime(2020, 2, 3), "SZ-NANSHAN", 3), **over)


def a_loan(**over: Any) -> Loan:
    return replace(Loan("L-1", "SZ-FUTIAN", datetime(2020, 2, 1)), **over)


def a_contact(**over: Any) -> Contact:
    return replace(Contact("C-2", "+86 138 0000 0000", datetime(2020, 2, 1)), **over)
