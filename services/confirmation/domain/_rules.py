"""The rules (SPEC §2, §4, §5, §7, §9): pure functions of tasks, papers, commands and 'now'."""

from dataclasses import replace
from datetime import date, datetime, time, timedelta

from services.confirmation.domain._models import (
    BANK_TZ,
    FINISHED,
    SETTLING,
    STAFF_CHANNELS,
    UNKNOWN_BRANCH,
    CallRecord,
    CallReport,
    Finished,
    Paper,
    PaperReceipt,
    PaperState,
    RefusalCode,
    RemoteSigning,
    Request,
    Retry,
    Submission,
    Task,
    TaskState,
)
from shared.refusal import Refusal


def bank_day(now: datetime) -> date:
    """The calendar day in the bank's time zone (Asia/Shanghai), whatever zone `now` is written in."""
    return now.astimezone(BANK_TZ).date()


def deadline_instant(due_by: date) -> datetime:
    """A call after the deadline day begins is useless (SPEC §4): the deadline is the start of `due_by`."""
    return datetime.combine(due_by, time.min, tzinfo=BANK_TZ)


def deadline_passed(due_by: date, now: datetime) -> bool:
    """SPEC §2: no co-borrower outcome is accepted once D0 has begun (judged on the service's clock)."""
    return now >= deadline_instant(due_by)


def deadline_near(due_by: date, now: datetime, window: timedelta) -> bool:
    return now >= alert_at(due_by, window)


def alert_at(due_by: date, window: timedelta) -> datetime:
    """SPEC §7: staff hear of a task still open this close to its deadline."""
    return deadline_instant(due_by) - window


def earliest_useful_due_by(now: datetime) -> date:
    """SPEC §4: only a task whose deadline day has not begun is worth handing to an agent."""
    return bank_day(now) + timedelta(days=1)


def attempts_allowed(task: Task, default: int) -> int:
    """SPEC §9: the attempts come from the request being confirmed; `default` only serves tasks created before
    requests carried them."""
    return task.max_attempts if task.max_attempts is not None else default


def supersedes(as_of: datetime, stored_as_of: datetime | None) -> bool:
    """A projection keeps the newest snapshot: an older or equal one changes nothing."""
    return stored_as_of is None or stored_as_of < as_of


def request_of(submission: Submission, now: datetime) -> Request:
    return Request(submission.request_id, submission.loan_id, submission.applicant_customer_id, submission.deadline,
                   open=True, submitted_at=submission.submitted_at or now, branch_id=submission.branch_id,
                   confirmation_attempts=submission.confirmation_attempts)


def task_for(task_id: str, submission: Submission, customer_id: str, now: datetime) -> Task:
    """SPEC §4: one call task per co-borrower, open now, allowing the attempts the request carries (SPEC §9)."""
    return Task(task_id, submission.request_id, submission.loan_id, customer_id, submission.deadline, TaskState.OPEN,
                0, None, None, now, max_attempts=submission.confirmation_attempts, created_at=now)


def record_outcome(task: Task | None, call: CallReport, *, now: datetime, default_attempts: int,
                   retry_pause: timedelta, previous: CallRecord | None = None) -> Finished | Retry | Refusal:
    """SPEC §4: CONFIRMED and DECLINED need the recording; NO_ANSWER / WRONG_NUMBER count attempts, and after the
    attempts the request allows the co-borrower is unreachable. Nothing counts once the deadline day has begun
    (SPEC §2). Only the agent holding the task may record (or anyone, once nobody holds it). `task` is the one
    the call named, if known; `previous` is the outcome that settled it, when it is settled."""
    if (refused := _not_recordable(task, call, now, previous)) is not None:
        return refused
    assert task is not None
    attempts = task.attempts + 1
    if call.outcome in SETTLING:
        return Finished(replace(task, attempts=attempts, held_by=None, lease_until=None, state=TaskState(call.outcome)))
    if attempts >= attempts_allowed(task, default_attempts):
        return Finished(replace(task, attempts=attempts, held_by=None, lease_until=None, state=TaskState.UNREACHABLE))
    return Retry(replace(task, attempts=attempts, held_by=None, lease_until=None, available_at=now + retry_pause))


def _not_recordable(task: Task | None, call: CallReport, now: datetime, previous: CallRecord | None) -> Refusal | None:
    if task is None:
        return Refusal(RefusalCode.UNKNOWN_TASK, "No call task with this id is known.", {"task_id": call.task_id})
    if task.state is TaskState.CLOSED:
        return Refusal(RefusalCode.TASK_CLOSED, "The request ended; this call is no longer needed.",
                       {"task_state": task.state.value, "request_id": task.request_id})
    if task.state in FINISHED:
        return Refusal(RefusalCode.DUPLICATE_OUTCOME, f"This task already has its outcome ({task.state}).",
                       _settled_facts(task, previous))
    if deadline_passed(task.due_by, now):
        deadline = deadline_instant(task.due_by)
        return Refusal(RefusalCode.DEADLINE_PASSED,
                       f"The deadline ({deadline:%Y-%m-%d %H:%M} Asia/Shanghai) has begun: the call no longer counts.",
                       {"due_by": task.due_by.isoformat(), "deadline": deadline.isoformat(),
                        "decided_at": now.isoformat()})
    if not task.leased_to(call.agent_id, now):
        someone_else = task.held_by is not None and task.lease_until is not None and task.lease_until > now
        why = ("Another agent holds this task." if someone_else
               else "Only the agent holding a live lease on the task (POST /tasks/next) may record its outcome.")
        lease = task.lease_until.isoformat() if task.lease_until is not None else ""
        return Refusal(RefusalCode.NOT_TASK_HOLDER, why, {"held_by": task.held_by or "", "lease_until": lease,
                                                          "agent_id": call.agent_id, "decided_at": now.isoformat()})
    if call.outcome in SETTLING and not call.recording_id:
        return Refusal(RefusalCode.RECORDING_REQUIRED,
                       f"A {call.outcome.lower()} call must name the recording of the call.",
                       {"outcome": call.outcome})
    return None


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


def paper_owed(request_id: str, customer_id: str, loan_id: str, branch_id: str, reason: str,
               now: datetime) -> Paper:
    """SPEC §5: a paper signature owed from now, filed under `branch_id`."""
    return Paper(request_id, customer_id, loan_id, branch_id, PaperState.OWED, reason=reason, owed_since=now)


def paper_age_days(owed_since: datetime, now: datetime) -> int:
    """SPEC §4: the outstanding list counts age in the bank's calendar days (Asia/Shanghai), not UTC days."""
    return (bank_day(now) - bank_day(owed_since)).days


def _not_receivable(paper: Paper | None) -> Refusal | None:
    if paper is None or paper.state is PaperState.CANCELLED:
        return Refusal(RefusalCode.NOTHING_OWED, "No paper signature is owed for this request and customer.",
                       {"paper_state": paper.state.value if paper else "NONE"})
    if paper.state is PaperState.RECEIVED:
        facts = {"paper_state": paper.state.value, "branch_id": paper.branch_id}
        if paper.received_at is not None:
            facts["received_at"] = paper.received_at.isoformat()
        if paper.received_by is not None:
            facts["received_by"] = paper.received_by
        return Refusal(RefusalCode.ALREADY_RECEIVED, "This paper signature was already received.", facts)
    return None


def receive_paper(paper: Paper | None, receipt: PaperReceipt) -> Paper | Refusal:
    """SPEC §4: the service centre records when the paper owed arrives, once."""
    if (refused := _not_receivable(paper)) is not None:
        return refused
    assert paper is not None
    return replace(paper, state=PaperState.RECEIVED, received_at=receipt.received_at,
                   received_by=receipt.received_by, received_branch_id=receipt.branch_id)


def send_remote_signing(paper: Paper | None, signing: RemoteSigning) -> Paper | Refusal:
    """SPEC §4: signed at another city's branch, the documents travel by courier to the home branch."""
    if (refused := _not_receivable(paper)) is not None:
        return refused
    assert paper is not None
    return replace(paper, state=PaperState.IN_TRANSIT, courier=signing.courier,
                   tracking_number=signing.tracking_number, signing_branch_id=signing.signing_branch_id,
                   signed_at=signing.signed_at)
