"""Rules of co-borrower confirmation and paper documents (SPEC §4, §5). Pure: no I/O, 'now' passed in."""

from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

BANK_TZ = ZoneInfo("Asia/Shanghai")
STAFF_CHANNELS = frozenset({"HOTLINE", "ACCOUNT_MANAGER"})


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

    def held_by_other(self, agent_id: str, now: datetime) -> bool:
        return self.held_by not in (None, agent_id) and self.lease_until is not None and self.lease_until > now


@dataclass(frozen=True)
class Rejected:
    code: Refusal
    reason: str


@dataclass(frozen=True)
class Finished:
    """The call settled the task: CONFIRMED, DECLINED or UNREACHABLE."""

    task: Task


@dataclass(frozen=True)
class Retry:
    """No answer (or a wrong number) with attempts left: back in the queue after a pause."""

    task: Task


def deadline_instant(due_by: date) -> datetime:
    """A call after the deadline day begins is useless (SPEC §4): the deadline is the start of `due_by`."""
    return datetime.combine(due_by, time.min, tzinfo=BANK_TZ)


def record_outcome(
    task: Task | None, *, agent_id: str, outcome: str, recording_id: str | None, now: datetime,
    max_attempts: int, retry_pause: timedelta,
) -> Finished | Retry | Rejected:
    """SPEC §4: CONFIRMED and DECLINED need the recording; NO_ANSWER / WRONG_NUMBER count attempts, and after
    `max_attempts` the co-borrower is unreachable. Only the agent holding the task may record (or anyone,
    once nobody holds it)."""
    if task is None:
        return Rejected(Refusal.UNKNOWN_TASK, "No call task with this id is known.")
    if task.state is TaskState.CLOSED:
        return Rejected(Refusal.TASK_CLOSED, "The request ended; this call is no longer needed.")
    if task.state in FINISHED:
        return Rejected(Refusal.DUPLICATE_OUTCOME, f"This task already has its outcome ({task.state}).")
    if task.held_by_other(agent_id, now):
        return Rejected(Refusal.NOT_TASK_HOLDER, "Another agent holds this task.")
    if outcome in ("CONFIRMED", "DECLINED") and not recording_id:
        return Rejected(Refusal.RECORDING_REQUIRED, f"A {outcome.lower()} call must name the recording of the call.")
    attempts = task.attempts + 1
    released = replace(task, attempts=attempts, held_by=None, lease_until=None)
    if outcome in ("CONFIRMED", "DECLINED"):
        return Finished(replace(released, state=TaskState(outcome)))
    if attempts >= max_attempts:
        return Finished(replace(released, state=TaskState.UNREACHABLE))
    return Retry(replace(released, available_at=now + retry_pause))


def owes_paper_for_applicant(channel: str, staff_id: str | None) -> bool:
    """SPEC §5: a request staff submitted on the customer's behalf owes paper documents later."""
    return staff_id is not None or channel in STAFF_CHANNELS


def receive_paper(state: PaperState | None) -> PaperState | Rejected:
    if state in (None, PaperState.CANCELLED):
        return Rejected(Refusal.NOTHING_OWED, "No paper signature is owed for this request and customer.")
    if state is PaperState.RECEIVED:
        return Rejected(Refusal.ALREADY_RECEIVED, "This paper signature was already received.")
    return PaperState.RECEIVED


def send_remote_signing(state: PaperState | None) -> PaperState | Rejected:
    """SPEC §4: signed at another city's branch, the documents travel by courier to the home branch."""
    if state in (None, PaperState.CANCELLED):
        return Rejected(Refusal.NOTHING_OWED, "No paper signature is owed for this request and customer.")
    if state is PaperState.RECEIVED:
        return Rejected(Refusal.ALREADY_RECEIVED, "This paper signature was already received.")
    return PaperState.IN_TRANSIT


def deadline_near(due_by: date, now: datetime, window: timedelta) -> bool:
    return now >= deadline_instant(due_by) - window
