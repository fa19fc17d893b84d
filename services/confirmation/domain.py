"""Rules of co-borrower confirmation and paper documents (SPEC §4, §5). Pure: no I/O, 'now' passed in."""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

BANK_TZ = ZoneInfo("Asia/Shanghai")
STAFF_CHANNELS = frozenset({"HOTLINE", "ACCOUNT_MANAGER"})
UNKNOWN_BRANCH = "UNKNOWN"


class TaskState(StrEnum):
    OPEN = "OPEN"  # waiting in the queue (possibly paused until `available_at`)
    CONFIRMED = "CONFIRMED"
    DECLINED = "DECLINED"
    UNREACHABLE = "UNREACHABLE"
    CLOSED = "CLOSED"  # the request ended before the call was made


FINISHED = frozenset({TaskState.CONFIRMED, TaskState.DECLINED, TaskState.UNREACHABLE, TaskState.CLOSED})


class PaperState(StrEnum):
    OWED = "OWED"
    IN_TRANSIT = "IN_TRANSIT"
    RECEIVED = "RECEIVED"
    CANCELLED = "CANCELLED"


class Refusal(StrEnum):
    UNKNOWN_TASK = "UNKNOWN_TASK"
    TASK_CLOSED = "TASK_CLOSED"
    DUPLICATE_OUTCOME = "DUPLICATE_OUTCOME"
    DEADLINE_PASSED = "DEADLINE_PASSED"
    NOT_TASK_HOLDER = "NOT_TASK_HOLDER"
    RECORDING_REQUIRED = "RECORDING_REQUIRED"
    NOTHING_OWED = "NOTHING_OWED"
    ALREADY_RECEIVED = "ALREADY_RECEIVED"


@dataclass(frozen=True)
class Task:
    task_id: str
    request_id: str
    loan_id: str
    customer_id: str
    due_by: date
    state: TaskState
    attempts: int
    held_by: str | None
    lease_until: datetime | None
    available_at: datetime
    max_attempts: int | None = None  # from the request (SPEC §9); None on tasks from before requests carried it

    def held_by_other(self, agent_id: str, now: datetime) -> bool:
        return self.held_by not in (None, agent_id) and self.lease_until is not None and self.lease_until > now


@dataclass(frozen=True)
class CallRecord:
    """An outcome already recorded on a task (the audit trail of calls)."""

    command_id: str
    agent_id: str
    outcome: str
    recording_id: str | None
    called_at: datetime


@dataclass(frozen=True)
class Paper:
    """One paper signature owed by a customer for a request, and where it stands."""

    request_id: str
    customer_id: str
    loan_id: str
    branch_id: str
    state: PaperState
    received_at: datetime | None = None
    received_by: str | None = None


@dataclass(frozen=True)
class Rejected:
    code: Refusal
    reason: str
    facts: Mapping[str, str] = field(default_factory=dict)  # what the refusal rests on (SPEC §9)


@dataclass(frozen=True)
class Finished:
    """The call settled the task: CONFIRMED, DECLINED or UNREACHABLE."""

    task: Task


@dataclass(frozen=True)
class Retry:
    """No answer (or a wrong number) with attempts left: back in the queue after a pause."""

    task: Task


def bank_day(now: datetime) -> date:
    """The calendar day in the bank's time zone (Asia/Shanghai), whatever zone `now` is written in."""
    return now.astimezone(BANK_TZ).date()


def deadline_instant(due_by: date) -> datetime:
    """A call after the deadline day begins is useless (SPEC §4): the deadline is the start of `due_by`."""
    return datetime.combine(due_by, time.min, tzinfo=BANK_TZ)


def deadline_passed(due_by: date, now: datetime) -> bool:
    """SPEC §2: no co-borrower outcome is accepted once D0 has begun (judged on the service's clock)."""
    return now >= deadline_instant(due_by)


def earliest_useful_due_by(now: datetime) -> date:
    """SPEC §4: only a task whose deadline day has not begun is worth handing to an agent."""
    return bank_day(now) + timedelta(days=1)


def attempts_allowed(task: Task, default: int) -> int:
    """SPEC §9: the attempts come from the request being confirmed; `default` only serves tasks created before
    requests carried them."""
    return task.max_attempts if task.max_attempts is not None else default


def record_outcome(
    task: Task | None, *, task_id: str, agent_id: str, outcome: str, recording_id: str | None, now: datetime,
    default_attempts: int, retry_pause: timedelta, previous: CallRecord | None = None,
) -> Finished | Retry | Rejected:
    """SPEC §4: CONFIRMED and DECLINED need the recording; NO_ANSWER / WRONG_NUMBER count attempts, and after the
    attempts the request allows the co-borrower is unreachable. Nothing counts once the deadline day has begun
    (SPEC §2). Only the agent holding the task may record (or anyone, once nobody holds it). `task` is the one
    the command named as `task_id`, if known; `previous` is the outcome that settled it, when it is settled."""
    if task is None:
        return Rejected(Refusal.UNKNOWN_TASK, "No call task with this id is known.", {"task_id": task_id})
    if task.state is TaskState.CLOSED:
        return Rejected(Refusal.TASK_CLOSED, "The request ended; this call is no longer needed.",
                        {"task_state": task.state.value, "request_id": task.request_id})
    if task.state in FINISHED:
        return Rejected(Refusal.DUPLICATE_OUTCOME, f"This task already has its outcome ({task.state}).",
                        _settled_facts(task, previous))
    if deadline_passed(task.due_by, now):
        deadline = deadline_instant(task.due_by)
        return Rejected(Refusal.DEADLINE_PASSED,
                        f"The deadline ({deadline:%Y-%m-%d %H:%M} Asia/Shanghai) has begun: the call no longer counts.",
                        {"due_by": task.due_by.isoformat(), "deadline": deadline.isoformat(),
                         "decided_at": now.isoformat()})
    if task.held_by_other(agent_id, now):
        assert task.held_by is not None and task.lease_until is not None
        return Rejected(Refusal.NOT_TASK_HOLDER, "Another agent holds this task.",
                        {"held_by": task.held_by, "lease_until": task.lease_until.isoformat(), "agent_id": agent_id})
    if outcome in ("CONFIRMED", "DECLINED") and not recording_id:
        return Rejected(Refusal.RECORDING_REQUIRED, f"A {outcome.lower()} call must name the recording of the call.",
                        {"outcome": outcome})
    attempts = task.attempts + 1
    released = replace(task, attempts=attempts, held_by=None, lease_until=None)
    if outcome in ("CONFIRMED", "DECLINED"):
        return Finished(replace(released, state=TaskState(outcome)))
    if attempts >= attempts_allowed(task, default_attempts):
        return Finished(replace(released, state=TaskState.UNREACHABLE))
    return Retry(replace(released, available_at=now + retry_pause))


def _settled_facts(task: Task, previous: CallRecord | None) -> dict[str, str]:
    facts = {"task_state": task.state.value, "attempts": str(task.attempts)}
    if previous is not None:
        facts |= {"earlier_outcome": previous.outcome, "earlier_command_id": previous.command_id,
                  "earlier_agent_id": previous.agent_id, "earlier_called_at": previous.called_at.isoformat()}
        if previous.recording_id:
            facts["earlier_recording_id"] = previous.recording_id
    return facts


def owes_paper_for_applicant(channel: str, staff_id: str | None) -> bool:
    """SPEC §5: a request staff submitted on the customer's behalf owes paper documents later."""
    return staff_id is not None or channel in STAFF_CHANNELS


def paper_branch(request_branch: str | None, loan_branch: str | None) -> str:
    """SPEC §4: paper is filed under the request's branch (the loan's, as the request carried it); requests stored
    before they carried one fall back to the loan projection."""
    return request_branch or loan_branch or UNKNOWN_BRANCH


def paper_age_days(owed_since: datetime, now: datetime) -> int:
    """SPEC §4: the outstanding list counts age in the bank's calendar days (Asia/Shanghai), not UTC days."""
    return (bank_day(now) - bank_day(owed_since)).days


def _not_receivable(paper: Paper | None) -> Rejected | None:
    if paper is None or paper.state is PaperState.CANCELLED:
        return Rejected(Refusal.NOTHING_OWED, "No paper signature is owed for this request and customer.",
                        {"paper_state": paper.state.value if paper else "NONE"})
    if paper.state is PaperState.RECEIVED:
        facts = {"paper_state": paper.state.value, "branch_id": paper.branch_id}
        if paper.received_at is not None:
            facts["received_at"] = paper.received_at.isoformat()
        if paper.received_by is not None:
            facts["received_by"] = paper.received_by
        return Rejected(Refusal.ALREADY_RECEIVED, "This paper signature was already received.", facts)
    return None


def receive_paper(paper: Paper | None) -> PaperState | Rejected:
    """SPEC §4: the service centre records when the paper owed arrives, once."""
    return _not_receivable(paper) or PaperState.RECEIVED


def send_remote_signing(paper: Paper | None) -> PaperState | Rejected:
    """SPEC §4: signed at another city's branch, the documents travel by courier to the home branch."""
    return _not_receivable(paper) or PaperState.IN_TRANSIT


def deadline_near(due_by: date, now: datetime, window: timedelta) -> bool:
    return now >= deadline_instant(due_by) - window
