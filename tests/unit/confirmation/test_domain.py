"""Rules of co-borrower calls and paper documents (SPEC §4, §5), pure."""

from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from services.confirmation.domain import (
    BANK_TZ,
    Finished,
    PaperState,
    Refusal,
    Rejected,
    Retry,
    Task,
    TaskState,
    deadline_near,
    owes_paper_for_applicant,
    receive_paper,
    record_outcome,
    send_remote_signing,
)

NOW = datetime(2020, 2, 3, 10, tzinfo=BANK_TZ)
TASK = Task("T-1", "R-1", "L-1", "C-2", date(2020, 2, 25), TaskState.OPEN, 0, "A-1", NOW + timedelta(minutes=5), NOW)


def outcome(task: Task | None = TASK, agent: str = "A-1", result: str = "CONFIRMED", recording: str | None = "REC",
            max_attempts: int = 3) -> Finished | Retry | Rejected:
    return record_outcome(task, agent_id=agent, outcome=result, recording_id=recording, now=NOW,
                          max_attempts=max_attempts, retry_pause=timedelta(minutes=30))


@pytest.mark.parametrize("result", ["CONFIRMED", "DECLINED"])
def test_a_confirmed_or_declined_call_settles_the_task_and_needs_its_recording(result: str) -> None:
    settled = outcome(result=result)
    assert isinstance(settled, Finished) and settled.task.state is TaskState(result)
    assert settled.task.held_by is None and settled.task.attempts == 1
    refused = outcome(result=result, recording=None)
    assert isinstance(refused, Rejected) and refused.code is Refusal.RECORDING_REQUIRED


@pytest.mark.parametrize("result", ["NO_ANSWER", "WRONG_NUMBER"])
def test_an_unanswered_call_comes_back_after_a_pause_until_the_attempts_run_out(result: str) -> None:
    first = outcome(result=result, recording=None)
    assert isinstance(first, Retry) and first.task.available_at == NOW + timedelta(minutes=30)
    assert first.task.state is TaskState.OPEN and first.task.held_by is None
    last = outcome(replace(TASK, attempts=2), result=result, recording=None)
    assert isinstance(last, Finished) and last.task.state is TaskState.UNREACHABLE and last.task.attempts == 3


def test_only_the_holder_records_while_the_lease_runs() -> None:
    refused = outcome(agent="A-2")
    assert isinstance(refused, Rejected) and refused.code is Refusal.NOT_TASK_HOLDER
    expired = replace(TASK, lease_until=NOW - timedelta(seconds=1))
    assert isinstance(outcome(expired, agent="A-2"), Finished)


@pytest.mark.parametrize(("task", "code"), [
    (None, Refusal.UNKNOWN_TASK),
    (replace(TASK, state=TaskState.CLOSED), Refusal.TASK_CLOSED),
    (replace(TASK, state=TaskState.CONFIRMED), Refusal.DUPLICATE_OUTCOME),
])
def test_unknown_closed_or_settled_tasks_are_refused(task: Task | None, code: Refusal) -> None:
    refused = outcome(task)
    assert isinstance(refused, Rejected) and refused.code is code and refused.reason


def test_paper_is_owed_after_a_staff_submission() -> None:
    assert owes_paper_for_applicant("HOTLINE", None) and owes_paper_for_applicant("APP", "S-1")
    assert not owes_paper_for_applicant("APP", None)


def test_paper_travels_then_arrives_once() -> None:
    assert send_remote_signing(PaperState.OWED) is PaperState.IN_TRANSIT
    assert receive_paper(PaperState.IN_TRANSIT) is PaperState.RECEIVED
    assert receive_paper(PaperState.OWED) is PaperState.RECEIVED
    for state, code in [(None, Refusal.NOTHING_OWED), (PaperState.CANCELLED, Refusal.NOTHING_OWED),
                        (PaperState.RECEIVED, Refusal.ALREADY_RECEIVED)]:
        for rule in (receive_paper, send_remote_signing):
            refused = rule(state)
            assert isinstance(refused, Rejected) and refused.code is code


def test_a_task_is_near_its_deadline_within_the_window() -> None:
    window = timedelta(hours=24)
    assert not deadline_near(date(2020, 2, 5), datetime(2020, 2, 3, 23, 59, tzinfo=BANK_TZ), window)
    assert deadline_near(date(2020, 2, 5), datetime(2020, 2, 4, 0, 0, tzinfo=BANK_TZ), window)
